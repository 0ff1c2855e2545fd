"""The protocol on ape's embedded chain (eth-tester, in-process) with a local content store:
the zero-setup network of the demo and of the plotted benchmarks. It is the anvil
`LocalScenario` on ape's web3 (ape's test accounts are anvil's dev accounts, same mnemonic);
only chain time moves differently. Roles run in this process and are driven tick by tick."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.errors import PocError
from node.roles.localnet import LocalScenario


class StageNotReached(PocError):
    """A driven flow did not reach the awaited state within its rounds."""


class EmbeddedNet(LocalScenario):
    def __init__(self, work: Path, chain: Any) -> None:
        super().__init__(work, w3=chain.provider.web3)
        self.chain = chain  # ape's chain manager

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

    with ape.networks.ethereum.local.use_provider("test"), EmbeddedNet(workdir, ape.chain) as net:
        yield net
