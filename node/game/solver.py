"""The solver: a pure function from a game view and the party's own trace to its next move.

The provider reveals from its trace; the challenger points at the first segment, child, element
or partial sum it disagrees with, comparing the provider's revealed values with its own trace,
and at the bottom supplies the operands of the one step. Nothing here reads the chain or sends
anything (node.game.responder does); the same view and trace always give the same actions."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from node.game.actions import (
    Action,
    OpenOp,
    OpOpening,
    PickElement,
    PickNode,
    PickState,
    PickSum,
    RevealLeaf,
    RevealNodes,
    RevealStates,
    RevealSums,
    Step,
    StepData,
    Timeout,
    Wait,
)
from node.game.view import GameView, Phase, Side, points
from node.program.constants import NO_SLOT, DType, Opcode
from node.program.packing import unpack
from node.program.program import Program


class GameTrace(Protocol):
    """What the solver asks of a computation (node.trace.provider.TraceProvider has it)."""

    program: Program

    def state_root(self, i: int) -> bytes: ...

    def state_proof(self, i: int, slot: int) -> list[bytes]: ...

    def root(self, slot: int) -> bytes: ...

    def program_proof(self, op_index: int) -> tuple[bytes, list[bytes]]: ...

    def children(self, slot: int, level: int, index: int, m: int) -> list[bytes]: ...

    def leaf(self, slot: int, j: int) -> bytes: ...

    def partial_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]: ...

    def step_witness(
        self, op_index: int, leaf_index: int, elem: int | None = None, chunk: int | None = None
    ) -> object: ...


class Strategy(Enum):
    HONEST = "honest"
    # test-only behaviours (node.game.adversary gates them)
    SILENT = "silent"  # never moves, never claims a timeout
    WRONG_PICK = "wrong-pick"  # challenger: points at a part it agrees with


def solve(
    view: GameView, side: Side, trace: GameTrace, strategy: Strategy = Strategy.HONEST
) -> list[Action]:
    """The next action(s) of `side` in the game seen in `view`."""
    if not view.active:
        return [Wait(f"game over ({view.status.name.lower()})")]
    if strategy is Strategy.SILENT:
        return [Wait("silent (test-only)")]
    if view.mover != side:
        if view.now > view.deadline:
            return [Timeout()]
        return [Wait("the other side moves", until=view.deadline + 1)]
    if view.now > view.deadline:
        return [Wait("our clock has run out")]
    if side == Side.PROVIDER:
        return [_provider_move(view, trace)]
    return [_challenger_move(view, trace, strategy)]


# ---- provider: reveal from the trace ----


def _provider_move(v: GameView, t: GameTrace) -> Action:
    if v.phase == Phase.EXEC_REVEAL:
        return RevealStates(tuple(t.state_root(p) for p in points(v.lo, v.hi, v.arity)[1:-1]))
    if v.phase == Phase.OP_OPEN:
        return OpenOp(_opening(v.lo, t))
    if v.phase == Phase.TENSOR_REVEAL:
        m = min(v.log2_arity, v.height)
        return RevealNodes(tuple(t.children(v.op_slot, v.height, v.index, m)))
    if v.phase == Phase.LEAF_REVEAL:
        return RevealLeaf(t.leaf(v.op_slot, v.index))
    if v.phase == Phase.SUM_REVEAL:
        sums = t.partial_sums(v.op_index, v.index, v.elem)
        return RevealSums(tuple(sums[p] for p in points(v.lo, v.hi, v.arity)[1:-1]))
    raise AssertionError(f"provider has no move in phase {v.phase.name}")


def _opening(a: int, t: GameTrace) -> OpOpening:
    """Op `a` from the program root, its operands from S_a, its output slot empty in S_a and
    set in S_{a+1} (one sibling path serves both: the states differ only in that slot)."""
    op = t.program.ops[a]
    enc, op_proof = t.program_proof(a)
    b_root, b_proof = bytes(32), tuple[bytes, ...]()
    if op.b != NO_SLOT:
        b_root, b_proof = t.root(op.b), tuple(t.state_proof(a, op.b))
    return OpOpening(
        enc,
        tuple(op_proof),
        t.root(op.a),
        tuple(t.state_proof(a, op.a)),
        b_root,
        b_proof,
        t.root(op.out),
        tuple(t.state_proof(a + 1, op.out)),
    )


# ---- challenger: point at the first disagreement ----


def _first_mismatch(
    mine: Sequence[object], theirs: Sequence[object], otherwise: int, strategy: Strategy
) -> int:
    diff = [i for i, (x, y) in enumerate(zip(mine, theirs, strict=True)) if x != y]
    if strategy is Strategy.WRONG_PICK:
        # Deliberately point at a part whose value we agree with (a losing challenger).
        same = [i for i in range(len(mine)) if i not in diff]
        return same[0] if same else otherwise
    return diff[0] if diff else otherwise


def _challenger_move(v: GameView, t: GameTrace, strategy: Strategy) -> Action:
    if v.phase == Phase.EXEC_PICK:
        pts = points(v.lo, v.hi, v.arity)
        mine = [t.state_root(p) for p in pts[1:-1]]
        # All interior roots agree: the disputed high end is the one we reject (last segment).
        seg = _first_mismatch(
            mine + [b"mine"], list(v.revealed_roots) + [b"theirs"], len(pts) - 2, strategy
        )
        return PickState(v.revealed_roots, seg)
    if v.phase == Phase.TENSOR_PICK:
        m = min(v.log2_arity, v.height)
        mine = t.children(v.op_slot, v.height, v.index, m)
        return PickNode(v.revealed_roots, _first_mismatch(mine, v.revealed_roots, 0, strategy))
    if v.phase == Phase.ELEMENT_PICK:
        mine_e = list(unpack(t.leaf(v.op_slot, v.index), DType.INT32))
        theirs = list(unpack(v.revealed_leaf, DType.INT32))
        return PickElement(v.revealed_leaf, _first_mismatch(mine_e, theirs, 0, strategy))
    if v.phase == Phase.SUM_PICK:
        pts = points(v.lo, v.hi, v.arity)
        sums = t.partial_sums(v.op_index, v.index, v.elem)
        mine_s: list[object] = [sums[p] for p in pts[1:-1]] + ["mine"]
        seg = _first_mismatch(mine_s, list(v.revealed_sums) + ["theirs"], len(pts) - 2, strategy)
        return PickSum(v.revealed_sums, seg)
    if v.phase == Phase.STEP:
        return Step(_step_data(v, t))
    raise AssertionError(f"challenger has no move in phase {v.phase.name}")


def _step_data(v: GameView, t: GameTrace) -> StepData:
    """The operands of the one step, proven from S_lo (which we agree with: it is the low end
    of the interval we narrowed to) down to the leaves the verifier will read."""
    if v.opened is None:
        raise ValueError(f"game {v.game_id}: the step needs the opened op")
    op = t.program.ops[v.op_index]
    s_lo = t.state_root(v.op_index)
    a_root, a_slot = t.root(op.a), tuple(t.state_proof(v.op_index, op.a))
    b_root, b_slot = bytes(32), tuple[bytes, ...]()
    if op.b != NO_SLOT:
        b_root, b_slot = t.root(op.b), tuple(t.state_proof(v.op_index, op.b))
    a_leaf = b_leaf = b""
    a_proof: tuple[bytes, ...] = ()
    b_proof: tuple[bytes, ...] = ()
    # A matmul padding leaf must be zero and takes no operands.
    if v.chunk_step or v.opcode != Opcode.MATMUL:
        w = (
            t.step_witness(v.op_index, v.index, v.elem, v.lo)
            if v.chunk_step
            else t.step_witness(v.op_index, v.index)
        )
        a, b = getattr(w, "a", None), getattr(w, "b", None)
        if a is not None:
            a_leaf, a_proof = a.leaf, tuple(a.siblings)
        if b is not None:
            b_leaf, b_proof = b.leaf, tuple(b.siblings)
    return StepData(
        v.opened.op, a_root, b_root, a_leaf, a_proof, b_leaf, b_proof, s_lo, a_slot, b_slot
    )
