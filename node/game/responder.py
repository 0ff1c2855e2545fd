"""The responder: the only code that sends dispute-game transactions.

It executes the solver's actions through node.chain's TxSender (dry run first, nonce
management, the signed transaction persisted under an intent key before broadcast). The key
names the game, the position and the move, so a daemon restarted at any moment resumes a move
it had sent instead of sending it twice. Every mined move is recorded in the state store and
published as a MoveRecord to observers (logs, the demo)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from web3.contract import Contract

from node.chain.errors import TransactionReverted
from node.chain.sender import TxRequest, TxSender
from node.game.actions import FUNCTION, Action, Timeout, Wait, call_args
from node.game.view import GameView, Side
from node.state.store import StateStore

log = logging.getLogger(__name__)

# Reverts that only mean "the position moved on before our move landed" (another party, or our
# own earlier run, already acted): not errors, the next tick re-reads the game.
STALE = {"WrongPhase", "NotMover", "GameOver", "RevealMismatch", "ClockRunning", "ClockExpired"}


@dataclass(frozen=True)
class MoveRecord:
    """One mined move, for logs and observers (the demo prints these)."""

    game_id: int
    side: str  # provider | challenger
    move: str  # the DisputeGame function
    level: str  # execution | opening | tensor | reduction | step
    phase: int
    lo: int
    hi: int
    height: int
    index: int
    elem: int
    gas_used: int
    tx_hash: str
    provider_clock: int
    challenger_clock: int
    timestamp: float


MoveObserver = Callable[[MoveRecord], None]


class Responder:
    def __init__(
        self,
        sender: TxSender,
        game: Contract,
        state: StateStore | None = None,
        observers: list[MoveObserver] | None = None,
    ) -> None:
        self.sender = sender
        self.game = game
        self.state = state
        self.observers: list[MoveObserver] = list(observers or [])

    def execute(self, view: GameView, side: Side, actions: list[Action]) -> list[MoveRecord]:
        """Send each action (Wait sends nothing); returns the moves mined."""
        done = []
        for action in actions:
            if isinstance(action, Wait):
                continue
            record = self._send(view, side, action)
            if record is not None:
                done.append(record)
        return done

    def _send(self, view: GameView, side: Side, action: Action) -> MoveRecord | None:
        fn_name = FUNCTION[type(action)]
        args = _encode(self._inputs(fn_name)[1:], call_args(action))
        fn = self.game.functions[fn_name](view.game_id, *args)
        key = f"game:{view.game_id}:{side.name.lower()}:{view.position}:{fn_name}"
        try:
            receipt = self.sender.send(TxRequest.call(fn, key=key))
        except TransactionReverted as exc:
            if exc.error_name in STALE:
                log.info(
                    "game %d: %s not sent (%s); re-reading next tick",
                    view.game_id,
                    fn_name,
                    exc.error_name,
                )
                return None
            raise
        record = MoveRecord(
            game_id=view.game_id,
            side=side.name.lower(),
            move=fn_name,
            level="timeout" if isinstance(action, Timeout) else view.phase.level,
            phase=int(view.phase),
            lo=view.lo,
            hi=view.hi,
            height=view.height,
            index=view.index,
            elem=view.elem,
            gas_used=int(receipt["gasUsed"]),
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            provider_clock=view.provider_clock,
            challenger_clock=view.challenger_clock,
            timestamp=time.time(),
        )
        self._remember(key, record)
        log.info(
            "game %d: %s %s at %s [%d, %d] h%d i%d, gas %d",
            view.game_id,
            record.side,
            fn_name,
            record.level,
            view.lo,
            view.hi,
            view.height,
            view.index,
            record.gas_used,
            extra={"move": asdict(record)},
        )
        for observe in self.observers:
            observe(record)
        return record

    def _inputs(self, fn_name: str) -> list[dict[str, Any]]:
        for entry in self.game.abi:
            if entry.get("type") == "function" and entry.get("name") == fn_name:
                return list(entry.get("inputs", []))  # type: ignore[call-overload]
        raise KeyError(f"DisputeGame ABI has no {fn_name}")

    def _remember(self, key: str, record: MoveRecord) -> None:
        if self.state is None:
            return
        known = self.state.moves(record.game_id)
        seq = next((m["seq"] for m in known if m["data"].get("key") == key), len(known))
        data: dict[str, Any] = {**asdict(record), "key": key}
        self.state.record_move(record.game_id, seq, record.move, data, record.tx_hash)


def _encode(inputs: list[dict[str, Any]], args: list[object]) -> list[object]:
    """Structs given as dicts become tuples in the ABI's field order (extra fields dropped)."""
    out: list[object] = []
    for param, arg in zip(inputs, args, strict=True):
        if param["type"] == "tuple" and isinstance(arg, dict):
            missing = [c["name"] for c in param["components"] if c["name"] not in arg]
            if missing:
                raise KeyError(f"{param['name']} needs fields {missing} the solver does not give")
            out.append(tuple(arg[c["name"]] for c in param["components"]))
        else:
            out.append(arg)
    return out
