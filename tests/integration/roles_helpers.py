"""Helpers of the roles integration suite: the protocol on the session anvil, role configs and
keystores, `poc` daemons as subprocesses, chain time control."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3 import Web3

from node.chain import keystore
from node.devnet.anvil import dev_private_key

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "integration"
POC = [sys.executable, "-m", "node.cli.main"]


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def advance(w3: Web3, seconds: int) -> None:
    rpc(w3, "evm_increaseTime", seconds)
    rpc(w3, "evm_mine")


def role_config(
    folder: Path,
    index: int,
    rpc_url: str,
    ipfs_api: str,
    contracts: dict[str, str],
    start_block: int,
    **over: Any,
) -> Path:
    """A data dir with a light keystore for dev account `index` and a config file."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "key.json"
    if not key.exists():
        keystore.import_key(key, dev_private_key(index), PASSWORD, light=True)
    (folder / "password").write_text(PASSWORD + "\n")
    config = {
        "rpc_url": rpc_url,
        "contracts": contracts,
        "start_block": start_block,
        "keystore": str(key),
        "password_file": str(folder / "password"),
        "storage_backend": "ipfs",
        "ipfs_api": ipfs_api,
        "storage_timeout": 5.0,
        "data_dir": str(folder / "data"),
        **over,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    e["PYTHONUNBUFFERED"] = "1"
    return e


# `poc` with an adversary in place of an honest role (poc_lab.cli: the options before the
# ordinary command line pick it)
def lab(*options: str) -> list[str]:
    return [sys.executable, "-m", "poc_lab.cli", *options]


def poc(
    args: list[str], config: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    return subprocess.run(
        POC + args + extra,
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def daemon(
    args: list[str], config: Path, log: Path, command: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """A daemon process: `poc` by default, or `command` (e.g. `lab(...)`) with the same args."""
    out = log.open("ab")
    return subprocess.Popen(
        (command or POC)
        + args
        + ["--config", str(config), "--interval", "0.3", "--log-format", "json"],
        cwd=ROOT,
        env=env(),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_for(cond: Callable[[], bool], timeout: float, what: str, procs: list[Any] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"daemon exited with {p.returncode} while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def reverted_from(w3: Web3, address: str, since: int) -> list[str]:
    """Transactions `address` sent since block `since` that reverted (a duplicate move, a
    second claim, a late answer would)."""
    bad = []
    for n in range(since, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            assert not isinstance(tx, bytes)
            if tx["from"].lower() == address.lower():
                if w3.eth.get_transaction_receipt(tx["hash"])["status"] != 1:
                    bad.append(tx["hash"].hex())
    return bad
