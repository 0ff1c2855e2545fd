"""Every program that validates executes (issue 11, F5 / P7): programs that read one slot in
several operand positions — both operands of one op (`matmul(q, q)`, `add(m, m)`,
`lut(t, t)`, a per-channel requant by its own input), a slot read again by later ops, the
output slot read by later ops, an input (data or constant) as the output — run on the executor
to the numpy reference, and the lazy trace's roots equal the executor's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.constants import LEAF_ELEMS, NO_SLOT, DType, Flag, Opcode
from node.program.ops import Op, group_op, im2col_op, qadd_op
from node.program.program import InputSlot, Program
from node.program.reference import run_op
from node.program.tensors import TensorSpec
from node.trace.lazy import TraceProvider

PATHS = [
    ComputeConfig(device="cpu", cpu_int8_gemm="off"),
    ComputeConfig(device="cpu", cpu_int8_gemm="auto", cpu_int8_min_k=32),
]
_NP = {DType.INT8: np.int8, DType.INT32: np.int32}
L = LEAF_ELEMS


@dataclass(frozen=True)
class Case:
    program: Program
    constants: dict[int, npt.NDArray[Any]]
    data: dict[int, npt.NDArray[Any]]  # the inputs that are not constants

    @property
    def inputs(self) -> dict[int, npt.NDArray[Any]]:
        return {**self.constants, **self.data}


def reference(program: Program, inputs: dict[int, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    """Every slot's values by the numpy reference, op by op."""
    vals = [np.asarray(inputs[s]) for s in range(program.n_inputs)]
    for op in program.ops:
        b = vals[op.b] if op.b != NO_SLOT else None
        out = run_op(op, vals[op.a], b)
        vals.append(out.astype(_NP[op.out_spec.dtype]).reshape(op.M, op.N))
    return vals


def _values(rng: np.random.Generator, spec: TensorSpec, positive: bool = False) -> Any:
    if spec.dtype == DType.INT8:
        return rng.integers(-128, 128, (spec.rows, spec.cols)).astype(np.int8)
    lo = 1 if positive else -(1 << 31)
    return rng.integers(lo, 1 << 31, (spec.rows, spec.cols)).astype(np.int32)


