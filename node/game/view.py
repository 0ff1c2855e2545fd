"""What the solver sees of one game: the contract's position (DisputeGame.getGame), the array
the provider revealed last (from its event; the contract keeps only its hash), the opened op,
and the chain time. Plain data, built by node.chain.contracts.dispute_game from chain reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

from node.game.rules import GameStatus, Phase, Side


@dataclass(frozen=True)
class OpenedOp:
    """The op opened at the end of the execution level (OpOpened event): the step must pass
    the same op bytes the provider bound."""

    op: bytes
    out_root: bytes


@dataclass(frozen=True)
class GameView:
    game_id: int
    claim_id: int
    status: GameStatus
    phase: Phase
    provider: str
    challenger: str
    lo: int  # execution level: op interval; reduction level: chunk interval
    hi: int
    low: bytes  # agreed value: S_lo or P_lo (as a 32-byte word)
    high: bytes  # disputed value
    n_inputs: int
    n_ops: int
    provider_clock: int  # seconds left
    challenger_clock: int
    last_move_at: int
    now: int  # timestamp of the latest block
    log2_arity: int
    # set by the opening (0 on the execution level)
    op_index: int = 0
    opcode: int = 0
    out_leaves: int = 0
    k_chunks: int = 0
    height: int = 0  # tensor level: height of the current node above the leaves
    index: int = 0  # tensor level: index of the current node at its height (leaf index at 0)
    elem: int = 0  # reduction level: element of the leaf
    chunk_step: bool = False
    settled: bool = False  # decided and paid (DisputeGame.settle ran; a timeout does both)
    # the provider's last reveal, for the pick that follows it (the contract keeps its hash)
    revealed_states: tuple[bytes, ...] = ()  # execution: S_p at the interior points
    revealed_nodes: tuple[bytes, ...] = ()  # tensor: the nodes m levels below the current one
    revealed_sums: tuple[int, ...] = ()
    revealed_leaf: bytes = b""
    opened: OpenedOp | None = None

    @classmethod
    def of_game(cls, game_id: int, g: Any, now: int, log2_arity: int, **revealed: Any) -> GameView:
        """The view of DisputeGame.getGame's struct `g` (each field read by its Solidity name,
        the camelCase of ours, from a mapping or as attributes); `revealed`: the revealed_* and
        opened fields, which the contract keeps only as hashes."""

        def f(name: str) -> Any:
            solidity = _camel(name)
            return g[solidity] if isinstance(g, Mapping) else getattr(g, solidity)

        hints = get_type_hints(cls)
        from_game = {name: hints[name](f(name)) for name in _FROM_GAME}
        return cls(game_id=game_id, now=now, log2_arity=log2_arity, **from_game, **revealed)

    @property
    def arity(self) -> int:
        return 1 << self.log2_arity

    @property
    def active(self) -> bool:
        return self.status == GameStatus.ACTIVE

    @property
    def unsettled(self) -> bool:
        """Decided (by the step) but not yet paid: anyone may call settle, and until then the
        game holds its claim open (protocol.md §6.5)."""
        return (
            self.status in (GameStatus.PROVIDER_WON, GameStatus.CHALLENGER_WON) and not self.settled
        )

    def won(self, side: Side) -> bool:
        """Decided in `side`'s favour (paid or not)."""
        winner = {
            GameStatus.PROVIDER_WON: Side.PROVIDER,
            GameStatus.CHALLENGER_WON: Side.CHALLENGER,
        }
        return winner.get(self.status) == side

    @property
    def open(self) -> bool:
        """Still holds its claim open: moves left, or decided and unpaid."""
        return self.active or self.unsettled

    @property
    def mover(self) -> Side:
        return Side.PROVIDER if self.phase.provider_moves else Side.CHALLENGER

    @property
    def deadline(self) -> int:
        """After this timestamp the side to move has run out of time (timeout() works)."""
        budget = self.provider_clock if self.mover == Side.PROVIDER else self.challenger_clock
        return self.last_move_at + budget

    @property
    def op_slot(self) -> int:
        return self.n_inputs + self.op_index

    @property
    def position(self) -> str:
        """Names the position uniquely within the game: each is played at most once."""
        return f"{int(self.phase)}:{self.lo}-{self.hi}:{self.height}.{self.index}:{self.elem}"


# the GameView fields read from DisputeGame.getGame (the others come from the caller)
_FROM_GAME = tuple(
    f.name
    for f in fields(GameView)
    if f.name not in ("game_id", "now", "log2_arity")
    and not f.name.startswith(("revealed", "opened"))
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)
