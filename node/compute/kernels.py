"""Torch implementations of the ops, exact by arithmetic on CPU and CUDA.

Each kernel takes its operands as 2-D tensors of the slot's dtype and returns [M, N] of the
op's output dtype. Semantics: node.program.reference (tests compare the two)."""

from __future__ import annotations

import numpy as np
import torch

from node.program.constants import Flag, Opcode
from node.program.ops import Op
from node.program.reference import im2col_indices

_INT_MM_MIN_ROWS = 17  # torch._int_mm needs more than 16 rows


def matmul_cpu(a: torch.Tensor, wf: torch.Tensor, op: Op, chunk_k: int) -> torch.Tensor:
    """A int8 [M,K] times W [N,K] (given as fp32) -> int32. fp32 GEMM is exact on each K-chunk
    of at most `chunk_k` (partial sums <= chunk_k * 2^14 <= 2^24); chunks add in int32, which
    cannot overflow because K <= MAX_K."""
    A = a.reshape(op.M, op.K)
    if op.K <= chunk_k:
        return torch.matmul(A.to(torch.float32), wf.t()).to(torch.int32)
    out = torch.zeros(op.M, op.N, dtype=torch.int32, device=a.device)
    for k0 in range(0, op.K, chunk_k):
        k1 = min(op.K, k0 + chunk_k)
        out += torch.matmul(A[:, k0:k1].to(torch.float32), wf[:, k0:k1].t()).to(torch.int32)
    return out


def matmul_cpu_int8(a: torch.Tensor, w: torch.Tensor, op: Op) -> torch.Tensor:
    """int8 x int8 -> int32 through oneDNN (torch._int_mm on CPU). Only used where
    cpu_int8_gemm_is_exact() holds: with VNNI the products accumulate in int32 without
    saturation (vpdpbusd); older x86 kernels go through vpmaddubsw, which saturates int16."""
    return torch._int_mm(a.reshape(op.M, op.K), w.reshape(op.N, op.K).t())


_CPU_INT8_EXACT: bool | None = None


def cpu_int8_gemm_is_exact() -> bool:
    """True when this CPU advertises VNNI (or AMX) and oneDNN's int8 GEMM passes a probe at
    the values where a saturating kernel would fail (all +-127/-128, long K)."""
    global _CPU_INT8_EXACT
    if _CPU_INT8_EXACT is None:
        _CPU_INT8_EXACT = _cpu_has_vnni() and _probe_int8_gemm()
    return _CPU_INT8_EXACT


