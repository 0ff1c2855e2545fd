"""The responder: turns the solver's actions into DisputeGame transactions and sends them.

Each action becomes a request from the game's binding (node.chain.contracts.dispute_game: the
arguments strictly encoded, an intent key naming the game, the side, the position and the move)
and goes out through the role's one sending path (RoleContext.send, the TxSender: dry run, nonce,
the signed transaction persisted before broadcast). A daemon restarted at any moment therefore
resumes a move it had sent instead of sending it twice. Every mined move is recorded in the state
store and published as a MoveRecord to observers (logs, the demo)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from node.chain.contracts.errors import STALE_MOVE
from node.chain.errors import TransactionReverted
from node.chain.sender import TxRequest
from node.game.actions import FUNCTION, Action, Settle, StepMove, Timeout, Wait
from node.game.rules import Side
from node.game.view import GameView
from node.state.store import StateStore

if TYPE_CHECKING:
    from node.chain.contracts.dispute_game import DisputeGameContract

log = logging.getLogger(__name__)


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
        send: Callable[[TxRequest], Any],
        game: DisputeGameContract,
        state: StateStore | None = None,
        observers: list[MoveObserver] | None = None,
    ) -> None:
        self.send = send
        self.game = game
        self.state = state
        self.observers: list[MoveObserver] = list(observers or [])

    def execute(self, view: GameView, side: Side, actions: list[Action]) -> list[MoveRecord]:
        """Send each action (Wait sends nothing); returns the moves mined. A mined step decided
        the game: if in our favour, its settlement (the payouts, a transaction of its own)
        follows at once (a lost game is left to its winner: node.game.solver.solve)."""
        done = []
        for action in actions:
            if isinstance(action, Wait):
                continue
            record = self._send(view, side, action)
            if record is not None:
                done.append(record)
                if isinstance(action, StepMove):
                    # recorded with the game as the step left it (its clocks)
                    decided = self.game.game_view(view.game_id)
                    if decided.unsettled and decided.won(side):
                        settled = self._send(decided, side, Settle())
                        if settled is not None:
                            done.append(settled)
        return done

    def _send(self, view: GameView, side: Side, action: Action) -> MoveRecord | None:
        fn_name = FUNCTION[type(action)]
        request = self.game.move(view, side, action)
        key = str(request.key)
        try:
            receipt = self.send(request)
        except TransactionReverted as exc:
            # "the position moved on before our move landed" (another party, or our own
            # earlier run, already acted): not an error, the next tick re-reads the game
            if exc.error_name in STALE_MOVE:
                log.info(
                    "game %d: %s not sent (%s); re-reading next tick",
                    view.game_id,
                    fn_name,
                    exc.sentence,
                )
                return None
            raise
        record = MoveRecord(
            game_id=view.game_id,
            side=side.name.lower(),
            move=fn_name,
            level=_level(view, action),
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

    def _remember(self, key: str, record: MoveRecord) -> None:
        if self.state is None:
            return
        known = self.state.moves(record.game_id)
        seq = next((m["seq"] for m in known if m["data"].get("key") == key), len(known))
        data: dict[str, Any] = {**asdict(record), "key": key}
        self.state.record_move(record.game_id, seq, record.move, data, record.tx_hash)


def _level(view: GameView, action: Action) -> str:
    if isinstance(action, Timeout):
        return "timeout"
    if isinstance(action, Settle):
        return "settle"
    return view.phase.level
