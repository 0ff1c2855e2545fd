"""Fixtures that start real local services (js-ipfs, anvil) for integration tests.

Each service runs in its own process group with a parent-death signal, is stopped in the
fixture's teardown (which pytest runs on failures and on Ctrl-C too), and is swept by an
atexit handler otherwise, so no daemon outlives the test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.devnet.anvil import AnvilNode
from node.devnet.errors import ToolNotFound
from node.devnet.ipfs import IpfsNode


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


@pytest.fixture
def anvil_snapshot(anvil_node: AnvilNode) -> Iterator[AnvilNode]:
    """The session chain, reverted after the test to the state before it."""
    import json
    import urllib.request

    def call(method: str, params: list[object]) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        request = urllib.request.Request(
            anvil_node.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["result"]

    snapshot = call("evm_snapshot", [])
    try:
        yield anvil_node
    finally:
        call("evm_revert", [snapshot])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
