"""The Python side of the protocol's interface matches the contracts: enums in the Solidity
member order, dataclasses and game actions with the ABI's struct fields and argument counts,
error names and numeric codes as the Solidity sources define them, and a strict encoder that
refuses a struct with a missing or an unknown field."""

from __future__ import annotations

import dataclasses
import re
import typing
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, load_abi
from node.chain.contracts import errors
from node.chain.contracts._binding import abi_entry, camel, encode_args
from node.chain.contracts.dispute_game import GAME_EVENTS
from node.chain.contracts.job_market import (
    GAME_LOCK_BASE,
    LEAF_INT8,
    LEAF_INT32,
    MARKET_EVENTS,
    Claim,
    ClaimState,
    Job,
    JobParams,
    JobState,
    RejectCause,
)
from node.chain.contracts.stake_manager import Unbonding
from node.chain.errors import AbiMismatch, TransactionReverted
from node.chain.revert import RevertDecoder
from node.game import actions
from node.game.rules import GameStatus, Phase

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = ROOT / "contracts"
ABIS = {name: load_abi(name, ABI_DIR) for name in PROTOCOL_CONTRACTS}


def _sol(path: str) -> str:
    return (CONTRACTS / path).read_text()


def _solidity_enums() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((CONTRACTS / "lib").glob("*.sol")):
        for name, body in re.findall(r"\benum\s+(\w+)\s*\{([^}]*)\}", path.read_text()):
            found[name] = [m.strip() for m in body.split(",") if m.strip()]
    return found


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()


def _constants(source: str, prefix: str) -> dict[str, int]:
    pattern = rf"uint8\s+internal\s+constant\s+({prefix}\w+)\s*=\s*(\d+)\s*;"
    return {name: int(value) for name, value in re.findall(pattern, source)}


def _fn(contract: str, name: str) -> dict[str, Any]:
    return dict(abi_entry(ABIS[contract], "function", name, contract))


def _components_of(entry: dict[str, Any], where: str = "outputs") -> list[str]:
    (param,) = entry[where] if where == "outputs" else entry[where][:1]
    return [c["name"] for c in param["components"]]


# ---- enums ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solidity", "python"),
    [("JobState", JobState), ("ClaimState", ClaimState), ("Phase", Phase), ("Status", GameStatus)],
)
def test_enums_follow_the_solidity_member_order(solidity: str, python: type[IntEnum]) -> None:
    members = _solidity_enums()[solidity]
    assert [(m.name, m.value) for m in python] == [
        (_upper_snake(m), i) for i, m in enumerate(members)
    ]


def test_reject_causes_and_market_constants_are_the_solidity_ones() -> None:
    source = _sol("JobMarket.sol")
    pattern = r"uint8\s+public\s+constant\s+CAUSE_(\w+)\s*=\s*(\d+)\s*;"
    causes = {name: int(value) for name, value in re.findall(pattern, source)}
    assert causes and causes == {c.name: c.value for c in RejectCause}
    for name, value in [
        ("GAME_LOCK_BASE", GAME_LOCK_BASE),
        ("LEAF_INT8", LEAF_INT8),
        ("LEAF_INT32", LEAF_INT32),
    ]:
        (expr,) = re.findall(rf"uint256\s+public\s+constant\s+{name}\s*=\s*([\d\s*]+);", source)
        base, _, exponent = expr.partition("**")
        assert int(base) ** int(exponent or 1) == value, name


# ---- structs --------------------------------------------------------------------------------


def _solidity_fields(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    return [camel(f.name) for f in dataclasses.fields(cls) if f.name not in skip]


def test_job_params_fields_are_the_abi_struct() -> None:
    post = _fn("JobMarket", "post")
    assert _solidity_fields(JobParams) == [c["name"] for c in post["inputs"][0]["components"]]
    params = JobParams(b"\x01" * 32, b"\x02" * 32, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert list(params.as_struct()) == _solidity_fields(JobParams)
    assert params.as_tuple() == tuple(params.as_struct().values())


def test_job_and_claim_fields_are_the_abi_structs() -> None:
    assert _solidity_fields(Job, ("job_id",)) == _components_of(_fn("JobMarket", "getJob"))
    assert _solidity_fields(Claim, ("claim_id",)) == _components_of(_fn("JobMarket", "getClaim"))


def test_unbonding_fields_are_the_getter_outputs() -> None:
    outputs = _fn("StakeManager", "unbonding")["outputs"]
    assert _solidity_fields(Unbonding) == [o["name"] for o in outputs]


@pytest.mark.parametrize("record", [*MARKET_EVENTS, *GAME_EVENTS], ids=lambda r: r.EVENT)
def test_event_records_have_the_event_arguments(record: Any) -> None:
    contract = "JobMarket" if record in MARKET_EVENTS else "DisputeGame"
    event = abi_entry(ABIS[contract], "event", record.EVENT, contract)
    assert _solidity_fields(record, ("block_number",)) == [i["name"] for i in event["inputs"]]


# ---- game actions ---------------------------------------------------------------------------


def _sample(hint: Any) -> Any:
    """A value of the annotated type, for building an action of every kind."""
    if typing.get_origin(hint) is tuple:
        return (_sample(typing.get_args(hint)[0]),)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(hint)})
    return {bytes: b"\x00" * 32, int: 1}[hint]


