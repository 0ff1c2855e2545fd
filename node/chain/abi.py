"""Contract ABIs (and deployment bytecode) shipped inside the package under node/abi/.

The node must run without the Solidity toolchain, so compiled artifacts are copied into the
package by `export_from_build()` after `ape compile` and committed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from node.chain.errors import AbiNotFound

ABI_DIR = Path(__file__).resolve().parents[1] / "abi"
# The contracts of the protocol (docs/protocol.md §6); test and probe contracts stay out.
PROTOCOL_CONTRACTS = ("StakeManager", "TensorStep", "JobMarket", "DisputeGame", "ReplicaMarket")
# shipped too, for `--token mock` on a devnet (contracts/test: not part of the protocol)
DEVNET_CONTRACTS = ("MockStablecoin",)
# `ape compile` output of a development checkout (this package's repository)
REPO_BUILD = Path(__file__).resolve().parents[2] / ".build"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # deployment bytecode, 0x-prefixed; "0x" for interfaces


def load_artifact(name: str, abi_dir: Path = ABI_DIR) -> Artifact:
    path = abi_dir / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AbiNotFound(
            f"no ABI for {name} in {abi_dir}; compile the contracts and run `poc devnet export-abi`"
        ) from None
    return Artifact(name=name, abi=data["abi"], bytecode=data.get("bytecode", "0x"))


def load_abi(name: str, abi_dir: Path = ABI_DIR) -> list[dict[str, Any]]:
    return load_artifact(name, abi_dir).abi


def available(abi_dir: Path = ABI_DIR) -> list[str]:
    return sorted(p.stem for p in abi_dir.glob("*.json"))


def all_abis(abi_dir: Path = ABI_DIR) -> list[list[dict[str, Any]]]:
    """Every shipped ABI, for decoding errors raised by any contract a call reaches."""
    return [load_abi(name, abi_dir) for name in available(abi_dir)]


def build_artifacts(build_dir: Path) -> dict[str, Artifact]:
    """The contract types ape compiled into `<build_dir>/__local__.json`."""
    manifest_path = build_dir / "__local__.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise AbiNotFound(f"{manifest_path} not found; run `ape compile` first") from None
    artifacts = {}
    for name, ctype in manifest.get("contractTypes", {}).items():
        bytecode = (ctype.get("deploymentBytecode") or {}).get("bytecode") or "0x"
        artifacts[name] = Artifact(name=name, abi=ctype.get("abi", []), bytecode=bytecode)
    return artifacts


def export_from_build(
    build_dir: Path = Path(".build"),
    abi_dir: Path = ABI_DIR,
    names: Iterable[str] = PROTOCOL_CONTRACTS,
) -> list[str]:
    """Copy the named contracts' ABI and bytecode from ape's build folder into the package.
    Returns the names written; names not compiled (yet) are skipped."""
    artifacts = build_artifacts(build_dir)
    abi_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        artifact = artifacts.get(name)
        if artifact is None:
            continue
        text = json.dumps(
            {"contractName": name, "abi": artifact.abi, "bytecode": artifact.bytecode}, indent=1
        )
        (abi_dir / f"{name}.json").write_text(text + "\n")
        written.append(name)
    return written


def protocol_abis(
    abi_dir: Path | None = None, build_dir: Path = REPO_BUILD
) -> dict[str, list[dict[str, Any]]]:
    """The ABIs of the protocol contracts by name: the ones shipped in the package (node/abi,
    or `abi_dir`), else the ones `ape compile` wrote into the checkout's `.build` (a
    development checkout that has not exported them yet). An explicit `abi_dir` has no
    fallback."""
    names = list(PROTOCOL_CONTRACTS)
    try:
        return {n: load_abi(n, abi_dir or ABI_DIR) for n in names}
    except AbiNotFound:
        if abi_dir is not None:
            raise
    try:
        built = build_artifacts(build_dir)
    except AbiNotFound:
        raise AbiNotFound(
            f"no protocol ABIs in {ABI_DIR} nor in {build_dir}: run `ape compile` "
            "and `poc devnet export-abi`"
        ) from None
    missing = [n for n in names if n not in built]
    if missing:
        raise AbiNotFound(f"{build_dir} lacks {', '.join(missing)}; run `ape compile`")
    return {n: built[n].abi for n in names}


def bind(w3: Web3, name: str, address: str, abi_dir: Path = ABI_DIR) -> Contract:
    """The contract `name` (its shipped ABI) at `address`, as a web3 contract object (for the
    devnet's deployment and its tests; the roles use node.chain.contracts)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi(name, abi_dir))
