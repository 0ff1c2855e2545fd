"""The ABIs shipped in node/abi match the Solidity sources (skipped until they are shipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, available, load_artifact
from node.devnet.solcjs import compile_protocol

pytestmark = pytest.mark.integration


def test_shipped_abis_match_a_fresh_compile(tmp_path: Path) -> None:
    shipped = [n for n in PROTOCOL_CONTRACTS if n in available(ABI_DIR)]
    if not shipped:
        pytest.skip("no ABIs shipped in node/abi yet")
    compile_protocol(tmp_path)
    stale = [n for n in shipped if load_artifact(n, ABI_DIR).abi != load_artifact(n, tmp_path).abi]
    assert not stale, (
        f"node/abi is stale for {stale}: run `ape compile && poc devnet export-abi` "
        "(or `poc devnet export-abi --solcjs`) and commit node/abi"
    )
