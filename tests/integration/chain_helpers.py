"""Helpers for chain tests: compile the test contracts with the project's solc-js wrapper and
deploy them with web3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.devnet.solcjs import compile_file

CONTRACTS = Path(__file__).resolve().parent / "contracts"


def compile_contract(name: str) -> dict[str, Any]:
    """ABI and bytecode of tests/integration/contracts/<name>.sol via tools/solc.js."""
    return compile_file(CONTRACTS / f"{name}.sol", name)


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def deploy(w3: Web3, account: LocalAccount, artifact: dict[str, Any]) -> Contract:
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        }
    )
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact["abi"])