@pytest.mark.parametrize(
    ("action_type", "fn"), list(actions.FUNCTION.items()), ids=lambda x: getattr(x, "__name__", x)
)
def test_every_game_action_matches_its_abi_function(action_type: type, fn: str) -> None:
    entry = _fn("DisputeGame", fn)
    inputs = entry["inputs"][1:]  # after the game id
    args = actions.call_args(_sample(action_type))
    assert len(args) == len(inputs), f"{fn}: {len(args)} arguments, ABI {len(inputs)}"
    for param, arg in zip(inputs, args, strict=True):
        if param["type"] == "tuple":
            assert isinstance(arg, dict)
            assert list(arg) == [c["name"] for c in param["components"]], (
                f"{fn}.{param['name']}: fields {list(arg)}, ABI {param['components']}"
            )
    encode_args(entry, [7, *args])  # and the strict encoder takes them


# ---- strict encoding ------------------------------------------------------------------------


def _opening(**change: object) -> dict[str, object]:
    struct: dict[str, object] = {
        "op": b"\x01" * 64,
        "opProof": [b"\x02" * 32],
        "outRoot": b"\x03" * 32,
        "outProof": [b"\x04" * 32],
        "opsRoot": b"\x05" * 32,
        "inputSpecRoot": b"\x06" * 32,
    }
    struct.update(change)
    return {k: v for k, v in struct.items() if v is not None}


def test_strict_encoder_orders_fields_by_the_abi() -> None:
    entry = _fn("DisputeGame", "openOp")
    shuffled = dict(reversed(list(_opening().items())))
    assert encode_args(entry, [3, shuffled]) == [3, tuple(_opening().values())]


def test_strict_encoder_refuses_a_missing_field() -> None:
    with pytest.raises(AbiMismatch, match=r"missing \['outProof'\]"):
        encode_args(_fn("DisputeGame", "openOp"), [3, _opening(outProof=None)])


def test_strict_encoder_refuses_an_unknown_field() -> None:
    with pytest.raises(AbiMismatch, match=r"unknown \['aRoot'\]"):
        encode_args(_fn("DisputeGame", "openOp"), [3, _opening(aRoot=b"\x05" * 32)])


def test_strict_encoder_refuses_a_wrong_argument_count() -> None:
    with pytest.raises(AbiMismatch, match="takes 2 arguments"):
        encode_args(_fn("DisputeGame", "openOp"), [_opening()])


def test_a_missing_abi_entry_is_named() -> None:
    with pytest.raises(AbiMismatch, match="DisputeGame ABI has no function revealEverything"):
        abi_entry(ABIS["DisputeGame"], "function", "revealEverything", "DisputeGame")


# ---- errors ---------------------------------------------------------------------------------


def test_error_names_are_those_of_the_abis_and_errors_sol() -> None:
    in_abis = {e["name"] for abi in ABIS.values() for e in abi if e["type"] == "error"}
    in_source = set(re.findall(r"^error (\w+)\(", _sol("lib/Errors.sol"), re.M))
    assert {str(e) for e in errors.ContractError} == in_abis == in_source
    assert all(e.name == _upper_snake(e.value) for e in errors.ContractError)
    assert errors.STALE_MOVE <= in_abis


@pytest.mark.parametrize(
    ("table", "constants"),
    [
        (errors.PARAM, _constants(_sol("JobMarket.sol"), "P_")),
        (
            errors.PROOF,
            {
                **_constants(_sol("TensorStep.sol"), "OPERAND_"),
                **_constants(_sol("DisputeGame.sol"), "PROOF_"),
            },
        ),
        (errors.OPERAND, _constants(_sol("TensorStep.sol"), "OPERAND_")),
        (errors.OP_FIELD, _constants(_sol("lib/OpCodec.sol"), "F_")),
        (errors.SPEC_FIELD, _constants(_sol("lib/OpCodec.sol"), "S_")),
    ],
    ids=[
        "ParamOutOfRange.param",
        "BadProof.which",
        "OperandLength.which",
        "BadOpField.field",
        "BadInputSpec.field",
    ],
)
def test_code_tables_cover_the_solidity_constants(
    table: dict[int, str], constants: dict[str, int]
) -> None:
    assert constants, "no constants parsed"
    assert sorted(table) == sorted(set(constants.values()))


def test_coded_arguments_exist_in_the_abis() -> None:
    for error, arg in errors.CODES:
        entries = [e for abi in ABIS.values() for e in abi if e.get("name") == error]
        assert entries and all(arg in [i["name"] for i in e["inputs"]] for e in entries)


def test_decoded_revert_names_the_code() -> None:
    data = function_signature_to_4byte_selector(
        "ParamOutOfRange(uint8,uint256,uint256,uint256)"
    ) + encode(["uint8", "uint256", "uint256", "uint256"], [1, 30, 60, 1209600])
    decoded = RevertDecoder(ABIS.values()).decode(data)
    assert decoded.labels == {"param": "challengeWindow"}
    assert (
        decoded.message
        == "ParamOutOfRange(param=1 (challengeWindow), value=30, min=60, max=1209600)"
    )
    exc = TransactionReverted("post", decoded.name, decoded.args, decoded.data)
    assert "param=1 (challengeWindow)" in str(exc)


def test_unknown_code_and_uncoded_errors_stay_plain() -> None:
    assert errors.code_labels("BadProof", {"which": 99}) == {"which": "unknown"}
    assert errors.code_labels("WrongPhase", {"gameId": 1, "have": 2, "want": 3}) == {}
