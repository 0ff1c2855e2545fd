"""A local anvil chain (the native binary from the npm package @foundry-rs/anvil-linux-amd64)."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from node.devnet.ports import free_port
from node.devnet.process import ManagedProcess, start_with_retries
from node.devnet.tools import anvil_executable

LOOPBACK = "127.0.0.1"
DEFAULT_CHAIN_ID = 31337
# anvil's well-known development mnemonic: its accounts are funded with 10000 ETH each.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def dev_private_key(index: int) -> str:
    """Private key of anvil's funded development account `index` (never use on a real chain)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex()


def rpc_chain_id(url: str, timeout: float = 2.0) -> int | None:
    """eth_chainId of the node at `url`, or None when it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


class AnvilNode:
    """A running anvil. Use `AnvilNode.start(...)` and `stop()` (or `with`)."""

    def __init__(self, process: ManagedProcess, port: int, chain_id: int):
        self.process = process
        self.port = port
        self.chain_id = chain_id

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls,
        work_dir: Path | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        accounts: int = 10,
        start_timeout: float = 30.0,
        detached: bool = False,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> AnvilNode:
        """Start anvil on a free loopback port (or `port`: e.g. a restart from a dumped state,
        `extra_args=["--load-state", path]`, where clients already point) and wait until it
        answers eth_chainId. Without `block_time` it mines one block per transaction."""
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="poc-anvil-"))
        folder = work_dir
        return start_with_retries(
            lambda: cls._start_once(
                folder, chain_id, block_time, accounts, start_timeout, detached, port, extra_args
            )
        )

    @classmethod
    def _start_once(
        cls,
        work_dir: Path,
        chain_id: int,
        block_time: float | None,
        accounts: int,
        start_timeout: float,
        detached: bool,
        fixed_port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> AnvilNode:
        port = fixed_port or free_port()
        argv = [
            str(anvil_executable()),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--accounts",
            str(accounts),
            "--mnemonic",
            DEV_MNEMONIC,
        ]
        if block_time is not None:
            argv += ["--block-time", str(block_time)]
        argv += list(extra_args)
        process = ManagedProcess("anvil", argv, work_dir / f"anvil-{port}.log", detached=detached)
        node = cls(process, port, chain_id)
        process.wait_until(
            lambda: rpc_chain_id(node.rpc_url) == chain_id, timeout=start_timeout, interval=0.1
        )
        return node

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout=timeout)

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