def random_reuse_program(seed: int, n_ops: int) -> Case:
    """A random valid program over a few small inputs whose ops prefer operands that are
    already read elsewhere, and the same slot for both operands wherever shapes allow it."""
    rng = np.random.default_rng(seed)
    specs: list[TensorSpec] = [
        TensorSpec(DType.INT8, 32, 32),  # square: matmul(x, x)
        TensorSpec(DType.INT8, 8, 32),  # 256 elements: lut(t, t)
        TensorSpec(DType.INT32, 1, 32),  # one row: add(r, r) broadcast, requant by itself
        TensorSpec(DType.INT32, 32, 32),
    ]
    n_in = len(specs)
    table = list(specs)
    reads = [0] * n_in
    ops: list[Op] = []

    def pick(ok: Any) -> int | None:
        cands = [s for s, t in enumerate(table) if ok(t)]
        if not cands:
            return None
        used = [s for s in cands if reads[s]]
        pool = used if used and rng.random() < 0.6 else cands
        return int(rng.choice(pool))

    def other(a: int, ok: Any) -> int | None:
        # the same slot as `a` whenever it fits, half the time
        if ok(table[a]) and rng.random() < 0.5:
            return a
        return pick(ok)

    while len(ops) < n_ops:
        out = n_in + len(ops)
        code = list(Opcode)[int(rng.integers(len(Opcode)))]
        op: Op | None = None
        if code == Opcode.MATMUL:
            a = pick(lambda t: t.dtype == DType.INT8 and t.rows <= 64)
            if a is None:
                continue
            m, k = table[a].rows, table[a].cols
            w = other(a, lambda t, k=k: t.dtype == DType.INT8 and t.numel % (k * L) == 0)
            if w is None or table[w].numel // k > 64:
                continue
            op = Op(Opcode.MATMUL, out=out, a=a, b=w, M=m, K=k, N=table[w].numel // k)
        elif code == Opcode.ADD:
            a = pick(lambda t: t.dtype == DType.INT32)
            if a is None:
                continue
            m, n = table[a].rows, table[a].cols
            bc = bool(rng.integers(0, 2))
            need = n if bc else m * n
            b = other(a, lambda t, need=need: t.dtype == DType.INT32 and t.numel == need)
            if b is None:
                continue
            op = Op(Opcode.ADD, out=out, a=a, b=b, M=m, N=n, flags=Flag.ADD_BROADCAST if bc else 0)
        elif code == Opcode.REQUANT:
            a = pick(lambda t: t.dtype == DType.INT32)
            if a is None:
                continue
            m, n = table[a].rows, table[a].cols
            kw: dict[str, Any] = dict(
                out=out, a=a, M=m, N=n, shift=int(rng.integers(1, 63)), zp=int(rng.integers(-8, 8))
            )
            b = other(a, lambda t, n=n: t.dtype == DType.INT32 and t.numel == n)
            if b is not None and rng.random() < 0.7:
                op = Op(Opcode.REQUANT, b=b, flags=Flag.REQUANT_PER_CHANNEL, lo=-128, hi=127, **kw)
            else:
                op = Op(Opcode.REQUANT, mult=int(rng.integers(1, 1 << 31)), lo=-128, hi=127, **kw)
        elif code == Opcode.RELU:
            a = pick(lambda t: True)
            assert a is not None
            t = table[a]
            wide = t.dtype == DType.INT32
            op = Op(
                Opcode.RELU, out=out, a=a, M=t.rows, N=t.cols, flags=Flag.RELU_INT32 if wide else 0
            )
        elif code == Opcode.LUT:
            a = pick(lambda t: t.dtype == DType.INT8)
            if a is None:
                continue
            b = other(a, lambda t: t.dtype == DType.INT8 and t.numel == 256)
            if b is None:
                continue
            op = Op(Opcode.LUT, out=out, a=a, b=b, M=table[a].rows, N=table[a].cols)
        elif code == Opcode.QADD:
            a = pick(lambda t: t.dtype == DType.INT8)
            if a is None:
                continue
            m, n = table[a].rows, table[a].cols
            b = other(a, lambda t, need=m * n: t.dtype == DType.INT8 and t.numel == need)
            if b is None:
                continue
            op = qadd_op(out, a, b, M=m, N=n, mult=int(rng.integers(1, 1 << 20)),
                         mult2=int(rng.integers(1, 1 << 20)), shift=20)  # fmt: skip
        elif code in (Opcode.GMAX, Opcode.GSUM):
            g = int(rng.choice([1, 2, 4]))
            a = pick(lambda t, g=g: t.dtype == DType.INT8 and t.numel % (g * L) == 0)
            if a is None:
                continue
            op = group_op(code, out, a, groups=g, M=table[a].numel // (g * L), N=L)
        else:
            a = pick(lambda t: t.dtype == DType.INT8 and t.rows <= 32)
            if a is None:
                continue
            h, w_ = table[a].rows, table[a].cols // L
            op = im2col_op(
                out,
                a,
                B=1,
                H=h,
                W=w_,
                C=L,
                KH=int(rng.integers(1, min(h, 2) + 1)),
                KW=int(rng.integers(1, min(w_, 2) + 1)),
                S=int(rng.integers(1, 3)),
                P=int(rng.integers(0, 2)),
                padv=int(rng.integers(-128, 128)),
            )
            if op.M * op.N > 4096:
                continue
        ops.append(op)
        table.append(op.out_spec)
        reads[op.a] += 1
        if op.b != NO_SLOT:
            reads[op.b] += 1
        reads.append(0)
    # the output: usually the last op, sometimes an earlier op (read later) or an input
    r = rng.random()
    read_ops = [s for s in range(n_in, n_in + n_ops) if reads[s]]
    if r < 0.5 or (r < 0.8 and not read_ops):
        output = n_in + n_ops - 1
    elif r < 0.8:
        output = int(rng.choice(read_ops))  # an op output that later ops read
    else:
        output = int(rng.integers(0, n_in + n_ops))
    program = Program(
        tuple(InputSlot(f"in{i}", s) for i, s in enumerate(specs)), tuple(ops), output
    )
    program.validate()
    values = {s: _values(rng, spec, positive=s == 2) for s, spec in enumerate(specs)}
    const = {s for s in range(n_in) if rng.random() < 0.5}
    return Case(
        program,
        {s: v for s, v in values.items() if s in const},
        {s: v for s, v in values.items() if s not in const},
    )


def check(case: Case, config: ComputeConfig, budget: int | None = None) -> None:
    prog = case.program
    expected = reference(prog, case.inputs)
    ex = Executor(prog, case.constants, config)
    res = ex.run(case.data, Commit.STATE)
    assert np.array_equal(res.output, expected[prog.output_slot])
    assert res.output.dtype == expected[prog.output_slot].dtype
    kept = ex.run(case.data, Commit.STATE, keep=True)
    assert kept.slots is not None and kept.state_root == res.state_root
    for s, want in enumerate(expected):
        assert np.array_equal(kept.slots[s].cpu().numpy().reshape(want.shape), want), s
    assert ex.run(case.data, Commit.OUTPUT).output_root == res.output_root
    assert np.array_equal(ex.run(case.data, Commit.NONE).output, res.output)

    # the lazy trace, asked from the output back (and with a tiny cache: recomputed operands)
    if budget is not None:
        config = ComputeConfig(
            device=config.device,
            cpu_int8_gemm=config.cpu_int8_gemm,
            cpu_int8_min_k=config.cpu_int8_min_k,
            memory_budget=budget,
        )
    trace = TraceProvider(prog, case.inputs, config)
    n = len(prog.ops)
    assert np.array_equal(trace.values(prog.output_slot), expected[prog.output_slot])
    assert res.slot_roots is not None
    for s in reversed(range(prog.n_slots)):
        assert trace.root(s) == res.slot_roots[s], s
    assert trace.state_root(n) == res.state_root
    assert trace.state_proof(n, prog.output_slot) == res.output_proof


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_ops=st.integers(1, 8),
    path=st.sampled_from(range(len(PATHS))),
    small_cache=st.booleans(),
)
def test_random_programs_that_reuse_slots_execute_to_the_reference(
    seed: int, n_ops: int, path: int, small_cache: bool
) -> None:
    check(random_reuse_program(seed, n_ops), PATHS[path], 4096 if small_cache else None)


def _named(pattern: str) -> Case:
    """One program per reuse pattern, by hand."""
    rng = np.random.default_rng(7)
    x8 = TensorSpec(DType.INT8, 32, 32)
    t8 = TensorSpec(DType.INT8, 8, 32)
    r32 = TensorSpec(DType.INT32, 1, 32)
    m32 = TensorSpec(DType.INT32, 32, 32)
    mm = dict(M=32, K=32, N=32)
    rq = dict(M=32, N=32, shift=12, mult=1, lo=-128, hi=127)
    specs: list[TensorSpec]
    ops: list[Op]
    if pattern == "matmul(x, x) of the data input":
        specs, ops, out = [x8], [Op(Opcode.MATMUL, out=1, a=0, b=0, **mm)], 1
    elif pattern == "matmul(q, q) of an op output":
        specs = [x8]
        ops = [Op(Opcode.RELU, out=1, a=0, M=32, N=32), Op(Opcode.MATMUL, out=2, a=1, b=1, **mm)]
        out = 2
    elif pattern == "add(m, m), then m read again":
        specs = [x8]
        ops = [
            Op(Opcode.MATMUL, out=1, a=0, b=0, **mm),
            Op(Opcode.ADD, out=2, a=1, b=1, M=32, N=32),
            Op(Opcode.ADD, out=3, a=2, b=1, M=32, N=32),
            Op(Opcode.REQUANT, out=4, a=3, **rq),
        ]
        out = 4
    elif pattern == "add(r, r) broadcast and requant by itself":
        specs = [r32]
        ops = [
            Op(Opcode.ADD, out=1, a=0, b=0, M=1, N=32, flags=Flag.ADD_BROADCAST),
            Op(
                Opcode.REQUANT,
                out=2,
                a=1,
                b=1,
                M=1,
                N=32,
                shift=40,
                flags=Flag.REQUANT_PER_CHANNEL,
                lo=-128,
                hi=127,
            ),
        ]
        out = 2
    elif pattern == "lut(t, t)":
        specs, ops, out = [t8], [Op(Opcode.LUT, out=1, a=0, b=0, M=8, N=32)], 1
    elif pattern == "the output slot read by later ops":
        specs = [x8, m32]
        ops = [
            Op(Opcode.MATMUL, out=2, a=0, b=0, **mm),
            Op(Opcode.ADD, out=3, a=2, b=1, M=32, N=32),
            Op(Opcode.ADD, out=4, a=3, b=3, M=32, N=32),
            Op(Opcode.ADD, out=5, a=2, b=4, M=32, N=32),
        ]
        out = 3
    elif pattern == "an input as the output, read as both operands":
        specs = [x8]
        ops = [Op(Opcode.MATMUL, out=1, a=0, b=0, **mm), Op(Opcode.MATMUL, out=2, a=0, b=0, **mm)]
        out = 0
    elif pattern == "an unread op output":
        specs = [x8]
        ops = [Op(Opcode.RELU, out=1, a=0, M=32, N=32), Op(Opcode.MATMUL, out=2, a=0, b=0, **mm)]
        out = 2
    else:
        raise AssertionError(pattern)
    program = Program(tuple(InputSlot(f"in{i}", s) for i, s in enumerate(specs)), tuple(ops), out)
    program.validate()
    values = {s: _values(rng, spec, positive=True) for s, spec in enumerate(specs)}
    return Case(program, {s: v for s, v in values.items() if s > 0}, {0: values[0]})


PATTERNS = [
    "matmul(x, x) of the data input",
    "matmul(q, q) of an op output",
    "add(m, m), then m read again",
    "add(r, r) broadcast and requant by itself",
    "lut(t, t)",
    "the output slot read by later ops",
    "an input as the output, read as both operands",
    "an unread op output",
]


@pytest.mark.parametrize("path", range(len(PATHS)))
@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_reuse_pattern_executes_to_the_reference(pattern: str, path: int) -> None:
    check(_named(pattern), PATHS[path], budget=4096)


def test_a_constant_read_as_both_operands_stays_for_the_next_run() -> None:
    case = _named("matmul(x, x) of the data input")
    prog = case.program
    w = case.data[0]
    ex = Executor(prog, {0: w}, PATHS[0])
    first = ex.run({}, Commit.STATE)
    second = ex.run({}, Commit.STATE)
    assert first.state_root == second.state_root
    assert np.array_equal(first.output, reference(prog, {0: w})[1])
