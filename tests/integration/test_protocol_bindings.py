"""The chain layer against the real protocol contracts on anvil: the Deployment bound from the
deployment's addresses, custom errors of the protocol decoded, protocol events scanned."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.chain.abi import protocol_abis
from node.chain.contracts.deployment import Deployment
from node.chain.contracts.errors import ContractError
from node.chain.contracts.job_market import JobParams
from node.chain.errors import ChainError, DeploymentNotConfigured, TransactionReverted
from node.chain.rpc import connect
from node.chain.scanner import ChainEvent
from node.chain.sender import TxSender
from node.config.settings import ContractAddresses
from node.devnet.anvil import AnvilNode, dev_private_key
from node.devnet.pytest_fixtures import ProtocolDeployment
from node.state import StateStore

pytestmark = pytest.mark.integration


@pytest.fixture
def protocol(protocol_deployment: ProtocolDeployment, anvil_snapshot: AnvilNode) -> Deployment:
    w3 = connect(anvil_snapshot.rpc_url)
    return Deployment.from_addresses(
        w3,
        protocol_deployment.addresses,
        protocol_abis(protocol_deployment.abi_dir),
        protocol_deployment.start_block,
    )


@pytest.fixture
def provider() -> LocalAccount:
    acct: LocalAccount = Account.from_key(dev_private_key(2))
    return acct


def test_protocol_error_is_decoded_with_its_values(
    protocol: Deployment, provider: LocalAccount
) -> None:
    sender = TxSender(protocol.w3, provider, protocol.decoder)
    with pytest.raises(TransactionReverted) as info:
        sender.send(protocol.stake.request_unbond(5))
    assert info.value.error_name == ContractError.INSUFFICIENT_STAKE
    assert info.value.error_args["needed"] == 5


def test_protocol_error_code_is_named(protocol: Deployment, provider: LocalAccount) -> None:
    params = JobParams(
        b"\x01" * 32, b"\x02" * 32, 1, 1, 1, 1, 1, protocol.now() + 600, 600, 30, 600
    )
    with pytest.raises(TransactionReverted) as info:
        TxSender(protocol.w3, provider, protocol.decoder).send(
            protocol.market.post(params, "spec", 10**15)
        )
    assert info.value.error_name == ContractError.PARAM_OUT_OF_RANGE
    assert "param=1 (challengeWindow), value=30" in str(info.value)


def test_deposit_event_reaches_the_scanner(
    protocol: Deployment,
    provider: LocalAccount,
    protocol_deployment: ProtocolDeployment,
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "s.db")
    scanner = protocol.scanner(store, "provider", start_block=protocol_deployment.start_block)
    scanner.scan(lambda e: None)  # skip the deployment's own events
    TxSender(protocol.w3, provider, protocol.decoder).send(protocol.stake.deposit(10**18))
    seen: list[ChainEvent] = []
    scanner.scan(seen.append)
    assert [(e.contract, e.name) for e in seen] == [("stakes", "Deposited")]
    assert seen[0].args["amount"] == 10**18


def test_binding_without_addresses_says_what_is_missing(anvil_node: AnvilNode) -> None:
    with pytest.raises(DeploymentNotConfigured, match="job_market") as info:
        Deployment.from_addresses(connect(anvil_node.rpc_url), ContractAddresses())
    assert isinstance(info.value, ChainError)
