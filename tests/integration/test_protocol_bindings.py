"""The chain layer against the real protocol contracts: bindings from the deployment, custom
errors of the protocol decoded, protocol events scanned."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.chain.bindings import Protocol
from node.chain.errors import ChainError, TransactionReverted
from node.chain.rpc import connect
from node.chain.scanner import ChainEvent
from node.chain.sender import TxSender
from node.config.settings import ContractAddresses
from node.devnet.anvil import AnvilNode, dev_private_key
from node.devnet.pytest_fixtures import ProtocolDeployment
from node.state import StateStore

pytestmark = pytest.mark.integration


@pytest.fixture
def protocol(protocol_deployment: ProtocolDeployment, anvil_snapshot: AnvilNode) -> Protocol:
    w3 = connect(anvil_snapshot.rpc_url)
    return Protocol.bind(w3, protocol_deployment.addresses, protocol_deployment.abi_dir)


@pytest.fixture
def provider() -> LocalAccount:
    acct: LocalAccount = Account.from_key(dev_private_key(2))
    return acct


def test_protocol_error_is_decoded_with_its_values(
    protocol: Protocol, provider: LocalAccount
) -> None:
    sender = TxSender(protocol.w3, provider, protocol.decoder)
    with pytest.raises(TransactionReverted) as info:
        sender.transact(protocol.stakes.functions.requestUnbond(5))
    assert info.value.error_name == "InsufficientStake"
    assert info.value.error_args["needed"] == 5


def test_deposit_event_reaches_the_scanner(
    protocol: Protocol,
    provider: LocalAccount,
    protocol_deployment: ProtocolDeployment,
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "s.db")
    scanner = protocol.scanner(store, "provider", start_block=protocol_deployment.start_block)
    scanner.scan(lambda e: None)  # skip the deployment's own events
    TxSender(protocol.w3, provider, protocol.decoder).transact(
        protocol.stakes.functions.deposit(), value=10**18
    )
    seen: list[ChainEvent] = []
    scanner.scan(seen.append)
    assert [(e.contract, e.name) for e in seen] == [("stakes", "Deposited")]
    assert seen[0].args["amount"] == 10**18


def test_binding_without_addresses_says_what_is_missing(anvil_node: AnvilNode) -> None:
    with pytest.raises(ChainError, match="job_market"):
        Protocol.bind(connect(anvil_node.rpc_url), ContractAddresses())
