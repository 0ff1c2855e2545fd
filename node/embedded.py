"""The protocol on ape's embedded chain (eth-tester, in-process) with a local content store:
the zero-setup network of the demo and of the plotted benchmarks. Roles run in this process
and are driven tick by tick; chain time is moved by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import PocError
from node.roles.context import RoleContext


class StageNotReached(PocError):
    """A driven flow did not reach the awaited state within its rounds."""


@dataclass
class EmbeddedNet:
    w3: Any
    chain: Any  # ape's chain manager
    keys: list[str]
    addresses: dict[str, str | None]
    abis: dict[str, list[dict[str, Any]]]
    start_block: int
    workdir: Path
    _contexts: list[RoleContext] = field(default_factory=list)

    def ctx(self, index: int, name: str) -> RoleContext:
        """A role context for test account `index`, its state under `workdir/name`."""
        from eth_account import Account

        from node.storage.local import LocalStore

        c = RoleContext.build(
            self.w3,
            Account.from_key(self.keys[index]),
            LocalStore(self.workdir / "store"),
            self.workdir / name,
            dict(self.addresses),
            self.abis,
            self.start_block,
        )
        self._contexts.append(c)
        return c

    def advance(self, seconds: int) -> None:
        self.chain.pending_timestamp += seconds
        self.chain.mine()

    def drive(
        self, roles: Sequence[Any], until: Callable[[], bool], step_s: int = 0, rounds: int = 200
    ) -> int:
        """Tick every role once per round until `until()`, letting `step_s` of chain time pass
        between rounds; returns the rounds used."""
        for n in range(1, rounds + 1):
            for r in roles:
                r.tick()
            if until():
                return n
            if step_s:
                self.advance(step_s)
        raise StageNotReached(f"flow not done after {rounds} rounds")


@contextmanager
def embedded_net(workdir: Path) -> Iterator[EmbeddedNet]:
    """Deploy the protocol on ape's `test` provider and yield the network; closes every
    context's state store on exit."""
    import ape
    from eth_account import Account

    from node.roles.localnet import deploy_local
    from node.roles.protocol import load_abis

    with ape.networks.ethereum.local.use_provider("test") as provider:
        keys = [str(a.private_key) for a in ape.accounts.test_accounts][:8]
        w3 = provider.web3
        proto = deploy_local(w3, Account.from_key(keys[0]))
        net = EmbeddedNet(
            w3,
            ape.chain,
            keys,
            dict(proto.deployment.addresses),
            load_abis(proto.abi_dir),
            proto.deployment.block,
            workdir,
        )
        try:
            yield net
        finally:
            for c in net._contexts:
                c.close()
