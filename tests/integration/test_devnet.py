"""Deployment of the protocol and `poc devnet up|down` with real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3

from node.chain.abi import PROTOCOL_CONTRACTS, bind
from node.chain.revert import protocol_decoder
from node.chain.rpc import connect
from node.chain.sender import TxSender
from node.config import load_settings
from node.config.wiring import account, content_store
from node.devnet import devnet
from node.devnet.anvil import AnvilNode, dev_private_key
from node.devnet.deploy import deploy_protocol
from node.devnet.errors import DevnetError
from node.devnet.process import pid_alive
from node.devnet.solcjs import compile_protocol

pytestmark = pytest.mark.integration

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def protocol_abi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not all((_ROOT / "contracts" / f"{n}.sol").exists() for n in PROTOCOL_CONTRACTS):
        pytest.skip("protocol contracts not written yet")
    folder = tmp_path_factory.mktemp("abi")
    compile_protocol(folder)
    return folder


def test_protocol_deploys_and_is_wired(anvil_snapshot: AnvilNode, protocol_abi_dir: Path) -> None:
    w3 = connect(anvil_snapshot.rpc_url)
    sender = TxSender(w3, Account.from_key(dev_private_key(0)), protocol_decoder(protocol_abi_dir))
    deployment = deploy_protocol(sender, protocol_abi_dir)
    assert set(deployment.addresses) == {
        "stake_manager",
        "tensor_step",
        "job_market",
        "dispute_game",
        "replica_market",  # beside the protocol, with its own game (protocol.md 6.8)
        "replica_game",
    }
    for address in deployment.addresses.values():
        assert len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
    game = bind(w3, "DisputeGame", deployment.addresses["dispute_game"], protocol_abi_dir)
    assert game.functions.arity().call() == 16


@pytest.fixture
def devnet_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "poc"
    yield data_dir
    devnet.down(data_dir)  # whatever the test did, nothing keeps running


def test_up_writes_a_working_config_and_down_stops_everything(
    devnet_dir: Path, protocol_abi_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = devnet.up(devnet_dir, abi_dir=protocol_abi_dir, detached=False)
    settings = load_settings(Path(state.config_path))
    assert settings.contracts.job_market is not None
    w3 = connect(settings.rpc_url, expected_chain_id=settings.chain_id)
    market = bind(w3, "JobMarket", settings.contracts.job_market, protocol_abi_dir)
    assert len(w3.eth.get_code(market.address)) > 0
    store = content_store(settings)
    assert store.get(store.put(b"devnet")) == b"devnet"
    monkeypatch.setenv("POC_KEYSTORE", str(devnet_dir / "devnet" / "keys" / "provider.json"))
    assert (
        account(load_settings(Path(state.config_path))).address
        == Account.from_key(dev_private_key(2)).address
    )
    with pytest.raises(DevnetError, match="already running"):
        devnet.up(devnet_dir, detached=False)
    pids = state.pids()
    assert devnet.down(devnet_dir) == pids
    assert not any(pid_alive(p) for p in pids)
    assert not Path(state.config_path).exists()


def test_cli_up_status_down(devnet_dir: Path) -> None:
    from node.cli.main import _register, cli

    _register()
    runner = CliRunner()
    args = ["--data-dir", str(devnet_dir)]
    result = runner.invoke(cli, ["devnet", "up", "--no-ipfs", "--no-deploy", *args])
    assert result.exit_code == 0, result.output
    assert "anvil" in result.output
    status = runner.invoke(cli, ["devnet", "status", *args])
    assert "running" in status.output
    down = runner.invoke(cli, ["devnet", "down", *args])
    assert "stopped 1 process" in down.output
