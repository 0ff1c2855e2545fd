"""Where `poc devnet up` takes the contracts from: explicit folder, node/abi, else .build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.chain.abi import PROTOCOL_CONTRACTS
from node.devnet import devnet


def _build(tmp_path: Path, names: tuple[str, ...]) -> Path:
    build = tmp_path / ".build"
    build.mkdir()
    types = {n: {"abi": [], "deploymentBytecode": {"bytecode": "0x6001"}} for n in names}
    (build / "__local__.json").write_text(json.dumps({"contractTypes": types}))
    return build


@pytest.fixture
def no_shipped_abis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import node.chain.abi as abi

    monkeypatch.setattr(abi, "ABI_DIR", tmp_path / "empty-abi")


def test_explicit_folder_wins(tmp_path: Path) -> None:
    assert devnet._artifacts_dir(tmp_path, tmp_path / "x", tmp_path) == tmp_path


def test_ape_build_is_exported_when_nothing_is_shipped(
    tmp_path: Path, no_shipped_abis: None
) -> None:
    build = _build(tmp_path, PROTOCOL_CONTRACTS)
    scratch = tmp_path / "scratch"
    assert devnet._artifacts_dir(None, scratch, build) == scratch
    assert sorted(p.stem for p in scratch.glob("*.json")) == sorted(PROTOCOL_CONTRACTS)


def test_incomplete_build_means_no_deployment(tmp_path: Path, no_shipped_abis: None) -> None:
    build = _build(tmp_path, ("StakeManager",))
    assert devnet._artifacts_dir(None, tmp_path / "scratch", build) is None
    assert devnet._artifacts_dir(None, tmp_path / "scratch", tmp_path / "absent") is None
