"""What the solver sees of one game: the contract's position (DisputeGame.getGame), the array
the provider revealed last (from its event; the contract keeps only its hash), the opened op,
and the chain time. Plain data, built by node.roles.protocol from chain reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Phase(IntEnum):
    """DisputeGame.Phase (protocol.md §6.3)."""

    NONE = 0
    EXEC_REVEAL = 1
    EXEC_PICK = 2
    OP_OPEN = 3
    TENSOR_REVEAL = 4
    TENSOR_PICK = 5
    LEAF_REVEAL = 6
    ELEMENT_PICK = 7
    SUM_REVEAL = 8
    SUM_PICK = 9
    STEP = 10

    @property
    def provider_moves(self) -> bool:
        return self in _PROVIDER_PHASES

    @property
    def level(self) -> str:
        """The dissection level the phase belongs to (for logs and the demo)."""
        return _LEVELS[self]


_PROVIDER_PHASES = {
    Phase.EXEC_REVEAL,
    Phase.OP_OPEN,
    Phase.TENSOR_REVEAL,
    Phase.LEAF_REVEAL,
    Phase.SUM_REVEAL,
}
_LEVELS = {
    Phase.NONE: "none",
    Phase.EXEC_REVEAL: "execution",
    Phase.EXEC_PICK: "execution",
    Phase.OP_OPEN: "opening",
    Phase.TENSOR_REVEAL: "tensor",
    Phase.TENSOR_PICK: "tensor",
    Phase.LEAF_REVEAL: "reduction",
    Phase.ELEMENT_PICK: "reduction",
    Phase.SUM_REVEAL: "reduction",
    Phase.SUM_PICK: "reduction",
    Phase.STEP: "step",
}


class GameStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    PROVIDER_WON = 2
    CHALLENGER_WON = 3


class Side(IntEnum):
    PROVIDER = 1
    CHALLENGER = 2


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
    height: int  # tensor level: height of the current node above the leaves
    index: int  # tensor level: index of the current node at its height (leaf index at 0)
    elem: int  # reduction level: element of the leaf
    chunk_step: bool
    low: bytes  # agreed value: S_lo or P_lo (as a 32-byte word)
    high: bytes  # disputed value
    n_inputs: int
    n_ops: int
    op_index: int
    opcode: int
    out_leaves: int
    k_chunks: int
    provider_clock: int  # seconds left
    challenger_clock: int
    last_move_at: int
    now: int  # timestamp of the latest block
    log2_arity: int
    revealed_roots: tuple[bytes, ...] = ()  # the provider's last reveal, for a pick phase
    revealed_sums: tuple[int, ...] = ()
    revealed_leaf: bytes = b""
    opened: OpenedOp | None = None

    @property
    def arity(self) -> int:
        return 1 << self.log2_arity

    @property
    def active(self) -> bool:
        return self.status == GameStatus.ACTIVE

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


def points(lo: int, hi: int, arity: int) -> list[int]:
    """p_0 .. p_n of [lo, hi] with n = min(arity, hi - lo) (protocol.md §6.3)."""
    w = hi - lo
    n = min(arity, w)
    return [lo + i * w // n for i in range(n + 1)]
