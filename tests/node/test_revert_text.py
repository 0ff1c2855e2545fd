"""Every contract revert reads as a sentence (issue 17 item 3): one per custom error of the
shipped ABIs, ParamOutOfRange naming the `poc job post` option, states by name, chain times as
UTC dates with their distance from the chain's now."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain import revert_text
from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, load_abi
from node.chain.contracts.errors import PARAM, ContractError
from node.chain.errors import TransactionFailed, TransactionReverted
from node.chain.revert import RevertDecoder

ABIS = {name: load_abi(name, ABI_DIR) for name in PROTOCOL_CONTRACTS}
ABI_ERRORS = {e["name"]: e for abi in ABIS.values() for e in abi if e.get("type") == "error"}
NOW = 1_700_000_000
ADDR = "0x" + "ab" * 20


def _sample(kind: str, name: str) -> Any:
    if kind == "address":
        return ADDR
    if kind == "bytes32":
        return bytes(range(32))
    if name in ("nowTs",):
        return NOW
    return 1


def _args(entry: dict[str, Any]) -> dict[str, Any]:
    return {i["name"]: _sample(i["type"], i["name"]) for i in entry["inputs"]}


def test_the_abis_hold_the_new_errors_of_payouts_v2() -> None:
    new = {
        "JobCoolingDown",
        "OutputAlreadyDemanded",
        "OutputAlreadyPublished",
        "OutputNotDemanded",
        "OutputPending",
        "BadOutputData",
        "BadOutput",
    }
    assert new <= set(ABI_ERRORS)


@pytest.mark.parametrize("name", sorted(ABI_ERRORS))
def test_every_error_of_the_abis_has_a_sentence(name: str) -> None:
    said = revert_text.sentence(name, _args(ABI_ERRORS[name]), "post", NOW)
    assert said, f"{name} has no sentence in node/chain/revert_text.py"
    assert name not in said and "{" not in said and "None" not in said


def test_every_contract_error_of_the_node_has_a_sentence() -> None:
    assert {str(e) for e in ContractError} <= set(revert_text._SENTENCES)


def test_post_options_named_by_param_are_options_of_job_post() -> None:
    from node.cli.job_cmds import post_cmd

    options = {opt for p in post_cmd.params for opt in p.opts}
    assert set(revert_text.POST_OPTION.values()) <= options
    # every code names an option or the program: nothing is left as a number
    assert set(revert_text.POST_OPTION) | set(revert_text._PROGRAM_PARAM) == set(PARAM)


@pytest.mark.parametrize(
    ("param", "value", "lo", "hi", "expected"),
    [
        (1, 30, 60, 1209600, "`--window` 30 s is below the market's minimum of 1 min"),
        (2, 5, 60, 604800, "`--clock` 5 s is below the market's minimum of 1 min"),
        (3, 10**6, 60, 604800, "`--execute-within` 11 d 13 h is above the market's maximum of 7 d"),
        (6, 10**15, 16 * 10**14, 2**128 - 1, "`--bond` 0.0010 ETH is below the market's minimum"),
        (9, 0, 1, 2**128 - 1, "`--stake` 0.0000 ETH is below the market's minimum"),
        (8, 0, 1, 65535, "the program's op count 0 is below the market's minimum of 1"),
    ],
)
def test_param_out_of_range_names_the_option_and_its_unit(
    param: int, value: int, lo: int, hi: int, expected: str
) -> None:
    args = {"param": param, "value": value, "min": lo, "max": hi}
    said = revert_text.sentence("ParamOutOfRange", args, "post")
    assert said is not None and said.startswith(expected), said


def test_a_claim_deadline_in_the_past_is_a_date_and_how_long_ago() -> None:
    args = {"param": 7, "value": NOW - 180, "min": NOW, "max": 2**64 - 1}
    said = revert_text.sentence("ParamOutOfRange", args, "post")
    assert said is not None
    assert "`--claim-within`" in said and "2023-11-14 22:10:20 UTC (3 min ago)" in said
    assert str(NOW) not in said


def test_outside_post_the_parameter_is_named_not_an_option() -> None:
    said = revert_text.sentence("ParamOutOfRange", {"param": 2, "value": 0, "min": 1, "max": 9})
    assert said is not None and said.startswith("the clock ") and "--" not in said


def test_states_are_named() -> None:
    job = revert_text.sentence("WrongJobState", {"jobId": 6, "have": 2, "want": 1}, "cancel")
    assert job is not None and job.startswith("job 6 is claimed, but cancel needs it open")
    claim = revert_text.sentence("WrongClaimState", {"claimId": 3, "have": 5, "want": 2})
    assert claim == "claim 3 is expired, but this needs it submitted"
    phase = revert_text.sentence("WrongPhase", {"gameId": 1, "have": 3, "want": 2})
    assert phase is not None and "op open" in phase and "exec pick" in phase
    over = revert_text.sentence("GameOver", {"gameId": 4, "status": 3})
    assert over == "game 4 is over: challenger won"


def test_times_are_dates_with_their_distance_from_now() -> None:
    cooling = {"jobId": 2, "reopensAt": NOW + 300, "nowTs": NOW}
    said = revert_text.sentence("JobCoolingDown", cooling, "claim")
    assert said is not None and said.endswith("2023-11-14 22:18:20 UTC (in 5 min)")
    late = {"claimId": 1, "deadline": NOW - 180, "nowTs": NOW}
    said = revert_text.sentence("ExecutionDeadlinePassed", late)
    assert said is not None and said.endswith("(3 min ago)")
    # no now in the error and none given: the date alone
    said = revert_text.sentence("OutputAlreadyDemanded", {"claimId": 1, "due": NOW})
    assert said is not None and said.endswith("2023-11-14 22:13:20 UTC")


def test_unstaking_more_than_the_free_stake_says_so_and_exits_15() -> None:
    args = {"provider": ADDR, "free": 10**18, "needed": 3 * 10**18}
    exc = TransactionReverted("requestUnbond", "InsufficientStake", args, b"")
    assert "cannot unstake 3.0000 ETH" in str(exc) and "only 1.0000 ETH of free stake" in str(exc)
    assert exc.exit_code == 15
    mined = TransactionFailed("requestUnbond", "InsufficientStake", args, b"", "0x12")
    assert mined.exit_code == 15 and "reverted in mined tx 0x12" in str(mined)


def test_exit_codes_of_reverts() -> None:
    assert TransactionReverted("cancel", "JobNotFound", {"jobId": 9}, b"").exit_code == 16
    assert TransactionReverted("cancel", "NotPoster", {}, b"").exit_code == 9
    assert TransactionReverted.exit_code == 9


def test_the_message_is_the_sentence_then_the_decoded_error() -> None:
    exc = TransactionReverted(
        "post", "ParamOutOfRange", {"param": 1, "value": 30, "min": 60, "max": 1209600}, b""
    )
    assert str(exc) == (
        "post refused (dry run, nothing sent): `--window` 30 s is below the market's minimum "
        "of 1 min [ParamOutOfRange(param=1 (challengeWindow), value=30, min=60, max=1209600)]"
    )
    assert exc.sentence == "`--window` 30 s is below the market's minimum of 1 min"


def test_an_error_without_sentence_keeps_its_raw_form() -> None:
    exc = TransactionReverted("finalize", "<reason unavailable>", {"gasUsed": 21000}, b"")
    assert (
        str(exc) == "finalize refused (dry run, nothing sent): <reason unavailable>(gasUsed=21000)"
    )
    assert exc.sentence == "<reason unavailable>(gasUsed=21000)"
    # a known error whose arguments did not decode: no sentence, no crash
    assert revert_text.sentence("WrongJobState", {}) is None


def test_panic_and_reason_strings() -> None:
    assert revert_text.sentence("Panic", {"code": 0x11}) == (
        "the contract panicked: an arithmetic overflow or underflow (code 0x11)"
    )
    assert revert_text.sentence("Error", {"reason": "nope"}) == "the contract says: nope"


_VALUES = {
    "address": st.just(ADDR),
    "bytes32": st.binary(min_size=32, max_size=32),
    "uint8": st.integers(0, 255),
    "uint256": st.integers(0, 2**256 - 1),
}


@st.composite
def _decoded(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(ABI_ERRORS)))
    entry = ABI_ERRORS[name]
    return name, {i["name"]: draw(_VALUES[i["type"]]) for i in entry["inputs"]}


@settings(max_examples=300, deadline=None)
@given(_decoded(), st.sampled_from(["post", "cancel", "claim", "requestUnbond", ""]))
def test_any_decoded_revert_reads_as_one_line(
    decoded: tuple[str, dict[str, Any]], action: str
) -> None:
    """Whatever values a revert carries, its message is one line: a sentence, then the raw
    error (a value no sentence can word, such as an unknown state code, is still a line)."""
    name, args = decoded
    said = revert_text.sentence(name, args, action)
    assert said is not None and "\n" not in said and not re.search(r"\{\w*\}", said)
    exc = TransactionReverted(action, name, args, b"")
    assert str(exc).endswith("]") and said in str(exc)


def test_the_decoder_and_the_sentence_agree_on_argument_names() -> None:
    """The sentences read the arguments by their ABI names: decode real revert data."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector

    decoder = RevertDecoder(ABIS.values())
    data = function_signature_to_4byte_selector("WrongJobState(uint256,uint8,uint8)") + encode(
        ["uint256", "uint8", "uint8"], [6, 2, 1]
    )
    decoded = decoder.decode(data)
    said = revert_text.sentence(decoded.name, decoded.args, "cancel")
    assert said is not None and said.startswith("job 6 is claimed, but cancel needs it open")
