"""transpose and update (protocol.md section 4, v6, issue 15): the numpy reference, the torch
executor, the one step and the multiproof agree with plain-python / exact-fraction formulations
of the spec; the generator is lowbias32 as written in the spec; stochastic rounding is unbiased;
the op rules name the first field they break."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.compute.config import ComputeConfig
from node.compute.executor import Executor
from node.program.compiler.builder import ProgramBuilder
from node.program.constants import INT32_MAX, LEAF_ELEMS, DType, Flag, Opcode
from node.program.errors import DTypeMismatch, ShapeMismatch
from node.program.merkle import depth_for, multi_proof, root_from_multi, tensor_tree, verify_leaf
from node.program.ops import Op
from node.program.packing import leaf, pack
from node.program.program import InputSlot, Program
from node.program.reference import group_leaf_indices, run_op, step_elementwise
from node.program.tensors import TensorSpec
from node.program.train_ref import rng
from node.program.validation import encoding_violation, op_violation, validate_op
from node.trace.lazy import TraceProvider

I8, I32 = DType.INT8, DType.INT32
CPU = ComputeConfig(device="cpu")


def _lowbias32(x: int) -> int:
    """The spec's h, transcribed with Python ints (independent of the numpy version)."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    step=st.integers(0, 2**32 - 1),
    f=st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8),
)
def test_generator_is_the_spec_lowbias32(seed: int, step: int, f: list[int]) -> None:
    want = [_lowbias32(_lowbias32(_lowbias32(seed) ^ step) ^ i) for i in f]
    assert rng(seed, step, np.array(f)).tolist() == want


def _prog(op: Op, specs: list[TensorSpec]) -> Program:
    return Program(tuple(InputSlot(f"i{k}", s) for k, s in enumerate(specs)), (op,), len(specs))


@st.composite
def transpose_cases(draw: st.DrawFn) -> tuple[Op, np.ndarray]:
    m, n = LEAF_ELEMS * draw(st.integers(1, 3)), LEAF_ELEMS * draw(st.integers(1, 3))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(-128, 128, (n, m))
    return Op(Opcode.TRANSPOSE, out=1, a=0, M=m, N=n), x.astype(np.int8)


@settings(max_examples=30, deadline=None)
@given(case=transpose_cases())
def test_transpose_equals_numpy_every_step_and_multiproof(case: tuple[Op, np.ndarray]) -> None:
    op, x = case
    assert validate_op(op, 0, 1, [TensorSpec(I8, *x.shape)]) == op.out_spec
    out = run_op(op, x, None)
    assert (out == x.T).all()
    got = Executor(_prog(op, [TensorSpec(I8, *x.shape)]), {}, CPU).run([x]).output
    assert (got == x.T).all()
    px, po = pack(x, I8), pack(out, I8)
    tree = tensor_tree(px, I8)
    n = op.out_spec.n_leaves
    for j in range(1 << depth_for(n)):
        if j >= n:
            assert step_elementwise(op, j, n, None, None) == bytes(32)
            continue
        idx = group_leaf_indices(op, j)
        assert idx == sorted(idx) and len(idx) == LEAF_ELEMS
        step = step_elementwise(op, j, n, b"".join(leaf(px, I8, i) for i in idx), None)
        assert step == leaf(po, I8, j)
        nodes = [tree.node(0, i) for i in idx]
        assert root_from_multi(nodes, idx, multi_proof(tree, idx), tree.depth) == tree.root


def _update_plain(w: int, g: int, f: int, op: Op) -> int:
    d = g * op.mult
    q = d >> op.shift
    r = d - q * (1 << op.shift)
    u = _lowbias32(_lowbias32(_lowbias32(op.period) ^ op.pos) ^ f) >> (32 - op.shift)
    lo, hi = (op.lo * 256, op.hi * 256) if op.has(Flag.INT32) else (op.lo, op.hi)
    return min(max(w - q - (1 if u < r else 0), lo), hi)


@st.composite
def update_cases(draw: st.DrawFn) -> tuple[Op, np.ndarray, np.ndarray]:
    m, n = draw(st.integers(1, 3)), LEAF_ELEMS * draw(st.integers(1, 2))
    master = draw(st.booleans())
    lo, hi = sorted((draw(st.integers(-128, 127)), draw(st.integers(-128, 127))))
    op = Op(
        Opcode.UPDATE, out=2, a=0, b=1, M=m, N=n, flags=Flag.INT32 if master else 0,
        mult=draw(st.one_of(st.just(INT32_MAX), st.integers(1, INT32_MAX))),
        shift=draw(st.one_of(st.sampled_from([1, 32]), st.integers(1, 32))),
        lo=lo, hi=hi, pos=draw(st.integers(0, 2**32 - 1)), period=draw(st.integers(0, 2**32 - 1)),
    )  # fmt: skip
    rng_ = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    wr = (-32768, 32768) if master else (-128, 128)
    w = rng_.integers(*wr, (m, n)).astype(np.int32 if master else np.int8)
    g = rng_.choice([-(2**31), 2**31 - 1, 0, -1, 1, *rng_.integers(-(2**31), 2**31, 8)], (m, n))
    return op, w, g.astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(case=update_cases())
