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


def test_anvil_start_retries_when_its_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import node.devnet.anvil as anvil_module
    from node.devnet.ports import free_port

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, free_port()])
        monkeypatch.setattr(anvil_module, "free_port", lambda: next(ports))
        node = AnvilNode.start(tmp_path)
        try:
            assert node.port != taken
            assert rpc_chain_id(node.rpc_url) == node.chain_id
        finally:
            node.stop()
