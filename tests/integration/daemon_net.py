"""The protocol deployment as `poc` daemons see it on the session anvil and IPFS node: a config
per account, in-process contexts, stakes, and daemons started and stopped around a block. The
replicated-job and model-dispute suites share it."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roles_helpers import daemon, role_config

from node.chain.abi import protocol_abis
from node.roles.context import RoleContext
from node.roles.localnet import dev_account
from node.storage.ipfs import IpfsStore

ETHER = 10**18


@dataclasses.dataclass
class DaemonNet:
    """The deployment as the daemons see it: a config per account, and in-process contexts."""

    w3: Any
    tmp: Path
    deployment: Any  # node.devnet.pytest_fixtures.ProtocolDeployment
    ipfs_api: str

    def config(self, name: str, index: int) -> Path:
        d = self.deployment
        contracts = {k: v for k, v in d.addresses.model_dump().items() if v}
        return role_config(
            self.tmp / name, index, d.rpc_url, self.ipfs_api, contracts, d.start_block
        )

    def ctx(self, index: int, name: str) -> RoleContext:
        d = self.deployment
        return RoleContext.build(
            self.w3,
            dev_account(index),
            IpfsStore(self.ipfs_api, 5.0),
            self.tmp / name,
            d.addresses.model_dump(),
            protocol_abis(d.abi_dir),
            d.start_block,
        )

    def stake(self, index: int, amount: int = ETHER) -> None:
        """In process (a `poc provider stake` per provider would add seconds of start-up each)."""
        ctx = self.ctx(index, f"staker{index}")
        try:
            ctx.send(ctx.deployment.stake.deposit(amount))
        finally:
            ctx.close()


@contextmanager
def daemons(
    net: DaemonNet, roles: Sequence[tuple[str, int, list[str], list[str] | None]]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """(name, account, args, command): each provider staked 1 ETH first; all stopped on exit."""
    procs = []
    try:
        for _name, index, args, _command in roles:
            if args[0] == "provider":
                net.stake(index)
        for name, index, args, command in roles:
            procs.append(daemon(args, net.config(name, index), net.tmp / f"{name}.log", command))
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