def test_update_equals_plain_python_the_executor_and_every_step(
    case: tuple[Op, np.ndarray, np.ndarray],
) -> None:
    op, w, g = case
    wdt = I32 if op.has(Flag.INT32) else I8
    specs = [TensorSpec(wdt, op.M, op.N), TensorSpec(I32, op.M, op.N)]
    assert validate_op(op, 0, 2, specs) == op.out_spec
    out = run_op(op, w, g)
    want = [
        [_update_plain(int(w[m, n]), int(g[m, n]), m * op.N + n, op) for n in range(op.N)]
        for m in range(op.M)
    ]
    assert out.tolist() == want
    got = Executor(_prog(op, specs), {}, CPU).run([w, g]).output
    assert got.dtype == (np.int32 if wdt == I32 else np.int8) and (got == out).all()
    pw, pg, po = pack(w, wdt), pack(g, I32), pack(out, wdt)
    n = op.out_spec.n_leaves
    for j in range(1 << depth_for(n)):
        if j >= n:
            assert step_elementwise(op, j, n, None, None) == bytes(wdt.leaf_bytes)
            continue
        got_leaf = step_elementwise(op, j, n, leaf(pw, wdt, j), leaf(pg, I32, j))
        assert got_leaf == leaf(po, wdt, j)


