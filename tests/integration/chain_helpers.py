"""Helpers for chain integration tests: compile the test contract with the project's solc-js
wrapper and deploy it with web3."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = Path(__file__).resolve().parent / "contracts"


def compile_contract(name: str) -> dict[str, Any]:
    """ABI and bytecode of tests/integration/contracts/<name>.sol via tools/solc.js."""
    source = (CONTRACTS / f"{name}.sol").read_text()
    request = {
        "language": "Solidity",
        "sources": {f"{name}.sol": {"content": source}},
        "settings": {
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    result = subprocess.run(
        ["node", str(ROOT / "tools" / "solc.js"), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = json.loads(result.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    assert not errors, errors
    compiled = output["contracts"][f"{name}.sol"][name]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}


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
