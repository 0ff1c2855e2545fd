"""qadd, gmax and gsum (protocol.md section 4, v3): the numpy reference, the one step and the
multiproof agree with plain-python / exact-fraction formulations of the spec, on random shapes,
saturating values, the most negative int8, G = 1 and G = MAX_GROUP; the op rules name the
first field they break."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.compute.config import ComputeConfig
from node.compute.executor import Executor
from node.program.compiler.builder import ProgramBuilder
from node.program.constants import INT32_MAX, LEAF_ELEMS, MAX_GROUP, NO_SLOT, DType, Opcode
from node.program.errors import (
    DTypeMismatch,
    ShapeMismatch,
    UnknownOpcode,
)
from node.program.merkle import (
    depth_for,
    multi_proof,
    root_from_multi,
    tensor_tree,
    verify_leaf,
)
from node.program.ops import Op, group_op, qadd_op
from node.program.packing import leaf, pack
from node.program.program import InputSlot, Program
from node.program.reference import group_leaf_indices, run_op, step_elementwise
from node.program.samples import random_op
from node.program.tensors import TensorSpec
from node.program.validation import encoding_violation, op_violation, validate_op
from node.trace.lazy import TraceProvider

I8 = DType.INT8
int8s = st.integers(-128, 127)
mults = st.integers(1, INT32_MAX)


def _qadd_exact(
    x: int, y: int, mult: int, mult2: int, shift: int, zp: int, lo: int, hi: int
) -> int:
    """Round half up of (x*mult + y*mult2) / 2^shift, as an exact fraction, then zp and clamp."""
    q = Fraction(x * mult + y * mult2, 1 << shift)
    return min(max(math.floor(q + Fraction(1, 2)) + zp, lo), hi)


@st.composite
def qadd_cases(draw: st.DrawFn) -> tuple[Op, np.ndarray, np.ndarray]:
    m, n = draw(st.integers(1, 4)), LEAF_ELEMS * draw(st.integers(1, 3))
    lo, hi = sorted((draw(int8s), draw(int8s)))
    op = qadd_op(
        2, 0, 1, M=m, N=n, mult=draw(mults), mult2=draw(mults), shift=draw(st.integers(1, 62)),
        zp=draw(int8s), lo=lo, hi=hi,
    )  # fmt: skip
    # values drawn from the extremes as often as from the middle: saturation, -128
    elems = st.one_of(st.sampled_from([-128, -127, -1, 0, 1, 127]), int8s)
    a = np.array(draw(st.lists(elems, min_size=m * n, max_size=m * n)), np.int8).reshape(m, n)
    b = np.array(draw(st.lists(elems, min_size=m * n, max_size=m * n)), np.int8).reshape(m, n)
    return op, a, b


@settings(max_examples=80, deadline=None)
@given(case=qadd_cases())
def test_qadd_equals_exact_rounding_and_its_step(case: tuple[Op, np.ndarray, np.ndarray]) -> None:
    op, a, b = case
    assert op_violation(op, 0, 2) is None
    out = run_op(op, a, b)
    want = [
        [_qadd_exact(int(x), int(y), op.mult, op.mult2, op.shift, op.zp, op.lo, op.hi)
         for x, y in zip(ra, rb, strict=True)]
        for ra, rb in zip(a.tolist(), b.tolist(), strict=True)
    ]  # fmt: skip
    assert out.tolist() == want
    pa, pb, po = pack(a, I8), pack(b, I8), pack(out, I8)
    n = op.out_spec.n_leaves
    for j in range(1 << depth_for(n)):
        got = step_elementwise(
            op, j, n, leaf(pa, I8, j) if j < n else None, leaf(pb, I8, j) if j < n else None
        )
        assert got == (leaf(po, I8, j) if j < n else bytes(32))


def test_qadd_saturates_at_both_ends() -> None:
    op = qadd_op(2, 0, 1, M=1, N=32, mult=INT32_MAX, mult2=INT32_MAX, shift=1)
    lo = run_op(op, np.full(32, -128), np.full(32, -128))
    hi = run_op(op, np.full(32, 127), np.full(32, 127))
    assert set(lo.reshape(-1).tolist()) == {-128} and set(hi.reshape(-1).tolist()) == {127}
    # the exact sum 2^38-ish is far outside int32: no wrap, only the clamp
    assert _qadd_exact(-128, -128, INT32_MAX, INT32_MAX, 62, 0, -128, 127) == 0


@st.composite
def group_cases(draw: st.DrawFn) -> tuple[Op, np.ndarray]:
    code = draw(st.sampled_from([Opcode.GMAX, Opcode.GSUM]))
    g = draw(st.one_of(st.just(1), st.just(MAX_GROUP), st.integers(1, MAX_GROUP)))
    m, n = draw(st.integers(1, 3)), LEAF_ELEMS * draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a third of the inputs all -128 (the max of nothing larger; the most negative sum)
    x = (
        rng.integers(-128, 128, (m, g * n))
        if draw(st.integers(0, 2))
        else np.full((m, g * n), -128)
    )
    return group_op(code, 1, 0, groups=g, M=m, N=n), x.astype(np.int8)


def _group_plain(op: Op, x: np.ndarray) -> list[list[int]]:
    rows = x.tolist()
    reduce = max if op.opcode == Opcode.GMAX else sum
    return [
        [reduce(rows[m][g * op.N + n] for g in range(op.K)) for n in range(op.N)]
        for m in range(op.M)
    ]


@settings(max_examples=60, deadline=None)
@given(case=group_cases())
def test_group_reduction_equals_plain_python_and_every_step(case: tuple[Op, np.ndarray]) -> None:
    op, x = case
    assert op_violation(op, 0, 1) is None
    assert validate_op(op, 0, 1, [TensorSpec(I8, *x.shape)]) == op.out_spec
    out = run_op(op, x, None)
    assert out.tolist() == _group_plain(op, x)
    out_dt = op.out_spec.dtype
    assert out_dt == (I8 if op.opcode == Opcode.GMAX else DType.INT32)
    px, po = pack(x, I8), pack(out, out_dt)
    tree = tensor_tree(px, I8)
    n = op.out_spec.n_leaves
    for j in range(1 << depth_for(n)):
        if j >= n:
            assert step_elementwise(op, j, n, None, None) == bytes(out_dt.leaf_bytes)
            continue
        idx = group_leaf_indices(op, j)
        leaves = [leaf(px, I8, i) for i in idx]
        assert step_elementwise(op, j, n, b"".join(leaves), None) == leaf(po, out_dt, j)
        # the step's multiproof gives the input root, and only the right siblings do
        sib = multi_proof(tree, idx)
        nodes = [tree.node(0, i) for i in idx]
        assert root_from_multi(nodes, idx, sib, tree.depth) == tree.root


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(0, 7),
    data=st.data(),
)
def test_multiproof_of_any_index_set(depth: int, data: st.DataObject) -> None:
    n_leaves = data.draw(st.integers(max(1, (1 << depth) // 2 + 1), 1 << depth))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    packed = rng.integers(-128, 128, n_leaves * 32).astype(np.int8).tobytes()
    tree = tensor_tree(packed, I8)
    assert tree.depth == depth
    idx = sorted(set(data.draw(st.lists(st.integers(0, (1 << depth) - 1), min_size=1))))
    sib = multi_proof(tree, idx)
    nodes = [tree.node(0, i) for i in idx]
    assert root_from_multi(nodes, idx, sib, depth) == tree.root
    if sib:
        with pytest.raises(ValueError):
            root_from_multi(nodes, idx, sib[:-1], depth)
        with pytest.raises(ValueError):
            root_from_multi(nodes, idx, [*sib, sib[0]], depth)
        bad = [bytes(32), *sib[1:]]
        assert root_from_multi(nodes, idx, bad, depth) != tree.root


def _enc_violation(op: Op, n_inputs: int) -> tuple[str, int | None, int]:
    v = encoding_violation(op.encode(), 0, n_inputs)
    assert v is not None
    return v.error.__name__, v.field, v.value


def test_op_rules_of_the_new_ops_name_their_field() -> None:
    q = qadd_op(2, 0, 1, M=1, N=32, mult=3, mult2=5, shift=4)
    g = group_op(Opcode.GMAX, 1, 0, groups=4, M=1, N=32)
    assert _enc_violation(Op(**{**q.__dict__, "mult": 0}), 2) == ("FieldOutOfRange", 20, 0)
    assert _enc_violation(Op(**{**q.__dict__, "mult2": 0}), 2) == ("FieldOutOfRange", 43, 0)
    assert _enc_violation(Op(**{**q.__dict__, "mult2": 2**31}), 2) == (
        "FieldOutOfRange", 43, 2**31,
    )  # fmt: skip
    assert _enc_violation(Op(**{**q.__dict__, "shift": 0, "mult": 0}), 2) == (
        "FieldOutOfRange", 24, 0,
    )  # fmt: skip
    assert _enc_violation(Op(**{**q.__dict__, "lo": 1, "hi": 0}), 2) == ("FieldOutOfRange", 26, 1)
    assert _enc_violation(Op(**{**q.__dict__, "b": NO_SLOT}), 2) == ("SlotOutOfRange", 6, NO_SLOT)
    assert _enc_violation(Op(**{**q.__dict__, "flags": 1}), 2) == ("FieldOutOfRange", 1, 1)
    assert _enc_violation(Op(**{**g.__dict__, "K": 0}), 1) == ("FieldOutOfRange", 12, 0)
    assert _enc_violation(Op(**{**g.__dict__, "K": MAX_GROUP + 1}), 1) == (
        "FieldOutOfRange", 12, MAX_GROUP + 1,
    )  # fmt: skip
    assert _enc_violation(Op(**{**g.__dict__, "b": 0}), 1) == ("FieldOutOfRange", 6, 0)
    assert _enc_violation(Op(**{**g.__dict__, "mult2": 7}), 1) == ("FieldOutOfRange", 43, 7)
    assert _enc_violation(Op(**{**g.__dict__, "shift": 7}), 1) == ("FieldOutOfRange", 24, 7)
    big = group_op(Opcode.GSUM, 1, 0, groups=MAX_GROUP, M=1 << 20, N=64)
    assert _enc_violation(big, 1) == ("SizeLimitExceeded", 12, MAX_GROUP)
    relu = Op(Opcode.RELU, out=1, a=0, M=1, N=32, mult2=1)
    assert _enc_violation(relu, 1) == ("FieldOutOfRange", 43, 1)
    with pytest.raises(UnknownOpcode):
        group_op(Opcode.RELU, 1, 0, groups=2, M=1, N=32)


def test_table_rules_of_the_new_ops() -> None:
    q = qadd_op(2, 0, 1, M=1, N=32, mult=3, mult2=5, shift=4)
    with pytest.raises(DTypeMismatch):
        validate_op(q, 0, 2, [TensorSpec(I8, 1, 32), TensorSpec(DType.INT32, 1, 32)])
    with pytest.raises(ShapeMismatch):
        validate_op(q, 0, 2, [TensorSpec(I8, 1, 32), TensorSpec(I8, 1, 64)])
    g = group_op(Opcode.GSUM, 1, 0, groups=3, M=2, N=32)
    with pytest.raises(ShapeMismatch):
        validate_op(g, 0, 1, [TensorSpec(I8, 2, 64)])
    with pytest.raises(DTypeMismatch):
        validate_op(g, 0, 1, [TensorSpec(DType.INT32, 2, 96)])
    assert validate_op(g, 0, 1, [TensorSpec(I8, 6, 32)]) == TensorSpec(DType.INT32, 2, 32)


def test_builder_pools_a_residual_block() -> None:
    """im2col + gmax is max pooling, im2col + gsum average pooling numerators, qadd a residual."""
    b = ProgramBuilder()
    x = b.data_input("x", 16, 32)  # a 4 x 4 x 32 image
    cols = b.im2col(x, 1, 4, 4, 32, 2, 2, 2, 0, padv=-128)
    mx = b.gmax(cols, groups=4, M=4, N=32)
    b.gsum(cols, groups=4, M=4, N=32)
    res = b.qadd(mx, mx, mult=1 << 20, mult2=1 << 20, shift=21)
    prog, _ = b.finish(res)
    assert [op.opcode for op in prog.ops] == [
        Opcode.IM2COL, Opcode.GMAX, Opcode.GSUM, Opcode.QADD,
    ]  # fmt: skip
    img = np.random.default_rng(1).integers(-128, 128, (4, 4, 32))
    patches = run_op(prog.ops[0], img.reshape(16, 32), None)
    pooled = run_op(prog.ops[1], patches, None).reshape(2, 2, 32)
    want = img.reshape(2, 2, 2, 2, 32).max(axis=(1, 3))
    assert (pooled == want).all()
    sums = run_op(prog.ops[2], patches, None).reshape(2, 2, 32)
    assert (sums == img.reshape(2, 2, 2, 2, 32).sum(axis=(1, 3))).all()
    # (p + p) / 2 rounds back to p
    assert (
        run_op(prog.ops[3], pooled.reshape(4, 32), pooled.reshape(4, 32)) == pooled.reshape(4, 32)
    ).all()
    with pytest.raises(KeyError):
        ProgramBuilder().gmax("y", groups=2, M=1, N=32)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), opcode=st.sampled_from([Opcode.QADD, Opcode.GMAX, Opcode.GSUM])
)
def test_samples_of_the_new_ops_validate_and_round_trip(seed: int, opcode: Opcode) -> None:
    s = random_op(np.random.default_rng(seed), opcode)
    assert Op.decode(s.op.encode()) == s.op
    s.program.validate()


@pytest.mark.parametrize("fill", [-128, 127])
def test_executor_is_exact_at_the_extremes_of_the_new_ops(fill: int) -> None:
    """qadd's exact sum (about 2^39) and gsum over MAX_GROUP groups of -128 or 127."""
    m, n, g = 3, 64, MAX_GROUP
    x = np.full((m, g * n), fill, np.int8)
    x[1, ::3] = -fill - 1  # the other extreme in places
    for op, vals in (
        (group_op(Opcode.GSUM, 1, 0, groups=g, M=m, N=n), (x,)),
        (group_op(Opcode.GMAX, 1, 0, groups=g, M=m, N=n), (x,)),
        (
            qadd_op(2, 0, 1, M=m, N=g * n, mult=INT32_MAX, mult2=INT32_MAX, shift=62, zp=-3),
            (x, x[::-1].copy()),
        ),
    ):
        specs = [TensorSpec(I8, *v.shape) for v in vals]
        prog = Program(tuple(InputSlot(f"i{k}", s) for k, s in enumerate(specs)), (op,), len(vals))
        out = Executor(prog, {}, ComputeConfig(device="cpu")).run(list(vals)).output
        assert (out.astype(np.int64) == run_op(op, *vals, *([None] * (2 - len(vals))))).all()


