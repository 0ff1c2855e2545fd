"""pytest fixtures that start real local services; usable from any test folder with
`from node.devnet.pytest_fixtures import *` in a conftest.py, or globally by listing
`pytest_plugins = ["node.devnet.pytest_fixtures"]` in the root conftest.

Each service runs in its own process group with a parent-death signal, is stopped in the
fixture's teardown (pytest runs it on failures and on Ctrl-C too), and is swept by an atexit
handler otherwise, so no daemon outlives the test run, even a SIGKILLed one."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from node.config.settings import ContractAddresses, Settings
from node.devnet.anvil import AnvilNode
from node.devnet.errors import ToolNotFound
from node.devnet.ipfs import IpfsNode

__all__ = [
    "ProtocolDeployment",
    "anvil_node",
    "anvil_snapshot",
    "ipfs_node",
    "protocol_deployment",
]


S = TypeVar("S", IpfsNode, AnvilNode)


def _session_service(start: Callable[[], S]) -> Iterator[S]:
    """Start a service for the session (skip the tests when its tool is missing); stop it at
    the end whatever happened."""
    try:
        service = start()
    except ToolNotFound as exc:
        pytest.skip(str(exc))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    """One offline js-ipfs daemon for the whole session, with a fresh repository."""
    yield from _session_service(lambda: IpfsNode.start(tmp_path_factory.mktemp("ipfs")))


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil chain for the whole session (automine: a block per transaction)."""
    yield from _session_service(lambda: AnvilNode.start(tmp_path_factory.mktemp("anvil")))


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


@dataclass(frozen=True)
class ProtocolDeployment:
    """The protocol deployed on the session anvil by anvil's account 0."""

    rpc_url: str
    chain_id: int
    addresses: ContractAddresses
    start_block: int
    abi_dir: Path

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at this deployment (local storage unless overridden)."""
        values: dict[str, Any] = {
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "contracts": self.addresses,
            "start_block": self.start_block,
            "storage_backend": "local",
        }
        values.update(overrides)
        return Settings(**values)


@pytest.fixture(scope="session")
def protocol_deployment(
    anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory
) -> ProtocolDeployment:
    """StakeManager, TensorStep, JobMarket and DisputeGame deployed once per session, from
    the shipped node/abi artifacts when complete, else compiled from contracts/ with solc-js.
    Tests that change state should also use `anvil_snapshot` to undo it."""
    from eth_account import Account

    from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, available
    from node.chain.revert import protocol_decoder
    from node.chain.rpc import connect
    from node.chain.sender import TxSender
    from node.devnet.anvil import dev_private_key
    from node.devnet.deploy import deploy_protocol
    from node.devnet.solcjs import compile_protocol

    abi_dir = ABI_DIR
    if not set(PROTOCOL_CONTRACTS) <= set(available(ABI_DIR)):
        abi_dir = tmp_path_factory.mktemp("abi")
        compile_protocol(abi_dir)
    w3 = connect(anvil_node.rpc_url, expected_chain_id=anvil_node.chain_id)
    sender = TxSender(w3, Account.from_key(dev_private_key(0)), protocol_decoder(abi_dir))
    deployment = deploy_protocol(sender, abi_dir)
    return ProtocolDeployment(
        rpc_url=anvil_node.rpc_url,
        chain_id=anvil_node.chain_id,
        addresses=ContractAddresses(**deployment.addresses),
        start_block=deployment.block,
        abi_dir=abi_dir,
    )
