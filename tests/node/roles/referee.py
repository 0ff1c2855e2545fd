"""A Python referee of the dispute game (protocol.md §6.3-6.4), for testing the solver as the
pure function it is: positions are GameViews, each move is checked the way DisputeGame checks
it (reveal hashes to the node, proofs against the agreed roots) and the step is decided by the
reference semantics. No chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from node.game.actions import (
    Action,
    OpenOp,
    PickElement,
    PickNode,
    PickState,
    PickSum,
    RevealLeaf,
    RevealNodes,
    RevealStates,
    RevealSums,
    Step,
)
from node.game.solver import GameTrace, Strategy, solve
from node.game.view import GameStatus, GameView, OpenedOp, Phase, Side, points
from node.program.constants import LEAF_ELEMS, DType, Opcode
from node.program.hashing import sha256
from node.program.merkle import depth_for, root_from_proof, verify_leaf
from node.program.ops import Op
from node.program.packing import unpack
from node.program.reference import (
    elementwise_leaf_indices,
    matmul_leaf_indices,
    step_elementwise,
    step_matmul,
)

W = 32


def start(s0: bytes, s_n: bytes, n_inputs: int, n_ops: int) -> GameView:
    return GameView(
        game_id=1,
        claim_id=1,
        status=GameStatus.ACTIVE,
        phase=Phase.OP_OPEN if n_ops == 1 else Phase.EXEC_REVEAL,
        provider="P",
        challenger="C",
        lo=0,
        hi=n_ops,
        height=0,
        index=0,
        elem=0,
        chunk_step=False,
        low=s0,
        high=s_n,
        n_inputs=n_inputs,
        n_ops=n_ops,
        op_index=0,
        opcode=0,
        out_leaves=0,
        k_chunks=0,
        provider_clock=600,
        challenger_clock=600,
        last_move_at=0,
        now=0,
        log2_arity=4,
    )


def _word(v: int) -> bytes:
    return v.to_bytes(W, "big", signed=True)


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big", signed=True)


def apply(v: GameView, a: Action, program_root: bytes) -> GameView:
    """The position after move `a`; AssertionError for a move the contract would revert."""
    k = v.arity
    if isinstance(a, RevealStates):
        assert v.phase == Phase.EXEC_REVEAL and len(a.roots) == len(points(v.lo, v.hi, k)) - 2
        return replace(v, phase=Phase.EXEC_PICK, revealed_roots=a.roots)
    if isinstance(a, PickState):
        assert v.phase == Phase.EXEC_PICK and a.roots == v.revealed_roots
        pts = points(v.lo, v.hi, k)
        lo, hi = pts[a.seg], pts[a.seg + 1]
        low = a.roots[a.seg - 1] if a.seg else v.low
        high = a.roots[a.seg] if a.seg < len(a.roots) else v.high
        return replace(
            v,
            lo=lo,
            hi=hi,
            low=low,
            high=high,
            phase=Phase.OP_OPEN if hi - lo == 1 else Phase.EXEC_REVEAL,
        )
    if isinstance(a, OpenOp):
        o = a.opening
        slot_depth = depth_for(v.n_inputs + v.n_ops)
        assert root_from_proof(sha256(o.op), v.lo, o.op_proof) == program_root
        op = Op.decode(o.op)
        assert len(o.out_proof) == slot_depth
        assert root_from_proof(bytes(32), op.out, o.out_proof) == v.low
        assert root_from_proof(o.out_root, op.out, o.out_proof) == v.high
        leaves = op.out_spec.n_leaves
        nv = replace(
            v,
            op_index=v.lo,
            opcode=int(op.opcode),
            out_leaves=leaves,
            k_chunks=op.K // LEAF_ELEMS,
            height=depth_for(leaves),
            index=0,
            high=o.out_root,
            opened=OpenedOp(o.op, o.out_root),
        )
        return _at_leaf(nv) if nv.height == 0 else replace(nv, phase=Phase.TENSOR_REVEAL)
    if isinstance(a, RevealNodes):
        m = min(v.log2_arity, v.height)
        assert v.phase == Phase.TENSOR_REVEAL and len(a.nodes) == 1 << m
        level = list(a.nodes)
        while len(level) > 1:
            level = [sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        assert level[0] == v.high
        return replace(v, phase=Phase.TENSOR_PICK, revealed_roots=a.nodes)
    if isinstance(a, PickNode):
        m = min(v.log2_arity, v.height)
        nv = replace(v, height=v.height - m, index=(v.index << m) | a.child, high=a.nodes[a.child])
        return _at_leaf(nv) if nv.height == 0 else replace(nv, phase=Phase.TENSOR_REVEAL)
    if isinstance(a, RevealLeaf):
        assert v.phase == Phase.LEAF_REVEAL and sha256(a.leaf) == v.high
        return replace(v, phase=Phase.ELEMENT_PICK, revealed_leaf=a.leaf)
    if isinstance(a, PickElement):
        value = int(unpack(a.leaf, DType.INT32)[a.elem])
        return replace(
            v,
            elem=a.elem,
            chunk_step=True,
            lo=0,
            hi=v.k_chunks,
            low=_word(0),
            high=_word(value),
            phase=Phase.STEP if v.k_chunks == 1 else Phase.SUM_REVEAL,
        )
    if isinstance(a, RevealSums):
        assert v.phase == Phase.SUM_REVEAL and len(a.sums) == len(points(v.lo, v.hi, k)) - 2
        return replace(v, phase=Phase.SUM_PICK, revealed_sums=a.sums)
    if isinstance(a, PickSum):
        pts = points(v.lo, v.hi, k)
        lo, hi = pts[a.seg], pts[a.seg + 1]
        low = _word(a.sums[a.seg - 1]) if a.seg else v.low
        high = _word(a.sums[a.seg]) if a.seg < len(a.sums) else v.high
        return replace(
            v,
            lo=lo,
            hi=hi,
            low=low,
            high=high,
            phase=Phase.STEP if hi - lo == 1 else Phase.SUM_REVEAL,
        )
    if isinstance(a, Step):
        return _step(v, a)
    raise AssertionError(f"unexpected {a!r}")


def _at_leaf(v: GameView) -> GameView:
    real = v.opcode == Opcode.MATMUL and v.index < v.out_leaves
    return replace(v, phase=Phase.LEAF_REVEAL if real else Phase.STEP)


def _step(v: GameView, a: Step) -> GameView:
    d = a.data
    op = Op.decode(d.op)
    slot_depth = depth_for(v.n_inputs + v.n_ops)
    assert root_from_proof(d.a_root, op.a, d.a_slot_proof) == d.s_lo
    if d.b_slot_proof:
        assert root_from_proof(d.b_root, op.b, d.b_slot_proof) == d.s_lo
    assert len(d.a_slot_proof) == slot_depth
    if v.chunk_step:
        ai, wi = matmul_leaf_indices(op, v.index, v.elem, v.lo)
        assert verify_leaf(d.a_leaf, ai, d.a_proof, d.a_root)
        assert verify_leaf(d.b_leaf, wi, d.b_proof, d.b_root)
        expected = _word(step_matmul(d.a_leaf, d.b_leaf, _int(v.low)))
    elif op.opcode == Opcode.MATMUL or v.index >= v.out_leaves:
        expected = sha256(bytes(op.out_spec.dtype.leaf_bytes))
    else:
        ai, bi = elementwise_leaf_indices(op, v.index)
        if ai is not None:
            assert verify_leaf(d.a_leaf, ai, d.a_proof, d.a_root)
        if bi is not None and op.opcode != Opcode.LUT:
            assert verify_leaf(d.b_leaf, bi, d.b_proof, d.b_root)
        leaf = step_elementwise(op, v.index, v.out_leaves, d.a_leaf or None, d.b_leaf or None)
        expected = sha256(leaf)
    won = expected == v.high
    return replace(v, status=GameStatus.PROVIDER_WON if won else GameStatus.CHALLENGER_WON)


def play_out(
    provider: GameTrace,
    challenger: GameTrace,
    s_n: bytes,
    challenger_strategy: Strategy = Strategy.HONEST,
    max_moves: int = 200,
    pick: Callable[[GameView, Action], Action] | None = None,
) -> tuple[GameView, list[Action]]:
    """Both sides by the solver; `pick` may replace each challenger move (any strategy)."""
    prog = provider.program
    root = prog.root
    v = start(provider.state_root(0), s_n, prog.n_inputs, len(prog.ops))
    moves: list[Action] = []
    while v.active:
        assert len(moves) < max_moves
        if v.mover == Side.PROVIDER:
            (a,) = solve(v, Side.PROVIDER, provider)
        else:
            (a,) = solve(v, Side.CHALLENGER, challenger, challenger_strategy)
            if pick is not None:
                a = pick(v, a)
        moves.append(a)
        v = apply(v, a, root)
    return v, moves