def _pool_program() -> tuple[Program, dict[int, np.ndarray]]:
    """Max pool 2x2 (gmax), sum pool 3x3 stride 1 with padding (gsum), a residual qadd."""
    b = ProgramBuilder()
    x = b.data_input("x", 2 * 4 * 4, 64)  # B=2, 4 x 4, C = 64 (two leaves per pixel)
    mp = b.gmax(b.im2col(x, 2, 4, 4, 64, 2, 2, 2, 0, padv=-128), groups=4, M=8, N=64)
    b.gsum(b.im2col(x, 2, 4, 4, 64, 3, 3, 1, 1), groups=9, M=32, N=64)
    res = b.qadd(mp, mp, mult=3, mult2=1 << 30, shift=30, zp=1)
    prog, consts = b.finish(res)
    rng = np.random.default_rng(3)
    return prog, {**consts, 0: rng.integers(-128, 128, (32, 64)).astype(np.int8)}


def test_trace_witnesses_of_the_new_ops_verify_and_give_the_output() -> None:
    prog, vals = _pool_program()
    tp = TraceProvider(prog, vals, ComputeConfig(device="cpu"))
    res = Executor(prog, vals, ComputeConfig(device="cpu")).run([vals[0]])
    assert tp.state_root(len(prog.ops)) == res.state_root
    for i, op in enumerate(prog.ops):
        if op.opcode not in (Opcode.GMAX, Opcode.GSUM, Opcode.QADD):
            continue
        n = op.out_spec.n_leaves
        for j in range(1 << depth_for(n)):
            sw = tp.step_witness(i, j)
            assert sw.expected_leaf == tp.leaf(prog.n_inputs + i, j)
            if j >= n:
                assert sw.a is None and sw.b is None
                continue
            assert sw.a is not None
            if op.opcode == Opcode.QADD:
                assert sw.b is not None and verify_leaf(sw.b.leaf, j, sw.b.siblings, tp.root(op.b))
                assert verify_leaf(sw.a.leaf, j, sw.a.siblings, tp.root(op.a))
                continue
            idx = group_leaf_indices(op, j)
            nodes = [hashlib.sha256(sw.a.leaf[32 * k : 32 * k + 32]).digest() for k in range(op.K)]
            depth = tp.tree(op.a).depth
            assert root_from_multi(nodes, idx, sw.a.siblings, depth) == tp.root(op.a)
