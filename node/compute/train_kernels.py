"""Torch kernels of the v6 training ops (protocol.md section 4, issue 15), bit-exact with
node/program/train_ref.py: integer torch ops only (int64, products of the generator taken mod
2^32 from 16-bit halves so that no int64 product overflows), the same code on CPU and CUDA
tensors."""

from __future__ import annotations

import torch

from node.program.constants import Flag, Opcode
from node.program.ops import Op
from node.program.train_ref import U32, clamp_bounds, rng_key


def mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """x * c mod 2^32 for uint32 x in int64, without overflow (train_ref.mul32)."""
    return ((((x * (c >> 16)) & 0xFFFF) << 16) + x * (c & 0xFFFF)) & U32


def h32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on uint32 values held in int64 (train_ref.h32)."""
    x = x & U32
    x = x ^ (x >> 16)
    x = mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def transpose(a: torch.Tensor, op: Op) -> torch.Tensor:
    return a.reshape(op.N, op.M).t().contiguous()


def update(a: torch.Tensor, b: torch.Tensor, op: Op) -> torch.Tensor:
    w = a.reshape(op.M, op.N).to(torch.int64)
    d = b.reshape(op.M, op.N).to(torch.int64) * op.mult
    q = d >> op.shift
    r = d - (q << op.shift)
    flat = torch.arange(op.M * op.N, dtype=torch.int64, device=a.device).reshape(op.M, op.N)
    u = h32(flat ^ rng_key(op.period, op.pos)) >> (32 - op.shift)
    lo, hi = clamp_bounds(op)
    y = (w - q - (u < r).to(torch.int64)).clamp_(lo, hi)
    return y.to(torch.int32 if op.has(Flag.INT32) else torch.int8)


def apply(op: Op, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """The output of a v6 op from its operand tensors."""
    if op.opcode == Opcode.TRANSPOSE:
        return transpose(a, op)
    assert b is not None
    if op.opcode == Opcode.UPDATE:
        return update(a, b, op)
    raise AssertionError(op.opcode)
