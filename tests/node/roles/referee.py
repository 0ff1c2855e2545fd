"""A Python referee of the dispute game (protocol.md §6.3-6.4), for testing the solver as the
pure function it is: positions are GameViews, each move is checked the way DisputeGame checks
it (reveal hashes to the node, proofs against the agreed roots) and the step is decided by the
reference semantics. No chain."""

from __future__ import annotations

from node.game import rules
from node.game.actions import (
    Action,
    OpenOp,
    OpenSpecs,
    PickElement,
    PickNode,
    PickState,
    PickSum,
    RevealLeaf,
    RevealNodes,
    RevealStates,
    RevealSums,
    StepMove,
)
from node.game.rules import Phase, Side, points
from node.game.solver import Chooser, GameTrace, first_disagreement, solve
from node.game.view import GameView
from node.program.constants import REDUCTION_OPS, Opcode
from node.program.hashing import sha256
from node.program.merkle import (
    depth_for,
    program_root,
    root_from_multi,
    root_from_proof,
    verify_leaf,
)
from node.program.ops import Op
from node.program.reference import (
    elementwise_leaf_indices,
    group_leaf_indices,
    matmul_leaf_indices,
    step_elementwise,
    step_matmul,
)
from node.program.transformer_ref import gather_table_leaf, step_reduce
from node.program.validation import encoding_violation, opening_violation

W = 32
# the bisections over a segment [lo, hi] (states, then partial sums): the reveal's phase and
# field, and the pick's phase, field and the position's record of what was revealed
SEGMENT_REVEALS = {
    RevealStates: (Phase.EXEC_REVEAL, "roots"),
    RevealSums: (Phase.SUM_REVEAL, "sums"),
}
SEGMENT_PICKS = {
    PickState: (Phase.EXEC_PICK, "roots", "revealed_states"),
    PickSum: (Phase.SUM_PICK, "sums", "revealed_sums"),
}


def start(s0: bytes, s_n: bytes, n_inputs: int, n_ops: int) -> GameView:
    return rules.initial(s0, s_n, n_inputs, n_ops, log2_arity=4, clock=600)


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big", signed=True)


