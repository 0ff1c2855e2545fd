"""Compile the protocol contracts with the repository's solc-js wrapper (tools/solc.js),
without ape: for `poc devnet export-abi --solcjs` and for test fixtures. The settings mirror
ape-config.yaml (cancun, optimizer 200 runs, no via-IR); ape remains the reference build."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from node.chain.abi import PROTOCOL_CONTRACTS
from node.devnet.errors import DevnetError, ToolNotFound
from node.devnet.tools import node_modules_dir


def repo_root() -> Path:
    return node_modules_dir().parent


def _solc_wrapper(root: Path) -> Path:
    wrapper = root / "tools" / "solc.js"
    if not wrapper.exists():
        raise ToolNotFound(f"solc-js wrapper not found at {wrapper}")
    return wrapper


def compile_standard_json(request: dict[str, Any], base_path: Path) -> dict[str, Any]:
    """Run a solc standard-JSON request; DevnetError with the messages on compile errors."""
    node_bin = shutil.which("node")
    if node_bin is None:
        raise ToolNotFound("`node` (Node.js) is not on PATH; solc-js needs it")
    result = subprocess.run(
        [node_bin, str(_solc_wrapper(base_path)), "--standard-json", "--base-path", str(base_path)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=base_path,
    )
    if result.returncode != 0:
        raise DevnetError(f"solc-js failed: {result.stderr.strip()[-2000:]}")
    output: dict[str, Any] = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise DevnetError("compile errors:\n" + "\n".join(errors))
    return output


def compile_protocol(
    abi_dir: Path, root: Path | None = None, names: Iterable[str] | None = PROTOCOL_CONTRACTS
) -> list[str]:
    """Compile contracts/ (contracts/test/ excluded) and write the named contracts (all with
    bytecode when `names` is None) to `abi_dir` in the shipped node/abi format. Returns the
    names written."""
    root = root or repo_root()
    sources = {
        str(p.relative_to(root)): {"content": p.read_text()}
        for p in sorted((root / "contracts").rglob("*.sol"))
        if "test" not in p.relative_to(root).parts
    }
    if not sources:
        raise DevnetError(f"no Solidity sources under {root / 'contracts'}")
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": "cancun",
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    output = compile_standard_json(request, root)
    wanted = set(names or ())
    abi_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for contracts in output.get("contracts", {}).values():
        for name, compiled in contracts.items():
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode or (names is not None and name not in wanted):
                continue  # interfaces, abstract contracts and helpers are not shipped
            artifact = {"contractName": name, "abi": compiled["abi"], "bytecode": "0x" + bytecode}
            (abi_dir / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
            written.append(name)
    return sorted(written)


def compile_file(source: Path, name: str, root: Path | None = None) -> dict[str, Any]:
    """ABI and bytecode of contract `name` in one self-contained Solidity file."""
    root = root or repo_root()
    request = {
        "language": "Solidity",
        "sources": {source.name: {"content": source.read_text()}},
        "settings": {
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    compiled = compile_standard_json(request, root)["contracts"][source.name][name]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}
