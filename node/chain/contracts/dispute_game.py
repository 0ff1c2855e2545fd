"""DisputeGame: the game view the solver needs (the position from getGame, the provider's
last reveal from its event, matched to the hash the contract stored), the game's events as
records, and one transaction builder for every move (docs/protocol.md §6.3, §6A)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils import keccak

from node.chain.contracts._binding import ContractBinding, EventRecord
from node.chain.sender import TxRequest
from node.game.actions import FUNCTION, Action, Settle, Wait, call_args
from node.game.rules import GameStatus, Phase, Side
from node.game.view import GameView, OpenedOp
from node.program.hashing import sha256

A = TypeVar("A")

# ---- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GameCreated(EventRecord):
    game_id: int
    claim_id: int
    provider: str
    challenger: str
    n_ops: int
    s0: bytes
    s_n: bytes
    clock: int


@dataclass(frozen=True)
class StatesRevealed(EventRecord):
    game_id: int
    lo: int
    hi: int
    roots: tuple[bytes, ...]


@dataclass(frozen=True)
class OpOpened(EventRecord):
    game_id: int
    op_index: int
    op: bytes
    out_root: bytes
    height: int


@dataclass(frozen=True)
class SpecsOpened(EventRecord):
    """v7: the opened op's operand spec sources (in the call's data) passed the table rules."""

    game_id: int
    op_index: int


@dataclass(frozen=True)
class NodesRevealed(EventRecord):
    game_id: int
    height: int
    index: int
    nodes: tuple[bytes, ...]


@dataclass(frozen=True)
class LeafRevealed(EventRecord):
    game_id: int
    leaf_index: int
    leaf: bytes


@dataclass(frozen=True)
class SumsRevealed(EventRecord):
    game_id: int
    lo: int
    hi: int
    sums: tuple[int, ...]


@dataclass(frozen=True)
class GameResolved(EventRecord):
    """The game is decided (the step, or a timeout); its payouts follow at `Settled`."""

    game_id: int
    claim_id: int
    winner: str
    provider_won: bool
    by_timeout: bool


@dataclass(frozen=True)
class Settled(EventRecord):
    """A decided game was paid (the market's callback ran; a timeout settles in its own call)."""

    game_id: int
    claim_id: int
    by: str
    provider_won: bool


GAME_EVENTS: tuple[type[EventRecord], ...] = (
    GameCreated,
    StatesRevealed,
    OpOpened,
    SpecsOpened,
    NodesRevealed,
    LeafRevealed,
    SumsRevealed,
    GameResolved,
    Settled,
)

# ---- the reveal hash ------------------------------------------------------------------------


def words_hash(words: Sequence[bytes]) -> bytes:
    """keccak256(abi.encodePacked(bytes32[])): how the contract stores revealed roots/nodes."""
    return keccak(b"".join(words))


def sums_hash(sums: Sequence[int]) -> bytes:
    """keccak256(abi.encodePacked(int256[])): how the contract stores revealed partial sums."""
    return keccak(b"".join(s.to_bytes(32, "big", signed=True) for s in sums))


def latest_matching(arrays: Sequence[A], reveal_hash: bytes, hash_of: Callable[[A], bytes]) -> A:
    """The latest revealed array whose hash is the one the game stored (a reveal of an earlier
    position, or of another game window, does not match)."""
    for arr in reversed(arrays):
        if hash_of(arr) == reveal_hash:
            return arr
    raise LookupError(f"no revealed array matches the game's reveal hash 0x{reveal_hash.hex()}")


def move_key(game_id: int, side: Side, position: str, fn: str) -> str:
    """The intent key of a move: each position is played at most once per side, so a daemon
    restarted at any moment resumes a move it had sent instead of sending it twice."""
    return f"game:{game_id}:{side.name.lower()}:{position}:{fn}"


class DisputeGameContract(ContractBinding):
    NAME = "DisputeGame"

    def __init__(self, *args: Any, key_prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log2_arity: int | None = None
        # intent keys of another instance's games (the replica market's) must not meet ours
        self.key_prefix = key_prefix

    # ---- reads ----

    def game_count(self) -> int:
        return int(self.read("gameCount"))

    def arity(self) -> int:
        return int(self.read("arity"))

    def log2_arity(self) -> int:
        """log2 of the arity (immutable: read once)."""
        if self._log2_arity is None:
            self._log2_arity = self.arity().bit_length() - 1
        return self._log2_arity

    def deadline(self, game_id: int) -> int:
        return int(self.read("deadline", game_id))

    def mover(self, game_id: int) -> str:
        return str(self.read("mover", game_id))

    def game(self, game_id: int) -> dict[str, Any]:
        """getGame as a dict keyed by the Game struct's Solidity names."""
        result: dict[str, Any] = self.read("getGame", game_id)
        return result

    def game_view(self, game_id: int, now: int | None = None) -> GameView:
        """The solver's view of the game: the position, and for an active game the provider's
        last reveal (a pick phase), the revealed leaf (element pick) or the opened op (step).
        `now`: the chain time (the latest block's timestamp when not given)."""
        g = self.game(game_id)
        if now is None:
            now = int(self.w3.eth.get_block("latest")["timestamp"])
        extra: dict[str, Any] = {}
        if GameStatus(int(g["status"])) == GameStatus.ACTIVE:
            extra = self._revealed(game_id, Phase(int(g["phase"])), g)
        return GameView.of_game(game_id, g, now, self.log2_arity(), **extra)

    def _revealed(self, game_id: int, phase: Phase, g: dict[str, Any]) -> dict[str, Any]:
        reveal_hash = bytes(g["revealHash"])
        if phase == Phase.EXEC_PICK:
            roots = [e.roots for e in self.events(StatesRevealed, game_id)]
            return {"revealed_states": latest_matching(roots, reveal_hash, words_hash)}
        if phase == Phase.TENSOR_PICK:
            nodes = [e.nodes for e in self.events(NodesRevealed, game_id)]
            return {"revealed_nodes": latest_matching(nodes, reveal_hash, words_hash)}
        if phase == Phase.SUM_PICK:
            sums = [e.sums for e in self.events(SumsRevealed, game_id)]
            return {"revealed_sums": latest_matching(sums, reveal_hash, sums_hash)}
        if phase == Phase.ELEMENT_PICK:
            high = bytes(g["high"])
            leaves = [e.leaf for e in self.events(LeafRevealed, game_id)]
            return {"revealed_leaf": next(x for x in reversed(leaves) if sha256(x) == high)}
        if phase in (Phase.OP_SPECS, Phase.STEP):
            opened = self.events(OpOpened, game_id)[-1]
            return {"opened": OpenedOp(opened.op, opened.out_root)}
        return {}

    def events(self, cls: type[A], game_id: int) -> list[A]:
        """The game's `cls` events in the newest window of blocks that has any."""
        logs = self.latest_logs(cls.EVENT, {"gameId": game_id})  # type: ignore[attr-defined]
        return [cls.from_log(log) for log in logs]  # type: ignore[attr-defined]

    # ---- transactions ----

    def move(self, view: GameView, side: Side, action: Action) -> TxRequest:
        """The transaction of one game action (node.game.actions), keyed by the game, the side,
        the position and the function; Wait sends nothing and is refused here."""
        if isinstance(action, Wait):
            raise TypeError(f"{action!r} is not a contract call")
        fn = FUNCTION[type(action)]
        # a game is settled once, whatever position it was decided at
        position = "decided" if isinstance(action, Settle) else view.position
        key = move_key(view.game_id, side, position, fn)
        return self.tx(fn, view.game_id, *call_args(action), key=self.key_prefix + key)

    def timeout(self, game_id: int) -> TxRequest:
        """End a game whose mover's clock ran out (open to anyone; no intent key)."""
        return self.tx("timeout", game_id)

    def settle(self, game_id: int) -> TxRequest:
        """Pay a decided game (open to anyone, once; no intent key)."""
        return self.tx("settle", game_id)
