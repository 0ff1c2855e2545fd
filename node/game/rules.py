"""The rules of the dispute game in Python, once: the phase table, the evenly spaced points and
the position transitions of contracts/lib/GamePosition.sol (protocol.md §6.3).

Everything here is pure: a transition takes a GameView and returns the next one. Nothing checks
a move (DisputeGame checks proofs and lengths; tests/node/roles/referee.py mirrors those
checks); these functions only say where a legal move leads, exactly as the contract moves its
position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from enum import IntEnum
from typing import TYPE_CHECKING

from node.game import actions as act
from node.program.constants import LEAF_ELEMS, REDUCTION_OPS, DType
from node.program.merkle import depth_for
from node.program.ops import Op
from node.program.packing import unpack

if TYPE_CHECKING:
    from node.game.view import GameView

WORD = 32


class Phase(IntEnum):
    """DisputeGame.Phase (protocol.md §6.3). The numbers are the contract's, not the order of
    play: OP_SPECS (v7) comes between OP_OPEN and TENSOR_REVEAL; compare phases with `order`."""

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
    OP_SPECS = 11  # v7: the opening's second move, appended (the other numbers stay)

    @property
    def provider_moves(self) -> bool:
        return self in _PROVIDER_PHASES

    @property
    def order(self) -> int:
        """The phase's place in the order of play (OP_SPECS right after OP_OPEN)."""
        return _ORDER[self]

    @property
    def level(self) -> str:
        """The dissection level the phase belongs to (for logs and the demo)."""
        return _LEVELS[self]


_PROVIDER_PHASES = {
    Phase.EXEC_REVEAL,
    Phase.OP_OPEN,
    Phase.OP_SPECS,
    Phase.TENSOR_REVEAL,
    Phase.LEAF_REVEAL,
    Phase.SUM_REVEAL,
}
_PLAY_ORDER = (
    Phase.NONE,
    Phase.EXEC_REVEAL,
    Phase.EXEC_PICK,
    Phase.OP_OPEN,
    Phase.OP_SPECS,
    Phase.TENSOR_REVEAL,
    Phase.TENSOR_PICK,
    Phase.LEAF_REVEAL,
    Phase.ELEMENT_PICK,
    Phase.SUM_REVEAL,
    Phase.SUM_PICK,
    Phase.STEP,
)
_ORDER = {p: i for i, p in enumerate(_PLAY_ORDER)}
_LEVELS = {
    Phase.NONE: "none",
    Phase.EXEC_REVEAL: "execution",
    Phase.EXEC_PICK: "execution",
    Phase.OP_OPEN: "opening",
    Phase.OP_SPECS: "opening",
    Phase.TENSOR_REVEAL: "tensor",
    Phase.TENSOR_PICK: "tensor",
    Phase.LEAF_REVEAL: "reduction",
    Phase.ELEMENT_PICK: "reduction",
    Phase.SUM_REVEAL: "reduction",
    Phase.SUM_PICK: "reduction",
    Phase.STEP: "step",
}
# a reveal hands the move to the challenger's pick of the same level
PICK_AFTER = {
    Phase.EXEC_REVEAL: Phase.EXEC_PICK,
    Phase.TENSOR_REVEAL: Phase.TENSOR_PICK,
    Phase.LEAF_REVEAL: Phase.ELEMENT_PICK,
    Phase.SUM_REVEAL: Phase.SUM_PICK,
}


class GameStatus(IntEnum):
    """DisputeGame.Status."""

    NONE = 0
    ACTIVE = 1
    PROVIDER_WON = 2
    CHALLENGER_WON = 3


class Side(IntEnum):
    PROVIDER = 1
    CHALLENGER = 2


