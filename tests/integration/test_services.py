"""The service fixtures start real daemons that answer, and stop them without leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.devnet.anvil import AnvilNode, rpc_chain_id
from node.devnet.ipfs import IpfsNode, api_answers
from node.devnet.process import pid_alive

pytestmark = pytest.mark.integration


def test_ipfs_fixture_serves_the_rpc_api(ipfs_node: IpfsNode) -> None:
    assert api_answers(ipfs_node.ports.api)
    assert ipfs_node.repo.exists()


def test_anvil_fixture_answers_chain_id(anvil_node: AnvilNode) -> None:
    assert rpc_chain_id(anvil_node.rpc_url) == anvil_node.chain_id


def test_a_started_ipfs_node_is_gone_after_stop(tmp_path: Path) -> None:
    node = IpfsNode.start(tmp_path)
    pid, port = node.pid, node.ports.api
    node.stop()
    assert not pid_alive(pid)
    assert not api_answers(port, timeout=0.5)
