"""pytest fixtures that start real local services; usable from any test folder with
`from node.devnet.pytest_fixtures import *` in a conftest.py, or globally by listing
`pytest_plugins = ["node.devnet.pytest_fixtures"]` in the root conftest.

Each service runs in its own process group with a parent-death signal, is stopped in the
fixture's teardown (pytest runs it on failures and on Ctrl-C too), and is swept by an atexit
handler otherwise, so no daemon outlives the test run, even a SIGKILLed one."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from node.devnet.anvil import AnvilNode
from node.devnet.errors import ToolNotFound
from node.devnet.ipfs import IpfsNode

__all__ = ["anvil_node", "anvil_snapshot", "ipfs_node"]


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    """One offline js-ipfs daemon for the whole session, with a fresh repository."""
    try:
        node = IpfsNode.start(tmp_path_factory.mktemp("ipfs"))
    except ToolNotFound as exc:
        pytest.skip(str(exc))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil chain for the whole session (automine: a block per transaction)."""
    try:
        node = AnvilNode.start(tmp_path_factory.mktemp("anvil"))
    except ToolNotFound as exc:
        pytest.skip(str(exc))
    try:
        yield node
    finally:
        node.stop()


def _anvil_rpc(node: AnvilNode, method: str, params: list[object]) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        node.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


@pytest.fixture
def anvil_snapshot(anvil_node: AnvilNode) -> Iterator[AnvilNode]:
    """The session chain, reverted after the test to its state before it (and automine on)."""
    snapshot = _anvil_rpc(anvil_node, "evm_snapshot", [])
    try:
        yield anvil_node
    finally:
        _anvil_rpc(anvil_node, "evm_setAutomine", [True])
        _anvil_rpc(anvil_node, "evm_revert", [snapshot])