def points(lo: int, hi: int, arity: int) -> list[int]:
    """p_0 .. p_n of [lo, hi] with n = min(arity, hi - lo) (protocol.md §6.3)."""
    w = hi - lo
    n = min(arity, w)
    return [lo + i * w // n for i in range(n + 1)]


def word(v: int) -> bytes:
    """A partial sum as the contract stores it (int256 as bytes32)."""
    return v.to_bytes(WORD, "big", signed=True)


def first_phase(n_ops: int) -> Phase:
    """GamePosition.init: a one-op program starts at the opening."""
    return Phase.OP_OPEN if n_ops == 1 else Phase.EXEC_REVEAL


# ---- transitions (GamePosition.sol) ----


def initial(
    s0: bytes,
    s_n: bytes,
    n_inputs: int,
    n_ops: int,
    *,
    log2_arity: int,
    clock: int,
    now: int = 0,
    game_id: int = 1,
    claim_id: int = 1,
    provider: str = "P",
    challenger: str = "C",
) -> GameView:
    """GamePosition.init: the execution level over [0, nOps], S_0 agreed, S_N disputed."""
    from node.game.view import GameView

    return GameView(
        game_id=game_id,
        claim_id=claim_id,
        status=GameStatus.ACTIVE,
        phase=first_phase(n_ops),
        provider=provider,
        challenger=challenger,
        lo=0,
        hi=n_ops,
        low=s0,
        high=s_n,
        n_inputs=n_inputs,
        n_ops=n_ops,
        provider_clock=clock,
        challenger_clock=clock,
        last_move_at=now,
        now=now,
        log2_arity=log2_arity,
    )


def reveal(
    v: GameView,
    *,
    roots: Sequence[bytes] | None = None,
    sums: Sequence[int] | None = None,
    leaf: bytes | None = None,
) -> GameView:
    """GamePosition.revealed / leafRevealed: the provider showed its array; the challenger picks
    next. The view keeps the array (the contract only its hash)."""
    nv = replace(v, phase=PICK_AFTER[v.phase])
    if roots is not None and v.phase == Phase.EXEC_REVEAL:
        nv = replace(nv, revealed_states=tuple(roots))
    elif roots is not None:
        nv = replace(nv, revealed_nodes=tuple(roots))
    if sums is not None:
        nv = replace(nv, revealed_sums=tuple(sums))
    if leaf is not None:
        nv = replace(nv, revealed_leaf=leaf)
    return nv


def narrow(v: GameView, revealed: Sequence[bytes], seg: int) -> GameView:
    """GamePosition.narrow: segment `seg` of the points of [lo, hi] (`revealed` holds the
    interior values as 32-byte words); an end the segment shares with the interval keeps its
    value. Execution level: the opening at width one; reduction level: the step."""
    n = len(revealed) + 1
    w = v.hi - v.lo
    lo, hi = v.lo + seg * w // n, v.lo + (seg + 1) * w // n
    execution = v.phase == Phase.EXEC_PICK
    if hi - lo == 1:
        phase = Phase.OP_OPEN if execution else Phase.STEP
    else:
        phase = Phase.EXEC_REVEAL if execution else Phase.SUM_REVEAL
    return replace(
        v,
        lo=lo,
        hi=hi,
        low=revealed[seg - 1] if seg != 0 else v.low,
        high=revealed[seg] if seg != n - 1 else v.high,
        phase=phase,
    )


def open_op(v: GameView, op_bytes: bytes, out_root: bytes) -> GameView:
    """GamePosition.opOpened: op `lo` is opened (its leaf proof, op rules and output slot);
    the disputed value is its output root; its operand specs follow (`openSpecs`, v7)."""
    from node.game.view import OpenedOp

    return replace(v, phase=Phase.OP_SPECS, high=out_root, opened=OpenedOp(op_bytes, out_root))


def open_specs(v: GameView, op_bytes: bytes, out_root: bytes) -> GameView:
    """GamePosition.openOp (at `openSpecs`): the op passed the table rules; the position
    becomes the root of its output tree (or, for a one-leaf output, that leaf at once)."""
    from node.game.view import OpenedOp

    op = Op.decode(op_bytes)
    leaves = op.out_spec.n_leaves
    nv = replace(
        v,
        op_index=v.lo,
        opcode=int(op.opcode),
        out_leaves=leaves,
        k_chunks=op.K // LEAF_ELEMS,
        height=depth_for(leaves),
        index=0,
        high=out_root,
        opened=OpenedOp(op_bytes, out_root),
    )
    return at_leaf(nv) if nv.height == 0 else replace(nv, phase=Phase.TENSOR_REVEAL)


def descend(v: GameView, child: int, node: bytes) -> GameView:
    """GamePosition.descend: down `m = min(log2 k, height)` levels to the picked node."""
    m = min(v.log2_arity, v.height)
    nv = replace(v, height=v.height - m, index=(v.index << m) | child, high=node)
    return at_leaf(nv) if nv.height == 0 else replace(nv, phase=Phase.TENSOR_REVEAL)


def at_leaf(v: GameView) -> GameView:
    """GamePosition.atLeaf: a real matmul leaf goes to the reduction level, any other leaf
    (elementwise, or a matmul padding leaf) to the step."""
    real = v.opcode in REDUCTION_OPS and v.index < v.out_leaves
    return replace(v, phase=Phase.LEAF_REVEAL if real else Phase.STEP)


def start_reduction(v: GameView, elem: int, value: int) -> GameView:
    """GamePosition.startReduction: element `elem` (claimed value `value`) over chunks
    [0, K/32], P_0 = 0 agreed. (The contract leaves its stale `low` word while lo = 0; the view
    holds the agreed 0.)"""
    return replace(
        v,
        elem=elem,
        chunk_step=True,
        lo=0,
        hi=v.k_chunks,
        low=word(0),
        high=word(value),
        phase=Phase.STEP if v.k_chunks == 1 else Phase.SUM_REVEAL,
    )


def resolve(v: GameView, provider_won: bool) -> GameView:
    """GamePosition.decide: the game is over (decided); its payouts wait for `settle`."""
    return replace(v, status=GameStatus.PROVIDER_WON if provider_won else GameStatus.CHALLENGER_WON)


def settle(v: GameView) -> GameView:
    """GamePosition.settle: a decided game's payouts are made, once."""
    if not v.unsettled:
        raise ValueError(f"game {v.game_id} is not decided and unpaid")
    return replace(v, settled=True)


def after(v: GameView, action: act.Action) -> GameView:
    """The position after a legal move (every move but the step, whose outcome is the
    verifier's: see `resolve`)."""
    if isinstance(action, act.RevealStates):
        return reveal(v, roots=action.roots)
    if isinstance(action, act.RevealNodes):
        return reveal(v, roots=action.nodes)
    if isinstance(action, act.RevealLeaf):
        return reveal(v, leaf=action.leaf)
    if isinstance(action, act.RevealSums):
        return reveal(v, sums=action.sums)
    if isinstance(action, act.PickState):
        return narrow(v, action.roots, action.seg)
    if isinstance(action, act.PickSum):
        return narrow(v, [word(s) for s in action.sums], action.seg)
    if isinstance(action, act.OpenOp):
        return open_op(v, action.opening.op, action.opening.out_root)
    if isinstance(action, act.OpenSpecs):
        return open_specs(v, action.opening.op, action.opening.out_root)
    if isinstance(action, act.PickNode):
        return descend(v, action.child, action.nodes[action.child])
    if isinstance(action, act.PickElement):
        return start_reduction(v, action.elem, int(unpack(action.leaf, DType.INT32)[action.elem]))
    if isinstance(action, act.Settle):
        return settle(v)
    raise ValueError(f"{type(action).__name__} has no position transition of its own")
