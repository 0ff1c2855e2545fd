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


def compile_protocol(abi_dir: Path) -> list[str]:
    """Compile contracts/ (not contracts/test/) with solc-js, as ape-config.yaml does, and
    write the artifacts in the shipped node/abi format to `abi_dir`. Returns the names."""
    sources = {
        str(p.relative_to(ROOT)): {"content": p.read_text()}
        for p in sorted((ROOT / "contracts").rglob("*.sol"))
        if "test" not in p.relative_to(ROOT).parts
    }
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": "cancun",
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    result = subprocess.run(
        ["node", str(ROOT / "tools" / "solc.js"), "--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    abi_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for contracts in output["contracts"].values():
        for name, compiled in contracts.items():
            bytecode = "0x" + compiled["evm"]["bytecode"]["object"]
            artifact = {"contractName": name, "abi": compiled["abi"], "bytecode": bytecode}
            (abi_dir / f"{name}.json").write_text(json.dumps(artifact))
            names.append(name)
    return names
