"""`poc devnet up|down|status`: a local anvil and an offline IPFS node that outlive the
command, the protocol deployed on the chain, and a config file every other command reads.

Everything lives under `<data_dir>/devnet/`: `devnet.json` (pids, endpoints), the logs, the
IPFS repository, development keystores and their password file. `down` stops the recorded
processes and removes that folder, so the next `up` starts fresh."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.config.settings import DEFAULT_DATA_DIR, default_config_path, write_config
from node.devnet.anvil import DEFAULT_CHAIN_ID, AnvilNode, dev_private_key
from node.devnet.errors import DevnetError
from node.devnet.ipfs import IpfsNode
from node.devnet.process import pid_alive, stop_pid

log = logging.getLogger(__name__)

# Development identities: anvil's funded accounts, each role its own key.
DEV_ROLES = {"deployer": 0, "poster": 1, "provider": 2, "challenger": 3}
DEV_PASSWORD = "devnet"  # throw-away keys of a local chain; never for real funds


@dataclass
class DevnetState:
    anvil_pid: int
    rpc_url: str
    chain_id: int
    ipfs_pid: int | None
    ipfs_api: str | None
    config_path: str
    contracts: dict[str, str]

    def pids(self) -> list[int]:
        return [p for p in (self.anvil_pid, self.ipfs_pid) if p is not None]


def devnet_dir(data_dir: Path) -> Path:
    return data_dir / "devnet"


def _state_path(data_dir: Path) -> Path:
    return devnet_dir(data_dir) / "devnet.json"


def read_state(data_dir: Path = DEFAULT_DATA_DIR) -> DevnetState | None:
    try:
        return DevnetState(**json.loads(_state_path(data_dir).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise DevnetError(f"{_state_path(data_dir)} is corrupt ({exc}); remove it") from None


def _write_dev_keystores(folder: Path) -> dict[str, str]:
    from node.chain import keystore

    keys = folder / "keys"
    password = folder / "password"
    password.touch(mode=0o600)
    password.chmod(0o600)  # operator.md asks for 0600 on password files; so do we
    password.write_text(DEV_PASSWORD + "\n")
    paths = {}
    for role, index in DEV_ROLES.items():
        path = keys / f"{role}.json"
        if not path.exists():
            keystore.import_key(path, dev_private_key(index), DEV_PASSWORD, light=True)
        paths[role] = str(path)
    return paths


def _artifacts_dir(abi_dir: Path | None, scratch: Path, build_dir: Path) -> Path | None:
    """Where to deploy from: the given folder, else the shipped node/abi, else the artifacts
    of a development checkout's `ape compile` (.build), exported to a scratch folder."""
    from node.chain.abi import (
        ABI_DIR,
        PROTOCOL_CONTRACTS,
        AbiNotFound,
        available,
        export_from_build,
    )

    if abi_dir is not None:
        return abi_dir
    if set(PROTOCOL_CONTRACTS) <= set(available(ABI_DIR)):
        return ABI_DIR
    try:
        written = export_from_build(build_dir, scratch)
    except AbiNotFound:
        return None
    return scratch if set(PROTOCOL_CONTRACTS) <= set(written) else None


def _deploy(
    rpc_url: str, chain_id: int, keystore_path: Path, folder: Path, token: str | None = None
) -> tuple[dict[str, str], int]:
    from node.chain import keystore
    from node.chain.revert import protocol_decoder
    from node.chain.rpc import connect
    from node.chain.sender import TxSender
    from node.devnet.deploy import MOCK_PRICE_ETH, deploy_protocol, resolve_asset

    w3 = connect(rpc_url, expected_chain_id=chain_id)
    sender = TxSender(w3, keystore.load(keystore_path, DEV_PASSWORD), protocol_decoder(folder))
    from eth_account import Account

    accounts = tuple(str(Account.from_key(dev_private_key(i)).address) for i in DEV_ROLES.values())
    asset = resolve_asset(sender, token, folder, mint_to=accounts)
    # a devnet prices its token at MOCK_PRICE_ETH (the bond floor in the token's units)
    deployment = deploy_protocol(sender, folder, asset=asset, asset_price_eth=MOCK_PRICE_ETH)
    return deployment.addresses, deployment.block


def up(
    data_dir: Path = DEFAULT_DATA_DIR,
    chain_id: int = DEFAULT_CHAIN_ID,
    with_ipfs: bool = True,
    deploy: bool = True,
    abi_dir: Path | None = None,
    block_time: float | None = None,
    detached: bool = True,
    build_dir: Path = Path(".build"),
    token: str | None = None,
) -> DevnetState:
    """Start the devnet (refusing if one recorded here still runs) and write its config.
    `detached=False` ties the services to this process (tests: no leak even on SIGKILL)."""
    existing = read_state(data_dir)
    if existing is not None and any(pid_alive(p) for p in existing.pids()):
        raise DevnetError(
            f"a devnet is already running (pids {existing.pids()}); `poc devnet down` first"
        )
    folder = devnet_dir(data_dir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    anvil = AnvilNode.start(folder, chain_id=chain_id, block_time=block_time, detached=detached)
    ipfs: IpfsNode | None = None
    try:
        if with_ipfs:
            ipfs = IpfsNode.start(folder / "ipfs", detached=detached)
        keys = _write_dev_keystores(folder)
        contracts: dict[str, str] = {}
        start_block = 0
        if deploy:
            artifacts = _artifacts_dir(abi_dir, folder / "abi", build_dir)
            if artifacts is None:
                log.warning("not deploying: no protocol artifacts in node/abi nor %s", build_dir)
            else:
                contracts, start_block = _deploy(
                    anvil.rpc_url, chain_id, Path(keys["deployer"]), artifacts, token
                )
        config_path = default_config_path(data_dir)
        config: dict[str, Any] = {
            "rpc_url": anvil.rpc_url,
            "chain_id": chain_id,
            "contracts": contracts,
            "start_block": start_block,
            "confirmations": 0,
            "password_file": str((folder / "password").resolve()),
            "storage_backend": "ipfs" if ipfs else "local",
            "data_dir": str(data_dir),
        }
        if ipfs:
            config["ipfs_api"] = ipfs.api_addr
        write_config(config_path, config)
        state = DevnetState(
            anvil_pid=anvil.pid,
            rpc_url=anvil.rpc_url,
            chain_id=chain_id,
            ipfs_pid=ipfs.pid if ipfs else None,
            ipfs_api=ipfs.api_addr if ipfs else None,
            config_path=str(config_path),
            contracts=contracts,
        )
        _state_path(data_dir).write_text(json.dumps(asdict(state), indent=2) + "\n")
        return state
    except BaseException:
        anvil.stop()
        if ipfs is not None:
            ipfs.stop()
        raise


def down(data_dir: Path = DEFAULT_DATA_DIR) -> list[int]:
    """Stop the recorded devnet processes; returns the pids that were still running."""
    state = read_state(data_dir)
    if state is None:
        return []
    stopped = [pid for pid in [state.anvil_pid] if stop_pid(pid, expect="anvil")]
    if state.ipfs_pid is not None and stop_pid(state.ipfs_pid, expect="ipfs"):
        stopped.append(state.ipfs_pid)
    shutil.rmtree(devnet_dir(data_dir), ignore_errors=True)
    config = Path(state.config_path)
    if config.exists():
        config.unlink()
    return stopped
