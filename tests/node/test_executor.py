"""The torch executor equals the reference semantics on every op, exactly, including the
extremes where a float GEMM would round."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from node.compute.commit import packed
from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.constants import NO_SLOT, DType, Opcode
from node.program.merkle import tensor_tree
from node.program.ops import Op
from node.program.program import InputSlot, Program
from node.program.reference import run_op
from node.program.samples import random_op
from node.program.tensors import TensorSpec

# The CPU has two exact matmul paths: fp32 GEMM on K-chunks, and oneDNN int8 GEMM (where exact).
PATHS = [
    ComputeConfig(device="cpu", cpu_int8_gemm="off"),
    ComputeConfig(device="cpu", cpu_int8_gemm="off", fp32_exact_k=32),
    ComputeConfig(device="cpu", cpu_int8_gemm="auto", cpu_int8_min_k=32),
]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    opcode=st.sampled_from(list(Opcode)),
    path=st.sampled_from(range(len(PATHS))),
)
def test_every_op_equals_the_reference(seed: int, opcode: Opcode, path: int) -> None:
    s = random_op(np.random.default_rng(seed), opcode)
    ex = Executor(s.program, {}, PATHS[path])
    res = ex.run(list(s.values), commit=Commit.STATE)
    expected = run_op(s.op, s.values[0], s.values[1] if len(s.values) > 1 else None)
    assert res.output.dtype == (np.int32 if s.op.out_spec.dtype == DType.INT32 else np.int8)
    assert (res.output.astype(np.int64) == expected).all()
    assert (
        res.output_root
        == tensor_tree(packed(torch.from_numpy(res.output)), s.op.out_spec.dtype).root
    )


@pytest.mark.parametrize("path", range(len(PATHS)))
@pytest.mark.parametrize("k", [1024, 2048, 4096 + 32])
def test_matmul_is_exact_at_the_extremes(k: int, path: int) -> None:
    # (-128) * (-128) summed K times: 2^14 * K, beyond fp32's 2^24 for K > 1024 in one GEMM.
    m, n = 3, 32
    a = np.full((m, k), -128, dtype=np.int8)
    w = np.full((n, k), -128, dtype=np.int8)
    w[1] = 127
    a[2, ::2] = 127
    prog = Program(
        (
            InputSlot("a", TensorSpec(DType.INT8, m, k)),
            InputSlot("w", TensorSpec(DType.INT8, n, k)),
        ),
        (Op(Opcode.MATMUL, out=2, a=0, b=1, M=m, K=k, N=n),),
        2,
    )
    out = Executor(prog, {1: w}, PATHS[path]).run([a], commit=Commit.NONE).output
    assert (out.astype(np.int64) == a.astype(np.int64) @ w.astype(np.int64).T).all()


def test_matmul_paths_give_identical_roots() -> None:
    s = random_op(np.random.default_rng(5), Opcode.MATMUL)
    roots = {Executor(s.program, {}, cfg).run(list(s.values)).state_root for cfg in PATHS}
    assert len(roots) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("opcode", list(Opcode))
def test_cuda_gives_the_cpu_roots(opcode: Opcode) -> None:
    for seed in range(5):
        s = random_op(np.random.default_rng(seed), opcode, max_rows=40)
        cpu = Executor(s.program, {}, ComputeConfig(device="cpu")).run(list(s.values))
        gpu = Executor(s.program, {}, ComputeConfig(device="cuda")).run(list(s.values))
        assert (cpu.output == gpu.output).all() and cpu.state_root == gpu.state_root


@pytest.mark.parametrize("scale", [1000, 2**30, 2**31 - 1])
def test_add_is_exact_on_both_sides_of_the_overflow_bound(scale: int) -> None:
    rng = np.random.default_rng(scale)
    m, n = 4, 64
    a = rng.integers(-scale, scale, (m, n), endpoint=True).astype(np.int32)
    b = rng.integers(-scale, scale, (1, n), endpoint=True).astype(np.int32)
    a[0, 0], b[0, 0] = (scale, scale) if scale > 2**30 else (a[0, 0], b[0, 0])
    prog = Program(
        (
            InputSlot("a", TensorSpec(DType.INT32, m, n)),
            InputSlot("b", TensorSpec(DType.INT32, 1, n)),
        ),
        (Op(Opcode.ADD, out=2, a=0, b=1, M=m, N=n, flags=2),),
        2,
    )
    out = Executor(prog, {}, ComputeConfig(device="cpu")).run([a, b], commit=Commit.NONE).output
    assert (out.astype(np.int64) == run_op(prog.ops[0], a, b)).all()


@pytest.mark.parametrize(
    "xmag,mmag", [(2**20, 2**30), (2**22, 2**31 - 1), (2**31 - 1, 2**21), (2**31 - 1, 2**31 - 1)]
)
@pytest.mark.parametrize("per_channel", [False, True])
def test_requant_is_exact_on_both_sides_of_the_float64_bound(
    xmag: int, mmag: int, per_channel: bool
) -> None:
    # the kernel takes a float64 path while every intermediate is below 2^53, int64 beyond
    rng = np.random.default_rng(xmag % 1000 + mmag % 1000)
    m, n = 8, 64
    for shift in (1, 20, 31, 52, 53, 62):
        x = rng.integers(-xmag, xmag, (m, n), endpoint=True).astype(np.int32)
        x[0, :4] = [
            xmag,
            -xmag,
            1 << (shift - 1) if shift <= 31 else 1,
            -(1 << (shift - 1)) if shift <= 31 else -1,
        ]
        mults = rng.integers(1, mmag, (1, n), endpoint=True).astype(np.int32)
        mults[0, :2] = mmag
        specs = [InputSlot("x", TensorSpec(DType.INT32, m, n))]
        if per_channel:
            specs.append(InputSlot("m", TensorSpec(DType.INT32, 1, n)))
        op = Op(
            Opcode.REQUANT,
            out=len(specs),
            a=0,
            b=1 if per_channel else NO_SLOT,
            M=m,
            N=n,
            flags=4 if per_channel else 0,
            mult=0 if per_channel else int(mults[0, 0]),
            shift=shift,
            zp=3,
            lo=-100,
            hi=120,
        )
        prog = Program(tuple(specs), (op,), len(specs))
        vals = [x, mults] if per_channel else [x]
        out = Executor(prog, {}, ComputeConfig(device="cpu")).run(vals, commit=Commit.NONE).output
        assert (out.astype(np.int64) == run_op(op, x, mults if per_channel else None)).all(), shift
