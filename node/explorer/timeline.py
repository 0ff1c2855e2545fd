"""A game's moves, rebuilt from the chain: which function each move called (from the event it
emitted), who sent it, the gas its transaction used (its receipt), the position it was played
at (the game read at the block before) and both clocks after it (the game read at its block).

The node's own record of a move (node.game.responder.MoveRecord, in its state database) is used
for the position when the RPC endpoint keeps no state of old blocks (a pruned node); the clocks
after the move are then unknown. Two moves of one game in one block (which the node's roles
never do: each answers a mined move) would show the block's end state for both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.chain.contracts._binding import decode_outputs
from node.game.rules import Phase
from node.game.view import GameView

if TYPE_CHECKING:
    from node.chain.contracts.deployment import Deployment
    from node.chain.scanner import ChainEvent
    from node.explorer.node_state import NodeMove

# the DisputeGame function whose event this is (contracts/DisputeGame.sol)
MOVE_OF_EVENT = {
    "StatesRevealed": "revealStates",
    "StatePicked": "pickState",
    "OpOpened": "openOp",
    "SpecsOpened": "openSpecs",
    "NodesRevealed": "revealNodes",
    "NodePicked": "pickNode",
    "LeafRevealed": "revealLeaf",
    "ElementPicked": "pickElement",
    "SumsRevealed": "revealSums",
    "SumPicked": "pickSum",
    "StepChecked": "step",
}
# the phase a move's function is played in (when the position cannot be read)
PHASE_OF_MOVE = {
    "revealStates": Phase.EXEC_REVEAL,
    "pickState": Phase.EXEC_PICK,
    "openOp": Phase.OP_OPEN,
    "openSpecs": Phase.OP_SPECS,
    "revealNodes": Phase.TENSOR_REVEAL,
    "pickNode": Phase.TENSOR_PICK,
    "revealLeaf": Phase.LEAF_REVEAL,
    "pickElement": Phase.ELEMENT_PICK,
    "revealSums": Phase.SUM_REVEAL,
    "pickSum": Phase.SUM_PICK,
    "step": Phase.STEP,
}


@dataclass(frozen=True)
class Move:
    seq: int  # 1, 2, ... in chain order
    move: str  # the DisputeGame function (timeout included)
    side: str  # provider | challenger | other (a timeout anyone may send)
    sender: str
    level: str  # execution | opening | tensor | reduction | step | timeout | settle
    phase: str  # the phase the move was played in, e.g. exec_reveal
    position: str  # where in the game, as `make demo` prints it; "?" when unknown
    gas_used: int
    tx_hash: str
    block: int
    timestamp: int
    provider_clock: int | None  # seconds left after the move; None when unknown
    challenger_clock: int | None
    took: int | None  # seconds since the previous move (what the mover's clock was charged)
    sent_by_node: str | None  # the node role that recorded this move, if any


def position_text(level: str, lo: int, hi: int, height: int, index: int, elem: int) -> str:
    """The position as `make demo` prints it (poc_lab/demo.py)."""
    if level == "execution":
        return f"ops [{lo}, {hi}]"
    if level in ("tensor", "opening"):
        return f"height {height} node {index}"
    if level == "reduction":
        return f"elem {elem} chunks [{lo}, {hi}]"
    return f"leaf {index}" + (f" elem {elem}" if elem >= 0 else "")


class GameReader:
    """Reads the game at past blocks and the moves' receipts, with small caches (the past does
    not change)."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self._receipts: dict[str, Any] = {}
        self._txs: dict[str, Any] = {}
        self._times: dict[int, int] = {}

    def game_at(self, game_id: int, block: int) -> GameView | None:
        """The game as it stood at the end of `block`; None when the endpoint keeps no state
        for that block."""
        game = self.d.game
        entry = game.entry("function", "getGame")
        try:
            raw = game.contract.functions.getGame(game_id).call(block_identifier=block)
        except Exception:  # noqa: BLE001 - a pruned node answers in many ways; all mean "unknown"
            return None
        g = decode_outputs(list(entry.get("outputs", [])), raw)
        return GameView.of_game(game_id, g, self.timestamp(block), game.log2_arity())

    def receipt(self, tx_hash: str) -> Any:
        if tx_hash not in self._receipts:
            self._receipts[tx_hash] = self.d.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        return self._receipts[tx_hash]

    def timestamp(self, block: int) -> int:
        if block not in self._times:
            self._times[block] = int(self.d.w3.eth.get_block(block)["timestamp"])
        return self._times[block]


