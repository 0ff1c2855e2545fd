"""The solver: a pure function from a game view and the party's own trace to its next move.

The provider reveals from its trace; the challenger points at the first segment, child, element
or partial sum it disagrees with, comparing the provider's revealed values with its own trace,
and at the bottom supplies the operands of the one step. Nothing here reads the chain or sends
anything (node.game.responder does); the same view and trace always give the same actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from node.game.actions import (
    Action,
    OpenOp,
    OpenSpecs,
    OpOpening,
    PickElement,
    PickNode,
    PickState,
    PickSum,
    RevealLeaf,
    RevealNodes,
    RevealStates,
    RevealSums,
    Settle,
    StepData,
    StepMove,
    Timeout,
    Wait,
)
from node.game.rules import Phase, Side, points
from node.game.view import GameView
from node.program.constants import NO_SLOT, REDUCTION_OPS, DType
from node.program.packing import unpack
from node.program.program import Program


class GameTrace(Protocol):
    """What the solver asks of a computation (node.trace.lazy.TraceProvider has it)."""

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


# The pick hook: given the game and, for each part the challenger may point at, whether its own
# trace disagrees with the provider's reveal, the index to point at. The honest rule is
# `first_disagreement`; the hook is the seam through which a simulation (tests, the demo)
# stages a challenger that points elsewhere. Nothing in node/ passes another one.
Chooser = Callable[[GameView, Sequence[bool]], int]


def first_disagreement(view: GameView, disagrees: Sequence[bool]) -> int:
    """The first part we disagree with (the interval pickers always disagree with the last
    segment, whose high end is the disputed value; a tensor or leaf pick falls back to 0)."""
    return next((i for i, d in enumerate(disagrees) if d), 0)


def solve(
    view: GameView, side: Side, trace: GameTrace, choose: Chooser = first_disagreement
) -> list[Action]:
    """The next action(s) of `side` in the game seen in `view`. A decided game that is not yet
    paid is settled by its winner, who is paid by it; the loser settles only once the winner has
    let the decided game's clock run out, to free the claim (anyone may call settle, and only
    the first call succeeds: both sides settling at once would waste the later one's gas)."""
    if view.unsettled:
        if view.won(side) or view.now > view.deadline:
            return [Settle()]
        return [Wait("the winner settles", until=view.deadline + 1)]
    if not view.active:
        return [Wait(f"game over ({view.status.name.lower()})")]
    if view.mover != side:
        if view.now > view.deadline:
            return [Timeout()]
        return [Wait("the other side moves", until=view.deadline + 1)]
    if view.now > view.deadline:
        return [Wait("our clock has run out")]
    if side == Side.PROVIDER:
        return [_provider_move(view, trace)]
    return [_challenger_move(view, trace, choose)]


# ---- provider: reveal from the trace ----


def _provider_move(v: GameView, t: GameTrace) -> Action:
    if v.phase == Phase.EXEC_REVEAL:
        return RevealStates(tuple(t.state_root(p) for p in points(v.lo, v.hi, v.arity)[1:-1]))
    if v.phase == Phase.OP_OPEN:
        return OpenOp(_opening(v.lo, t))
    if v.phase == Phase.OP_SPECS:  # the opening's second move (after a restart too: lo is the op)
        return OpenSpecs(_opening(v.lo, t))
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
    """Op `a` under the ops root, and its output root as slot `op.out`: empty in S_a, set
    in S_{a+1} (one sibling path serves both: the states differ only in that slot), with the
    committed specs of its operand slots (the table rules). The operand roots are not opened
    here: the challenger proves them from S_a at the step."""
    prog = t.program
    op = prog.ops[a]
    enc, op_proof = t.program_proof(a)
    a_spec, a_proof = prog.spec_source(op.a)
    b_spec, b_proof = prog.spec_source(op.b) if op.b != NO_SLOT else (b"", [])
    return OpOpening(
        enc,
        tuple(op_proof),
        t.root(op.out),
        tuple(t.state_proof(a + 1, op.out)),
        prog.ops_tree().root,
        prog.input_spec_tree().root,
        a_spec,
        tuple(a_proof),
        b_spec,
        tuple(b_proof),
    )


# ---- challenger: point at the first disagreement ----


def _disagrees(mine: Sequence[object], theirs: Sequence[object]) -> list[bool]:
    return [x != y for x, y in zip(mine, theirs, strict=True)]


def _challenger_move(v: GameView, t: GameTrace, choose: Chooser) -> Action:
    if v.phase == Phase.EXEC_PICK:
        pts = points(v.lo, v.hi, v.arity)
        mine = [t.state_root(p) for p in pts[1:-1]]
        # The last segment ends at the disputed high end, which we reject by construction.
        flags = _disagrees(mine, v.revealed_states) + [True]
        return PickState(v.revealed_states, choose(v, flags))
    if v.phase == Phase.TENSOR_PICK:
        m = min(v.log2_arity, v.height)
        mine = t.children(v.op_slot, v.height, v.index, m)
        return PickNode(v.revealed_nodes, choose(v, _disagrees(mine, v.revealed_nodes)))
    if v.phase == Phase.ELEMENT_PICK:
        mine_e = list(unpack(t.leaf(v.op_slot, v.index), DType.INT32))
        theirs = list(unpack(v.revealed_leaf, DType.INT32))
        return PickElement(v.revealed_leaf, choose(v, _disagrees(mine_e, theirs)))
    if v.phase == Phase.SUM_PICK:
        pts = points(v.lo, v.hi, v.arity)
        sums = t.partial_sums(v.op_index, v.index, v.elem)
        flags = _disagrees([sums[p] for p in pts[1:-1]], v.revealed_sums) + [True]
        return PickSum(v.revealed_sums, choose(v, flags))
    if v.phase == Phase.STEP:
        return StepMove(_step_data(v, t))
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
    # A matmul or reduce padding leaf must be zero and takes no operands.
    if v.chunk_step or v.opcode not in REDUCTION_OPS:
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