def check(v: GameView, a: Action, root: bytes) -> None:
    """AssertionError for a move the contract would revert (phase, lengths, reveal hashes to
    the node, proofs against the agreed roots)."""
    if type(a) in SEGMENT_REVEALS:
        phase, field = SEGMENT_REVEALS[type(a)]
        inner = getattr(a, field)
        assert v.phase == phase and len(inner) == len(points(v.lo, v.hi, v.arity)) - 2
    elif type(a) in SEGMENT_PICKS:
        phase, field, revealed = SEGMENT_PICKS[type(a)]
        picked = getattr(a, field)
        assert v.phase == phase and picked == getattr(v, revealed)
        assert 0 <= a.seg <= len(picked)  # type: ignore[union-attr]
    elif isinstance(a, OpenOp):
        assert v.phase == Phase.OP_OPEN
        o = a.opening
        assert program_root(o.ops_root, o.input_spec_root) == root
        assert root_from_proof(sha256(o.op), v.lo, o.op_proof) == o.ops_root
        op = Op.decode(o.op)
        assert encoding_violation(o.op, v.lo, v.n_inputs) is None
        assert len(o.out_proof) == depth_for(v.n_inputs + v.n_ops)
        assert root_from_proof(bytes(32), op.out, o.out_proof) == v.low
        assert root_from_proof(o.out_root, op.out, o.out_proof) == v.high
    elif isinstance(a, OpenSpecs):
        # the op and output root openOp kept, then the table rules (v7)
        assert v.phase == Phase.OP_SPECS and v.opened is not None
        o = a.opening
        assert (o.op, o.out_root) == (v.opened.op, v.opened.out_root)
        assert program_root(o.ops_root, o.input_spec_root) == root
        op = Op.decode(o.op)
        # the operands' spec sources against their tables, then the op and table rules (v4)
        sources = {op.a: (o.a_spec, o.a_spec_proof), op.b: (o.b_spec, o.b_spec_proof)}
        for slot, (src, proof) in sources.items():
            if not src:
                continue
            index, table = (
                (slot, o.input_spec_root) if slot < v.n_inputs else (slot - v.n_inputs, o.ops_root)
            )
            assert root_from_proof(sha256(src), index, proof) == table
        by_slot = {slot: src for slot, (src, _) in sources.items()}
        assert opening_violation(o.op, v.lo, v.n_inputs, by_slot) is None
    elif isinstance(a, RevealNodes):
        m = min(v.log2_arity, v.height)
        assert v.phase == Phase.TENSOR_REVEAL and len(a.nodes) == 1 << m
        level = list(a.nodes)
        while len(level) > 1:
            level = [sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        assert level[0] == v.high
    elif isinstance(a, PickNode):
        assert v.phase == Phase.TENSOR_PICK and a.nodes == v.revealed_nodes
        assert 0 <= a.child < len(a.nodes)
    elif isinstance(a, RevealLeaf):
        assert v.phase == Phase.LEAF_REVEAL and sha256(a.leaf) == v.high
    elif isinstance(a, PickElement):
        assert v.phase == Phase.ELEMENT_PICK and sha256(a.leaf) == v.high and 0 <= a.elem < W
    elif isinstance(a, StepMove):
        assert v.phase == Phase.STEP and v.opened is not None and a.data.op == v.opened.op
    else:
        raise AssertionError(f"unexpected {a!r}")


def apply(v: GameView, a: Action, program_root: bytes) -> GameView:
    """The position after move `a` (node.game.rules); AssertionError for a move the contract
    would revert."""
    check(v, a, program_root)
    if isinstance(a, StepMove):
        return rules.resolve(v, _step(v, a))
    return rules.after(v, a)


def _step(v: GameView, a: StepMove) -> bool:
    """Whether the provider wins the step: the reference semantics on the proven operands."""
    d = a.data
    op = Op.decode(d.op)
    slot_depth = depth_for(v.n_inputs + v.n_ops)
    assert root_from_proof(d.a_root, op.a, d.a_slot_proof) == d.s_lo
    if d.b_slot_proof:
        assert root_from_proof(d.b_root, op.b, d.b_slot_proof) == d.s_lo
    assert len(d.a_slot_proof) == slot_depth
    if v.chunk_step and op.opcode == Opcode.REDUCE:
        # one leaf of row `index` (protocol.md section 5), no b
        ai = (v.index * op.K + W * v.lo) // W
        assert verify_leaf(d.a_leaf, ai, d.a_proof, d.a_root) and not d.b_leaf
        expected = rules.word(step_reduce(op, v.index, v.elem, v.lo, d.a_leaf, _int(v.low)))
    elif v.chunk_step:
        ai, wi = matmul_leaf_indices(op, v.index, v.elem, v.lo)
        assert verify_leaf(d.a_leaf, ai, d.a_proof, d.a_root)
        assert verify_leaf(d.b_leaf, wi, d.b_proof, d.b_root)
        expected = rules.word(step_matmul(d.a_leaf, d.b_leaf, _int(v.low)))
    elif op.opcode in REDUCTION_OPS or v.index >= v.out_leaves:
        expected = sha256(bytes(op.out_spec.dtype.leaf_bytes))
    elif op.opcode in (Opcode.GMAX, Opcode.GSUM, Opcode.TRANSPOSE):
        # the G (transpose: 32) leaves under one multiproof (protocol.md section 5)
        idx = group_leaf_indices(op, v.index)
        nodes = [sha256(d.a_leaf[W * k : W * (k + 1)]) for k in range(len(idx))]
        a_elems = op.M * op.N if op.opcode == Opcode.TRANSPOSE else op.M * op.K * op.N
        depth = depth_for(a_elems // W)
        assert root_from_multi(nodes, idx, d.a_proof, depth) == d.a_root
        expected = sha256(step_elementwise(op, v.index, v.out_leaves, d.a_leaf, None))
    elif op.opcode == Opcode.GATHER:
        # the id first, then the table leaf it names
        assert verify_leaf(d.b_leaf, v.index * W // op.N, d.b_proof, d.b_root)
        assert verify_leaf(d.a_leaf, gather_table_leaf(op, v.index, d.b_leaf), d.a_proof, d.a_root)
        expected = sha256(step_elementwise(op, v.index, v.out_leaves, d.a_leaf, d.b_leaf))
    else:
        ai, bi = elementwise_leaf_indices(op, v.index)
        if ai is not None:
            assert verify_leaf(d.a_leaf, ai, d.a_proof, d.a_root)
        if bi is not None and op.opcode != Opcode.LUT:
            assert verify_leaf(d.b_leaf, bi, d.b_proof, d.b_root)
        leaf = step_elementwise(op, v.index, v.out_leaves, d.a_leaf or None, d.b_leaf or None)
        expected = sha256(leaf)
    return expected == v.high


def play_out(
    provider: GameTrace,
    challenger: GameTrace,
    s_n: bytes,
    choose: Chooser = first_disagreement,
    max_moves: int = 200,
) -> tuple[GameView, list[Action]]:
    """Both sides by the solver, the challenger pointing by `choose`; every move checked."""
    prog = provider.program
    root = prog.root
    v = start(provider.state_root(0), s_n, prog.n_inputs, len(prog.ops))
    moves: list[Action] = []
    while v.active:
        assert len(moves) < max_moves
        if v.mover == Side.PROVIDER:
            (a,) = solve(v, Side.PROVIDER, provider)
        else:
            (a,) = solve(v, Side.CHALLENGER, challenger, choose)
        moves.append(a)
        v = apply(v, a, root)
    return v, moves
