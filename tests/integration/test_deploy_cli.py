"""`poc deploy` against a real anvil: deploys and wires the protocol with a keystore, writes a
config the roles can use; a wrong password deploys nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.chain.keystore import import_key
from node.chain.rpc import connect
from node.config import load_settings
from node.devnet.anvil import AnvilNode, dev_private_key
from node.roles.safety import DEFENCE_GAS

pytestmark = pytest.mark.integration


def _poc(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli.main", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_writes_a_config_with_wired_contracts(
    anvil_snapshot: AnvilNode, tmp_path: Path
) -> None:
    key = tmp_path / "deployer.json"
    import_key(key, dev_private_key(5), "s3cret", light=True)
    env = {
        "POC_KEYSTORE": str(key),
        "POC_PASSWORD": "s3cret",
        "POC_RPC_URL": anvil_snapshot.rpc_url,
    }
    out = tmp_path / "net.json"
    done = _poc(["deploy", "--write-config", str(out), "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    addresses = json.loads(done.stdout)

    settings = load_settings(out)
    assert settings.rpc_url == anvil_snapshot.rpc_url
    assert settings.keystore is None  # each operator brings its own key
    assert settings.contracts.job_market == addresses["job_market"]
    w3 = connect(anvil_snapshot.rpc_url)
    for name in ("stake_manager", "tensor_step", "job_market", "dispute_game"):
        assert len(w3.eth.get_code(addresses[name])) > 0, name
    from node.chain.contracts.deployment import Deployment

    d = Deployment.from_addresses(w3, settings.contracts, start_block=settings.start_block)
    assert d.market.read("game") == addresses["dispute_game"]
    # the floors derived from the chain (measured block time, the node's gas price)
    assert d.market.min_clock() == addresses["min_clock"] >= 60
    assert d.market.min_bond() == addresses["min_bond"] == DEFENCE_GAS * addresses["gas_price"]


def test_deploy_derives_the_floors_from_the_given_block_time_and_gas_price(
    anvil_snapshot: AnvilNode, tmp_path: Path
) -> None:
    """12 s blocks at 30 gwei: 18 moves x 12 s x 3 = 648 s, 1.8M gas x 30 gwei = 0.054 ETH."""
    key = tmp_path / "deployer.json"
    import_key(key, dev_private_key(7), "s3cret", light=True)
    env = {
        "POC_KEYSTORE": str(key),
        "POC_PASSWORD": "s3cret",
        "POC_RPC_URL": anvil_snapshot.rpc_url,
    }
    args = ["deploy", "--block-time", "12", "--gas-price", "30", "--json"]
    done = _poc(args, env, tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["min_clock"], out["min_bond"]) == (648, 540 * 10**14)
    from node.chain.contracts.deployment import Deployment

    d = Deployment.from_addresses(connect(anvil_snapshot.rpc_url), out)
    assert (d.market.min_clock(), d.market.min_bond()) == (648, 540 * 10**14)


def test_deploy_with_a_wrong_password_sends_nothing(
    anvil_snapshot: AnvilNode, tmp_path: Path
) -> None:
    key = tmp_path / "deployer.json"
    address = import_key(key, dev_private_key(6), "right", light=True)
    w3 = connect(anvil_snapshot.rpc_url)
    nonce = w3.eth.get_transaction_count(address)
    env = {"POC_KEYSTORE": str(key), "POC_PASSWORD": "wrong", "POC_RPC_URL": anvil_snapshot.rpc_url}
    done = _poc(["deploy"], env, tmp_path)
    assert done.returncode == 4
    assert "password" in done.stderr.lower()
    assert w3.eth.get_transaction_count(address) == nonce
