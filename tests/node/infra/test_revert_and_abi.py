"""Revert decoding from ABIs, retry policy, and the shipped-ABI export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from node.chain.abi import export_from_build, load_artifact
from node.chain.errors import AbiNotFound, RpcUnreachable
from node.chain.revert import RevertDecoder
from node.chain.rpc import RetryPolicy, is_transport_fault, with_retries

ABI = [
    {
        "type": "error",
        "name": "TooSmall",
        "inputs": [{"name": "given", "type": "uint256"}, {"name": "minimum", "type": "uint256"}],
    },
    {
        "type": "error",
        "name": "BadPair",
        "inputs": [
            {
                "name": "pair",
                "type": "tuple",
                "components": [{"name": "a", "type": "uint64"}, {"name": "b", "type": "bytes32"}],
            }
        ],
    },
]


def _data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_name_and_arguments_are_decoded() -> None:
    decoded = RevertDecoder([ABI]).decode(
        "0x" + _data("TooSmall(uint256,uint256)", ["uint256", "uint256"], [3, 10]).hex()
    )
    assert (decoded.name, decoded.args) == ("TooSmall", {"given": 3, "minimum": 10})


def test_tuple_argument_is_decoded() -> None:
    data = _data("BadPair((uint64,bytes32))", ["(uint64,bytes32)"], [(7, b"\x01" * 32)])
    decoded = RevertDecoder([ABI]).decode(data)
    assert decoded.name == "BadPair" and decoded.args["pair"] == (7, b"\x01" * 32)


def test_builtin_error_and_panic_are_decoded_without_abis() -> None:
    decoder = RevertDecoder()
    assert decoder.decode(_data("Error(string)", ["string"], ["nope"])).args == {"reason": "nope"}
    assert decoder.decode(_data("Panic(uint256)", ["uint256"], [0x12])).args == {"code": 0x12}


def test_unknown_selector_and_empty_data_are_reported_not_raised() -> None:
    assert RevertDecoder().decode("0xdeadbeef").name == "<unknown error 0xdeadbeef>"
    assert RevertDecoder().decode(None).name == "<no revert data>"


def test_connection_faults_are_retried_then_succeed() -> None:
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise requests.exceptions.ConnectionError("refused")
        return 42

    assert with_retries("probe", flaky, RetryPolicy(attempts=3, base_delay=0.01)) == 42
    assert len(calls) == 3


def _http_error(status: int) -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.exceptions.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_busy_or_failed_gateways_are_retried(status: int) -> None:
    calls = []

    def busy() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise _http_error(status)
        return 7

    assert with_retries("probe", busy, RetryPolicy(attempts=2, base_delay=0.01)) == 7
    assert len(calls) == 2


def test_a_client_error_or_a_cut_answer_is_told_apart() -> None:
    assert not is_transport_fault(_http_error(400))
    assert not is_transport_fault(ValueError("a node's answer"))
    assert is_transport_fault(requests.exceptions.ChunkedEncodingError("IncompleteRead"))
    calls = []

    def bad_request() -> int:
        calls.append(1)
        raise _http_error(400)

    with pytest.raises(requests.exceptions.HTTPError):
        with_retries("probe", bad_request, RetryPolicy(attempts=3, base_delay=0.01))
    assert len(calls) == 1  # not retried: asking again gets the same answer


def test_persistent_connection_faults_become_rpc_unreachable() -> None:
    def down() -> int:
        raise requests.exceptions.ConnectionError("refused")

    with pytest.raises(RpcUnreachable, match="after 2 attempts"):
        with_retries("probe", down, RetryPolicy(attempts=2, base_delay=0.01), "http://x")


def test_export_copies_abi_and_bytecode_from_the_ape_build(tmp_path: Path) -> None:
    build = tmp_path / ".build"
    build.mkdir()
    manifest = {
        "contractTypes": {
            "JobMarket": {"abi": ABI, "deploymentBytecode": {"bytecode": "0x6001"}},
            "Probe": {"abi": [], "deploymentBytecode": {"bytecode": "0x00"}},
        }
    }
    (build / "__local__.json").write_text(json.dumps(manifest))
    out = tmp_path / "abi"
    assert export_from_build(build, out) == ["JobMarket"]
    artifact = load_artifact("JobMarket", out)
    assert artifact.abi == ABI and artifact.bytecode == "0x6001"
    with pytest.raises(AbiNotFound):
        load_artifact("Probe", out)
