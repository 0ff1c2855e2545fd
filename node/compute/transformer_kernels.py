"""Torch kernels of the v5 transformer ops (protocol.md section 4), bit-exact with
node/program/transformer_ref.py. Integer torch ops only, except the float64 square root whose
estimate `isqrt` corrects to the exact floor; the same code runs on CPU and CUDA tensors (the
CUDA path is unchecked: the development machine has no GPU)."""

from __future__ import annotations

import torch

from node.program.constants import (
    LEAF_ELEMS,
    REDUCE_MAX_START,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.ops import Op
from node.program.transformer_ref import ceil32


def _visible(op: Op, m: int, k: int, device: torch.device) -> torch.Tensor | None:
    """[m, k] bool of the causal mask (None without MASK: everything is visible)."""
    if not op.has(Flag.MASK):
        return None
    rows = torch.arange(m, device=device, dtype=torch.int64)
    cols = torch.arange(k, device=device, dtype=torch.int64)
    return cols[None, :] <= (op.pos + rows % op.period)[:, None]


def isqrt(v: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(max(v, 0))) exactly for int64 v < 2^63 (float64 estimate, then corrected)."""
    v = v.clamp_min(0)
    r = torch.sqrt(v.to(torch.float64)).floor().to(torch.int64)
    for _ in range(2):
        r = torch.where(r * r > v, r - 1, r)
        r = torch.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def _round_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """floor((2*num + den) / (2*den)) where den > 0, else 0 (int64, floor division)."""
    ok = den > 0
    d = torch.where(ok, den, torch.ones_like(den))
    q = torch.div(2 * num + d, 2 * d, rounding_mode="floor")
    return torch.where(ok, q, torch.zeros_like(q))


def gather(table: torch.Tensor, ids: torch.Tensor, op: Op) -> torch.Tensor:
    idx = torch.remainder(ids.reshape(op.M, LEAF_ELEMS)[:, 0].to(torch.int64), op.K)
    return table.reshape(op.K, op.N).index_select(0, idx)


def write(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    out = a.reshape(op.M, op.N).clone()
    if op.has(Flag.COLUMNS):
        out[:, op.pos : op.pos + op.K] = b.reshape(op.M, ceil32(op.K))[:, : op.K]
    else:
        out[op.pos : op.pos + op.K] = b.reshape(op.K, op.N)
    return out


def reduce(a: torch.Tensor, op: Op) -> torch.Tensor:
    x = a.reshape(op.M, op.K).to(torch.int64)
    vis = _visible(op, op.M, op.K, x.device)
    out = torch.zeros((op.M, LEAF_ELEMS), dtype=torch.int64, device=x.device)
    if op.kind == ReduceKind.MOMENTS:
        xv = x if vis is None else torch.where(vis, x, torch.zeros_like(x))
        out[:, 0] = xv.sum(dim=1)
        out[:, 1] = (xv * xv).sum(dim=1)
        return out.to(torch.int32)
    low = torch.full_like(x, REDUCE_MAX_START)
    xm = x if vis is None else torch.where(vis, x, low)
    mx = xm.amax(dim=1)
    if op.kind == ReduceKind.MAX:
        out[:] = mx[:, None]
        return out.to(torch.int32)
    hit = xm == mx[:, None]
    if vis is not None:
        hit &= vis
    # the lowest index of a hit: the max of (K - n) over hits (0 when there is none)
    rank = torch.where(hit, op.K - torch.arange(op.K, device=x.device), torch.zeros_like(x))
    best = rank.amax(dim=1)
    out[:] = torch.where(best > 0, op.K - best, torch.zeros_like(best))[:, None]
    return out.to(torch.int32)


def rowop(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    x = a.reshape(op.M, op.N).to(torch.int64)
    st = b.reshape(op.M, LEAF_ELEMS).to(torch.int64)
    s, q = st[:, :1], st[:, 1:2]
    scale = 1 << op.shift
    if op.kind == RowKind.SUB:
        y = x - s
    elif op.kind == RowKind.DIV:
        y = _round_div(x * scale, s.expand_as(x))
    else:
        norm = op.kind == RowKind.NORM
        c = x * op.K - s if norm else x * op.K
        v = op.K * q - s * s if norm else op.K * q
        y = _round_div(c * scale, isqrt(v).expand_as(x))
    y = y.clamp_(op.lo, op.hi)
    vis = _visible(op, op.M, op.N, x.device)
    if vis is not None:
        y = torch.where(vis, y, torch.full_like(y, op.lo))
    return y.to(torch.int8)


def mul(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    x = a.reshape(op.M, op.N).to(torch.int32)
    return x * b.reshape(-1, op.N).to(torch.int32)


def apply(op: Op, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """The output of a v5 op from its operand tensors."""
    code = op.opcode
    if code == Opcode.REDUCE:
        return reduce(a, op)
    assert b is not None
    if code == Opcode.GATHER:
        return gather(a, b, op)
    if code == Opcode.WRITE:
        return write(a, b, op)
    if code == Opcode.ROWOP:
        return rowop(a, b, op)
    if code == Opcode.MUL:
        return mul(a, b, op)
    raise AssertionError(code)