def test_stochastic_rounding_is_unbiased_and_exact_on_multiples() -> None:
    """The mean update over many elements is g * mult / 2^shift (a float reference), and an
    update by an exact multiple of 2^shift never rounds."""
    m, n = 256, 64
    op = Op(Opcode.UPDATE, out=2, a=0, b=1, M=m, N=n, mult=3, shift=10, lo=-128, hi=127, pos=7)
    rng_ = np.random.default_rng(0)
    g = rng_.integers(-2000, 2000, (m, n))
    w = np.zeros((m, n), np.int64)
    delta = -run_op(op, w, g).astype(np.float64)
    exact = g * 3 / 1024
    assert np.all(np.abs(delta - exact) < 1)  # floor or ceil of the exact value
    assert abs(float((delta - exact).mean())) < 0.01  # unbiased (deterministic rounding: ~0.5)
    g2 = rng_.integers(-40, 40, (m, n)) * 1024  # g * mult / 2^shift = 3k exactly
    assert (-run_op(op, w, g2) == np.clip(g2 * 3 // 1024, -127, 128)).all()
    # a different step draws different roundings, the same step the same ones
    assert (run_op(op, w, g) == run_op(op, w, g)).all()
    other = Op(**{**op.__dict__, "pos": 8})
    assert (run_op(other, w, g) != run_op(op, w, g)).any()


def _enc(op: Op, n_inputs: int) -> tuple[str, int | None, int]:
    v = encoding_violation(op.encode(), 0, n_inputs)
    assert v is not None
    return v.error.__name__, v.field, v.value


def test_op_rules_of_the_training_ops_name_their_field() -> None:
    t = Op(Opcode.TRANSPOSE, out=1, a=0, M=64, N=32)
    u = Op(Opcode.UPDATE, out=2, a=0, b=1, M=1, N=32, mult=5, shift=8, lo=-127, hi=127, pos=3)
    assert op_violation(t, 0, 1) is None and op_violation(u, 0, 2) is None
    assert _enc(Op(**{**t.__dict__, "M": 48}), 1) == ("AlignmentError", 8, 48)
    assert _enc(Op(**{**t.__dict__, "K": 32}), 1) == ("FieldOutOfRange", 12, 32)
    assert _enc(Op(**{**t.__dict__, "b": 0}), 1) == ("FieldOutOfRange", 6, 0)
    assert _enc(Op(**{**t.__dict__, "flags": 1}), 1) == ("FieldOutOfRange", 1, 1)
    assert _enc(Op(**{**t.__dict__, "pos": 1}), 1) == ("FieldOutOfRange", 48, 1)
    assert _enc(Op(**{**u.__dict__, "shift": 0}), 2) == ("FieldOutOfRange", 24, 0)
    assert _enc(Op(**{**u.__dict__, "shift": 33}), 2) == ("FieldOutOfRange", 24, 33)
    assert _enc(Op(**{**u.__dict__, "lo": 1, "hi": 0}), 2) == ("FieldOutOfRange", 26, 1)
    assert _enc(Op(**{**u.__dict__, "mult": 0}), 2) == ("FieldOutOfRange", 20, 0)
    assert _enc(Op(**{**u.__dict__, "zp": 1}), 2) == ("FieldOutOfRange", 25, 1)
    assert _enc(Op(**{**u.__dict__, "flags": 2}), 2) == ("FieldOutOfRange", 1, 2)
    assert _enc(Op(**{**u.__dict__, "K": 1}), 2) == ("FieldOutOfRange", 12, 1)
    assert _enc(Op(**{**u.__dict__, "b": 0xFFFF}), 2) == ("SlotOutOfRange", 6, 0xFFFF)
    assert op_violation(Op(**{**u.__dict__, "period": 2**32 - 1}), 0, 2) is None


def test_table_rules_of_the_training_ops() -> None:
    u = Op(Opcode.UPDATE, out=2, a=0, b=1, M=1, N=32, mult=5, shift=8, lo=-127, hi=127)
    with pytest.raises(DTypeMismatch, match="weights"):
        validate_op(u, 0, 2, [TensorSpec(I32, 1, 32), TensorSpec(I32, 1, 32)])
    with pytest.raises(DTypeMismatch, match="gradient"):
        validate_op(u, 0, 2, [TensorSpec(I8, 1, 32), TensorSpec(I8, 1, 32)])
    with pytest.raises(ShapeMismatch):
        validate_op(u, 0, 2, [TensorSpec(I8, 1, 32), TensorSpec(I32, 2, 32)])
    t = Op(Opcode.TRANSPOSE, out=1, a=0, M=64, N=32)
    with pytest.raises(DTypeMismatch):
        validate_op(t, 0, 1, [TensorSpec(I32, 32, 64)])
    master = Op(**{**u.__dict__, "flags": int(Flag.INT32)})
    assert validate_op(master, 0, 2, [TensorSpec(I32, 1, 32), TensorSpec(I32, 1, 32)]).dtype == I32


def test_trace_witnesses_of_the_training_ops_verify() -> None:
    """One backward step: dW = dZ^T . X^T^T, the update, and dX = dZ . W^T^T."""
    b = ProgramBuilder()
    x = b.data_input("x", 64, 96)
    w = b.constant("w", np.arange(96 * 32).reshape(32, 96) % 251 - 125, I8)
    dz = b.requant(b.matmul(x, w, 64, 96, 32), 64, 32, 6, mult=1)  # [64, 32]
    dw = b.matmul(b.transpose(dz), b.transpose(x), 32, 64, 96)  # [32, 96] int32
    b.matmul(dz, b.transpose(w), 64, 32, 96)  # dX [64, 96]
    out = b.update(w, dw, mult=3, shift=12, step=5, seed=9)
    prog, consts = b.finish(out)
    vals = {**consts, 0: np.random.default_rng(1).integers(-128, 128, (64, 96)).astype(np.int8)}
    tp = TraceProvider(prog, vals, CPU)
    res = Executor(prog, vals, CPU).run([vals[0]])
    assert tp.state_root(len(prog.ops)) == res.state_root
    seen = set()
    for i, op in enumerate(prog.ops):
        if op.opcode not in (Opcode.TRANSPOSE, Opcode.UPDATE):
            continue
        seen.add(op.opcode)
        n = op.out_spec.n_leaves
        for j in [*range(min(n, 6)), n - 1, *([n] if n < 1 << depth_for(n) else [])]:
            sw = tp.step_witness(i, j)
            assert sw.expected_leaf == tp.leaf(prog.n_inputs + i, j)
            if j >= n:
                continue
            assert sw.a is not None
            if op.opcode == Opcode.UPDATE:
                assert sw.b is not None and verify_leaf(sw.b.leaf, j, sw.b.siblings, tp.root(op.b))
                assert verify_leaf(sw.a.leaf, j, sw.a.siblings, tp.root(op.a))
                continue
            idx = group_leaf_indices(op, j)
            nodes = [hashlib.sha256(sw.a.leaf[32 * k : 32 * k + 32]).digest() for k in range(32)]
            assert root_from_multi(nodes, idx, sw.a.siblings, tp.tree(op.a).depth) == tp.root(op.a)
    assert seen == {Opcode.TRANSPOSE, Opcode.UPDATE}
