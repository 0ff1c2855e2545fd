"""Fixtures that start real local services (js-ipfs, anvil, the deployed protocol) for
integration tests; they are defined in node.devnet.pytest_fixtures so that other test folders
can use them too. Below them, the chain tests' web3 on the session anvil, a dev account and the
test contract Emitter (tests/integration/contracts) deployed by it."""

from __future__ import annotations

from typing import Any

import pytest
from chain_helpers import compile_contract, deploy
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.chain.rpc import connect
from node.devnet.anvil import AnvilNode, dev_private_key
from node.devnet.pytest_fixtures import (
    anvil_node,
    anvil_snapshot,
    ipfs_node,
    protocol_deployment,
)

__all__ = ["anvil_node", "anvil_snapshot", "ipfs_node", "protocol_deployment"]


@pytest.fixture(scope="session")
def emitter_artifact() -> dict[str, Any]:
    return compile_contract("Emitter")


@pytest.fixture
def w3(anvil_snapshot: AnvilNode) -> Web3:
    return connect(anvil_snapshot.rpc_url, expected_chain_id=anvil_snapshot.chain_id)


@pytest.fixture
def account() -> LocalAccount:
    acct: LocalAccount = Account.from_key(dev_private_key(1))
    return acct


@pytest.fixture
def emitter(w3: Web3, account: LocalAccount, emitter_artifact: dict[str, Any]) -> Contract:
    return deploy(w3, account, emitter_artifact)
