"""The attacker of issue 11 (F1, F4) on the embedded chain: one owner acting through several
contract accounts (`contracts/test/Puppeteer.sol`) in ONE transaction, e.g. `submitResult` by its
provider puppet and `challenge` by another, or `expire` + `claim`.

`GameVia` lets the test players (`contracts_trace.Match`, `play`) move for a puppet: a move whose
sender is a `PuppetRef` goes through the puppeteer (one transaction per move, or only recorded,
to be replayed later inside a single transaction with everything else)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from node.chain.revert import protocol_decoder
from node.game.actions import FUNCTION

MOVES = frozenset(FUNCTION.values())
_DECODER = protocol_decoder()


@dataclass(frozen=True)
class PuppetRef:
    """A puppet account, as a player's `sender`: its index in the puppeteer and its address."""

    index: int
    address: str


Call = tuple[int, str, int, bytes]  # Puppeteer.Call: actor, target, value, data


@dataclass
class Attacker:
    puppeteer: Any
    owner: Any
    puppets: list[PuppetRef] = field(default_factory=list)

    @classmethod
    def deploy(cls, project: Any, owner: Any, n: int) -> Attacker:
        pp = owner.deploy(project.Puppeteer, n)
        return cls(pp, owner, [PuppetRef(i, str(pp.puppets(i))) for i in range(n)])

    def call(self, actor: int, contract: Any, fn: str, *args: Any, value: int = 0) -> Call:
        """One call of `contract.fn(*args)` by puppet `actor` (not sent)."""
        return (actor, contract.address, value, getattr(contract, fn).encode_input(*args))

    def run(self, *calls: Call) -> Any:
        """All `calls` in one transaction (their values paid by the owner); the receipt."""
        value = sum(c[2] for c in calls)
        return self.puppeteer.run(list(calls), value=value, sender=self.owner)


GENERIC = ("ContractLogicError", "Reverted")  # raised when the error was not decoded


def revert_of(exc: Exception) -> tuple[str, dict[str, Any]]:
    """The custom error (name, arguments) inside a revert that came through the puppeteer. ape
    decodes a custom error when it finds it among the contract types it knows (which depends on
    what the session has loaded: the puppeteer has no errors of its own), rpc_chain by selector;
    otherwise the revert data is decoded here."""
    inputs = getattr(exc, "inputs", None)
    if type(exc).__name__ not in GENERIC and isinstance(inputs, dict):
        return type(exc).__name__, dict(inputs)
    raw = getattr(exc, "data", None)
    data = raw if isinstance(raw, bytes) and raw else getattr(exc, "revert_message", None)
    if isinstance(data, str) and data.startswith(("b'", 'b"')):
        # some session states leave the raw bytes only as their repr in the message
        data = ast.literal_eval(data)
    decoded = _DECODER.decode(data or str(exc))
    return decoded.name, dict(decoded.args)


class GameVia:
    """The DisputeGame contract, except that a move whose `sender` is a `PuppetRef` is made by
    that puppet through the attacker: sent at once, and appended to `recorded` if it is a list."""

    def __init__(self, game: Any, attacker: Attacker, recorded: list[Call] | None = None) -> None:
        self.game = game
        self.attacker = attacker
        self.recorded = recorded

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.game, name)
        if name not in MOVES:
            return target

        def send(gid: int, *args: Any, sender: Any) -> Any:
            if not isinstance(sender, PuppetRef):
                return target(gid, *args, sender=sender)
            call = self.attacker.call(sender.index, self.game, name, gid, *args)
            if self.recorded is not None:
                self.recorded.append(call)
            return self.attacker.run(call)

        return send
