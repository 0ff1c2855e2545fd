"""The sender on an in-process eth-tester chain (what ape's embedded `test` provider runs):
reverts arrive there as eth-tester exceptions, not as ContractLogicError, and must still be
decoded into the custom error's name and arguments."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import EthereumTesterProvider, Web3

from node.chain.errors import TransactionReverted
from node.chain.revert import RevertDecoder
from node.chain.sender import TxRequest, TxSender
from node.devnet.solcjs import compile_file

EMITTER = Path(__file__).resolve().parents[2] / "integration" / "contracts" / "Emitter.sol"


@pytest.fixture(scope="module")
def emitter_on_tester() -> tuple[TxSender, Any]:
    if shutil.which("node") is None:
        pytest.skip("Node.js is needed to compile the test contract")
    artifact = compile_file(EMITTER, "Emitter")
    w3 = Web3(EthereumTesterProvider())
    account = Account.create()
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**20})
    sender = TxSender(w3, account, RevertDecoder([artifact["abi"]]))
    address = sender.deploy(artifact["abi"], artifact["bytecode"], [], name="Emitter")
    return sender, w3.eth.contract(address=address, abi=artifact["abi"])


@pytest.mark.parametrize(
    ("call", "name", "args"),
    [
        (lambda c: c.functions.ping(1, b"\x00" * 32, ""), "TooSmall", {"given": 1, "minimum": 10}),
        (lambda c: c.functions.pair(7, b"\x03" * 32), "BadPair", {"pair": (7, b"\x03" * 32)}),
        (lambda c: c.functions.fail("boom"), "Error", {"reason": "boom"}),
        (lambda c: c.functions.divide(1, 0), "Panic", {"code": 0x12}),
    ],
)
def test_reverts_are_decoded_on_eth_tester(
    emitter_on_tester: tuple[TxSender, Any], call: Any, name: str, args: dict[str, Any]
) -> None:
    sender, emitter = emitter_on_tester
    with pytest.raises(TransactionReverted) as info:
        sender.send(TxRequest.call(call(emitter)))
    assert (info.value.error_name, info.value.error_args) == (name, args)


def test_good_calls_are_mined_on_eth_tester(emitter_on_tester: tuple[TxSender, Any]) -> None:
    sender, emitter = emitter_on_tester
    assert sender.transact(emitter.functions.ping(10, b"\x00" * 32, "ok"))["status"] == 1