def _move_name(tx_events: list[ChainEvent]) -> str | None:
    """The move a transaction made on a game: the function of its move event, `timeout` for a
    resolution alone (it settles too), `settle` for the payouts after the step; None for the
    game's creation (the challenge)."""
    for e in tx_events:
        if e.name in MOVE_OF_EVENT:
            return MOVE_OF_EVENT[e.name]
    if any(e.name == "GameResolved" and e.args.get("byTimeout") for e in tx_events):
        return "timeout"
    if any(e.name == "Settled" for e in tx_events):
        return "settle"
    return None


def moves_of_game(
    reader: GameReader,
    game_id: int,
    events: list[ChainEvent],
    provider: str,
    challenger: str,
    node_moves: dict[str, NodeMove] | None = None,
) -> list[Move]:
    """The game's moves in chain order from its DisputeGame events (one move per transaction)."""
    node_moves = node_moves or {}
    by_tx: dict[str, list[ChainEvent]] = {}
    for e in events:
        if e.contract == "game":
            by_tx.setdefault(e.tx_hash, []).append(e)
    out: list[Move] = []
    previous_at: int | None = None
    created = [e for e in events if e.name == "GameCreated"]
    if created:
        previous_at = reader.timestamp(created[0].block_number)
    for tx_hash, tx_events in by_tx.items():
        name = _move_name(tx_events)
        if name is None:
            continue
        block = tx_events[0].block_number
        receipt = reader.receipt(tx_hash)
        sender = str(receipt["from"])
        before = reader.game_at(game_id, block - 1)
        after = reader.game_at(game_id, block)
        mine = node_moves.get(tx_hash.lower())
        phase, where = _where(name, before, mine)
        if name in ("timeout", "settle"):  # open to anyone
            side = _role_of(sender, provider, challenger)
        else:
            side = "provider" if phase.provider_moves else "challenger"
        level = name if name in ("timeout", "settle") else phase.level
        when = reader.timestamp(block)
        out.append(
            Move(
                seq=len(out) + 1,
                move=name,
                side=side,
                sender=sender,
                level=level,
                phase=phase.name.lower(),
                position=where,
                gas_used=int(receipt["gasUsed"]),
                tx_hash=tx_hash,
                block=block,
                timestamp=when,
                provider_clock=after.provider_clock if after else None,
                challenger_clock=after.challenger_clock if after else None,
                took=None if previous_at is None else when - previous_at,
                sent_by_node=mine.role if mine else None,
            )
        )
        previous_at = when
    return out


def _where(name: str, before: GameView | None, mine: NodeMove | None) -> tuple[Phase, str]:
    if before is not None:
        v = before
        return v.phase, position_text(v.phase.level, v.lo, v.hi, v.height, v.index, v.elem)
    if mine is not None:
        m = mine.data
        phase = Phase(int(m["phase"]))
        text = position_text(phase.level, m["lo"], m["hi"], m["height"], m["index"], m["elem"])
        return phase, text
    return PHASE_OF_MOVE.get(name, Phase.NONE), "?"


def _role_of(address: str, provider: str, challenger: str) -> str:
    a = address.lower()
    if a == provider.lower():
        return "provider"
    if a == challenger.lower():
        return "challenger"
    return "other"
