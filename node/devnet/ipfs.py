"""An offline js-ipfs daemon serving the Kubo RPC API on loopback, with a fresh repository per
start. A fresh repository matters: a daemon that was SIGKILLed holds its repo lock for about
20 s, so reusing a repo makes the next start flaky."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from node.devnet.errors import ToolNotFound
from node.devnet.ports import free_port
from node.devnet.process import ManagedProcess, start_with_retries
from node.devnet.tools import jsipfs_executable

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class IpfsPorts:
    api: int
    gateway: int
    rpc: int

    @classmethod
    def pick(cls) -> IpfsPorts:
        return cls(api=free_port(), gateway=free_port(), rpc=free_port())


def offline_config(ports: IpfsPorts) -> dict[str, object]:
    """The config overlay merged into js-ipfs defaults: everything on loopback, no peers,
    no discovery, so the node never tries the network (these machines have none)."""
    return {
        "Addresses": {
            "API": f"/ip4/{LOOPBACK}/tcp/{ports.api}",
            "Gateway": f"/ip4/{LOOPBACK}/tcp/{ports.gateway}",
            "RPC": f"/ip4/{LOOPBACK}/tcp/{ports.rpc}",
            "Swarm": [],
            "Announce": [],
            "NoAnnounce": [],
            "Delegates": [],
        },
        "Bootstrap": [],
        "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}},
    }


def api_multiaddr(port: int, host: str = LOOPBACK) -> str:
    """The address ipfshttpclient.Client expects."""
    return f"/ip4/{host}/tcp/{port}/http"


def api_answers(port: int, host: str = LOOPBACK, timeout: float = 2.0) -> bool:
    """Whether the Kubo RPC API answers /api/v0/version."""
    request = urllib.request.Request(f"http://{host}:{port}/api/v0/version", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(response.status == 200 and "Version" in json.loads(response.read()))
    except (OSError, urllib.error.URLError, ValueError):
        return False


class IpfsNode:
    """A running js-ipfs daemon. Use `IpfsNode.start(...)` and `stop()` (or `with`)."""

    def __init__(
        self, process: ManagedProcess, ports: IpfsPorts, repo: Path, owns_dir: Path | None
    ):
        self.process = process
        self.ports = ports
        self.repo = repo
        self._owns_dir = owns_dir

    @property
    def api_addr(self) -> str:
        return api_multiaddr(self.ports.api)

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls,
        work_dir: Path | None = None,
        start_timeout: float = 90.0,
        detached: bool = False,
    ) -> IpfsNode:
        """Start a daemon with a new repo under `work_dir` (a temp dir, removed on stop,
        when None) and wait until its API answers."""
        node_bin = shutil.which("node")
        if node_bin is None:
            raise ToolNotFound("`node` (Node.js) is not on PATH; js-ipfs needs it")
        owns_dir = None
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="poc-ipfs-"))
            owns_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        folder = work_dir
        try:
            return start_with_retries(
                lambda: cls._start_once(node_bin, folder, owns_dir, start_timeout, detached)
            )
        except BaseException:
            if owns_dir is not None:
                shutil.rmtree(owns_dir, ignore_errors=True)
            raise

    @classmethod
    def _start_once(
        cls,
        node_bin: str,
        work_dir: Path,
        owns_dir: Path | None,
        start_timeout: float,
        detached: bool,
    ) -> IpfsNode:
        repo = Path(tempfile.mkdtemp(prefix="repo-", dir=work_dir))
        # js-ipfs initialises the repo itself when the folder does not exist yet.
        repo.rmdir()
        ports = IpfsPorts.pick()
        config_path = work_dir / f"{repo.name}-config.json"
        config_path.write_text(json.dumps(offline_config(ports), indent=2))
        env = dict(os.environ)
        env.update({"IPFS_PATH": str(repo), "NO_UPDATE_NOTIFIER": "1", "DEBUG": ""})
        argv = [
            node_bin,
            str(jsipfs_executable()),
            "daemon",
            "--init-config",
            str(config_path),
            "--offline",
            "--enable-preload=false",
        ]
        process = ManagedProcess(
            "ipfs", argv, work_dir / f"{repo.name}.log", env=env, detached=detached
        )
        node = cls(process, ports, repo, owns_dir)
        process.wait_until(lambda: api_answers(ports.api), timeout=start_timeout, interval=0.3)
        return node

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout=timeout)
        if self._owns_dir is not None:
            shutil.rmtree(self._owns_dir, ignore_errors=True)

    def __enter__(self) -> IpfsNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