def _cpu_has_vnni() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((ln for ln in f if ln.startswith("flags")), "").split())
    except OSError:
        return False
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _probe_int8_gemm() -> bool:
    # Shapes that reach different oneDNN kernels (gemv, small and large M, short and long K),
    # filled with the values that make a saturating int16 kernel fail.
    vals = torch.tensor([127, -128, 127, 127, -128, -128, 127, -128], dtype=torch.int8)
    try:
        for m, k, n in ((1, 32, 32), (5, 96, 32), (20, 8192, 32), (64, 1024, 96), (300, 256, 64)):
            rows = [vals.roll(r).repeat(k // 8) for r in range(8)] + [
                torch.full((k,), 127, dtype=torch.int8),
                torch.full((k,), -128, dtype=torch.int8),
            ]
            a = torch.stack([rows[i % len(rows)] for i in range(m)])
            w = torch.stack([rows[(3 * i + 1) % len(rows)] for i in range(n)])
            got = torch._int_mm(a, w.t()).to(torch.int64)
            if not torch.equal(got, a.to(torch.int64) @ w.to(torch.int64).t()):
                return False
        return True
    except RuntimeError:
        return False


def matmul_cuda(a: torch.Tensor, w: torch.Tensor, op: Op) -> torch.Tensor:
    """int8 x int8 -> int32 on the GPU's integer units (torch._int_mm, cuBLASLt). Rows are
    independent, so zero rows padded to reach _int_mm's minimum do not change the result."""
    A = a.reshape(op.M, op.K)
    W = w.reshape(op.N, op.K)
    m = op.M
    if m < _INT_MM_MIN_ROWS:
        A = torch.cat([A, A.new_zeros(32 - m, op.K)])
    out = torch._int_mm(A, W.t())  # W.t() is column-major [K, N], the layout cuBLASLt wants
    return out[:m]


def add(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    x = a.reshape(op.M, op.N)
    y = b.reshape(-1, op.N)
    # When max|x| + max|y| < 2^31 no element can overflow, so an int32 add is exact; otherwise
    # add in int64 and wrap explicitly (the protocol's add wraps modulo 2^32).
    if _absmax(x) + _absmax(y) < (1 << 31):
        return torch.add(x, y)
    s = x.to(torch.int64) + y.to(torch.int64)
    return (((s + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).to(torch.int32)


def _absmax(t: torch.Tensor) -> int:
    lo, hi = torch.aminmax(t)
    return max(-int(lo), int(hi))


def requant(a: torch.Tensor, b: torch.Tensor | None, op: Op) -> torch.Tensor:
    x = a.reshape(op.M, op.N)
    per = op.has(Flag.REQUANT_PER_CHANNEL)
    if per:
        assert b is not None
        mult = b.reshape(1, op.N)
        mmax = max(-int(mult.min()), int(mult.max()))
    else:
        mmax = op.mult
    if _absmax(x) * mmax + (1 << (op.shift - 1)) < (1 << 53):
        # Every intermediate is an integer below 2^53: float64 holds it exactly, multiplying
        # by 2^-shift is exact, and floor gives the floor shift. Faster than int64 on CPUs.
        y = x.to(torch.float64)
        y.mul_(mult.to(torch.float64) if per else float(op.mult))
        y.add_(float(1 << (op.shift - 1))).mul_(2.0**-op.shift).floor_()
    else:
        # |x * mult| < 2^62: exact in int64; >> on signed int64 is a floor (arithmetic) shift.
        y = x.to(torch.int64)
        y.mul_(mult.to(torch.int64) if per else op.mult)
        y.add_(1 << (op.shift - 1)).bitwise_right_shift_(op.shift)
    if op.zp:
        y.add_(op.zp)
    return y.clamp_(op.lo, op.hi).to(torch.int8)


def relu(a: torch.Tensor, op: Op) -> torch.Tensor:
    return a.reshape(op.M, op.N).clamp_min(0)


def lut(a: torch.Tensor, table: torch.Tensor, op: Op) -> torch.Tensor:
    idx = a.reshape(-1).to(torch.int64) + 128
    return table.reshape(256)[idx].reshape(op.M, op.N)


def qadd(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    """clamp(((x*mult + y*mult2 + 2^(shift-1)) >> shift) + zp, lo, hi): the exact sum is below
    2^40 in magnitude, so int64 holds it; >> on signed int64 is a floor (arithmetic) shift."""
    y = a.reshape(op.M, op.N).to(torch.int64).mul_(op.mult)
    y.add_(b.reshape(op.M, op.N).to(torch.int64).mul_(op.mult2))
    y.add_(1 << (op.shift - 1)).bitwise_right_shift_(op.shift)
    if op.zp:
        y.add_(op.zp)
    return y.clamp_(op.lo, op.hi).to(torch.int8)


def gmax(a: torch.Tensor, op: Op) -> torch.Tensor:
    """max over the G = K column groups of `a` read as [M, G*N]."""
    return a.reshape(op.M, op.K, op.N).amax(dim=1)


def gsum(a: torch.Tensor, op: Op) -> torch.Tensor:
    """int32 sum over the G = K column groups (|sum| <= 128 * MAX_GROUP: int32 is exact)."""
    return a.reshape(op.M, op.K, op.N).to(torch.int32).sum(dim=1, dtype=torch.int32)


def im2col_index(op: Op, device: torch.device) -> torch.Tensor:
    idx = im2col_indices(op)
    idx = np.where(idx < 0, op.B * op.H * op.W, idx)  # the row after the last is the pad row
    return torch.from_numpy(idx.reshape(-1)).to(device)


def im2col(a: torch.Tensor, index: torch.Tensor, op: Op) -> torch.Tensor:
    x = a.reshape(-1, op.C)
    xpad = torch.cat([x, x.new_full((1, op.C), op.padv)])
    return xpad.index_select(0, index).reshape(op.M, op.N)


def is_elementwise(op: Op) -> bool:
    return op.opcode != Opcode.MATMUL
