"""Random valid single-op programs with operands, for property tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_GROUP,
    MAX_ROW_SHIFT,
    NO_SLOT,
    DType,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.ops import Op, group_op, im2col_op, qadd_op
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec
from node.program.transformer_ref import V5_OPS


@dataclass(frozen=True)
class OpSample:
    program: Program
    values: tuple[np.ndarray, ...]  # one array per input slot, shaped as its spec

    @property
    def op(self) -> Op:
        return self.program.ops[0]


def _prog(specs: list[TensorSpec], op: Op) -> Program:
    p = Program(tuple(InputSlot(f"in{i}", s) for i, s in enumerate(specs)), (op,), len(specs))
    p.validate()
    return p


def random_im2col_window(rng: np.random.Generator) -> dict[str, int]:
    """A random im2col input and window (B, H, W, C, KH, KW, S, P) within the protocol's limits:
    C a multiple of the leaf, the kernel no larger than the input, stride 1-2, padding 0-1."""
    b, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
    c = LEAF_ELEMS * int(rng.integers(1, 3))
    kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
    s, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    return {"B": b, "H": h, "W": w, "C": c, "KH": kh, "KW": kw, "S": s, "P": p}


def random_op(rng: np.random.Generator, opcode: Opcode, max_rows: int = 6) -> OpSample:
    m = int(rng.integers(1, max_rows + 1))
    n = LEAF_ELEMS * int(rng.integers(1, 4))

    def i8(*shape: int) -> np.ndarray:
        return rng.integers(-128, 128, shape).astype(np.int8)

    def i32(*shape: int, lo: int = INT32_MIN, hi: int = INT32_MAX) -> np.ndarray:
        return rng.integers(lo, hi, shape, endpoint=True).astype(np.int32)

    if opcode == Opcode.MATMUL:
        k = LEAF_ELEMS * int(rng.integers(1, 6))
        specs = [TensorSpec(DType.INT8, m, k), TensorSpec(DType.INT8, n, k)]
        op = Op(Opcode.MATMUL, out=2, a=0, b=1, M=m, K=k, N=n)
        return OpSample(_prog(specs, op), (i8(m, k), i8(n, k)))
    if opcode == Opcode.ADD:
        bc = bool(rng.integers(0, 2))
        specs = [TensorSpec(DType.INT32, m, n), TensorSpec(DType.INT32, 1 if bc else m, n)]
        op = Op(Opcode.ADD, out=2, a=0, b=1, M=m, N=n, flags=Flag.ADD_BROADCAST if bc else 0)
        return OpSample(_prog(specs, op), (i32(m, n), i32(1 if bc else m, n)))
    if opcode == Opcode.REQUANT:
        per = bool(rng.integers(0, 2))
        shift = int(rng.integers(1, 63))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        specs = [TensorSpec(DType.INT32, m, n)] + ([TensorSpec(DType.INT32, 1, n)] if per else [])
        op = Op(
            Opcode.REQUANT,
            out=len(specs),
            a=0,
            b=1 if per else NO_SLOT,
            M=m,
            N=n,
            flags=Flag.REQUANT_PER_CHANNEL if per else 0,
            mult=0 if per else int(rng.integers(1, INT32_MAX, endpoint=True)),
            shift=shift,
            zp=int(rng.integers(-128, 128)),
            lo=lo,
            hi=hi,
        )
        vals = (i32(m, n),) + ((i32(1, n, lo=1),) if per else ())
        return OpSample(_prog(specs, op), vals)
    if opcode == Opcode.RELU:
        wide = bool(rng.integers(0, 2))
        dt = DType.INT32 if wide else DType.INT8
        op = Op(Opcode.RELU, out=1, a=0, M=m, N=n, flags=Flag.RELU_INT32 if wide else 0)
        return OpSample(_prog([TensorSpec(dt, m, n)], op), (i32(m, n) if wide else i8(m, n),))
    if opcode == Opcode.LUT:
        specs = [TensorSpec(DType.INT8, m, n), TensorSpec(DType.INT8, 1, 256)]
        op = Op(Opcode.LUT, out=2, a=0, b=1, M=m, N=n)
        return OpSample(_prog(specs, op), (i8(m, n), i8(1, 256)))
    if opcode == Opcode.IM2COL:
        win = random_im2col_window(rng)
        op = im2col_op(1, 0, padv=int(rng.integers(-128, 128)), **win)
        spec = TensorSpec(DType.INT8, win["B"] * win["H"] * win["W"], win["C"])
        return OpSample(_prog([spec], op), (i8(spec.rows, spec.cols),))
    if opcode == Opcode.QADD:
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        op = qadd_op(
            2,
            0,
            1,
            M=m,
            N=n,
            mult=int(rng.integers(1, INT32_MAX, endpoint=True)),
            mult2=int(rng.integers(1, INT32_MAX, endpoint=True)),
            shift=int(rng.integers(1, 63)),
            zp=int(rng.integers(-128, 128)),
            lo=lo,
            hi=hi,
        )
        specs = [TensorSpec(DType.INT8, m, n), TensorSpec(DType.INT8, m, n)]
        return OpSample(_prog(specs, op), (i8(m, n), i8(m, n)))
    if opcode in (Opcode.GMAX, Opcode.GSUM):
        # G = 1 and G = MAX_GROUP as often as anything in between
        g = int(rng.choice([1, MAX_GROUP, int(rng.integers(1, MAX_GROUP + 1))]))
        m = int(rng.integers(1, 4))
        op = group_op(opcode, 1, 0, groups=g, M=m, N=n)
        return OpSample(_prog([TensorSpec(DType.INT8, m, g * n)], op), (i8(m, g * n),))
    if opcode in V5_OPS:
        return _random_v5(rng, opcode, m, n, i8, i32)
    raise ValueError(opcode)


def _random_v5(
    rng: np.random.Generator,
    opcode: Opcode,
    m: int,
    n: int,
    i8: Callable[..., np.ndarray],
    i32: Callable[..., np.ndarray],
) -> OpSample:
    """gather, write, reduce, rowop, mul (protocol.md section 4) on random operands; the
    per-row values of a rowop are often the honest statistics of its input."""
    i8t, i32t = DType.INT8, DType.INT32
    mask: dict[str, int] = {}
    if rng.random() < 0.5:
        mask = {
            "flags": Flag.MASK,
            "pos": int(rng.integers(0, n)),
            "period": int(rng.integers(1, m + 1)),
        }
    if opcode == Opcode.GATHER:
        v = int(rng.integers(1, 20))
        op = Op(Opcode.GATHER, out=2, a=0, b=1, M=m, K=v, N=n)
        ids = i32(m, LEAF_ELEMS, lo=-3 * v, hi=3 * v) if rng.random() < 0.7 else i32(m, LEAF_ELEMS)
        return OpSample(
            _prog([TensorSpec(i8t, v, n), TensorSpec(i32t, m, LEAF_ELEMS)], op), (i8(v, n), ids)
        )
    if opcode == Opcode.WRITE:
        wide, cols = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        dt = i32t if wide else i8t
        if cols:
            k = 1 if rng.random() < 0.5 else int(rng.integers(1, min(32, n) + 1))
            pos = int(rng.integers(0, n - k + 1))
            b_rows, b_cols = m, -(-k // LEAF_ELEMS) * LEAF_ELEMS
        else:
            k = int(rng.integers(1, m + 1))
            pos = int(rng.integers(0, m - k + 1))
            b_rows, b_cols = k, n
        flags = (Flag.INT32 if wide else 0) | (Flag.COLUMNS if cols else 0)
        op = Op(Opcode.WRITE, out=2, a=0, b=1, M=m, K=k, N=n, flags=flags, pos=pos)
        gen = i32 if wide else i8
        specs = [TensorSpec(dt, m, n), TensorSpec(dt, b_rows, b_cols)]
        return OpSample(_prog(specs, op), (gen(m, n), gen(b_rows, b_cols)))
    if opcode == Opcode.REDUCE:
        kind = ReduceKind(int(rng.integers(1, 4)))
        wide = kind != ReduceKind.MOMENTS and bool(rng.integers(0, 2))
        k = LEAF_ELEMS * int(rng.integers(1, 5))
        flags = (Flag.INT32 if wide else 0) | mask.pop("flags", 0)
        op = Op(
            Opcode.REDUCE, out=1, a=0, M=m, K=k, N=LEAF_ELEMS, kind=int(kind), flags=flags, **mask
        )
        spec = TensorSpec(i32t if wide else i8t, m, k)
        return OpSample(_prog([spec], op), (i32(m, k) if wide else i8(m, k),))
    if opcode == Opcode.ROWOP:
        row_kind = RowKind(int(rng.integers(1, 5)))
        x = i8(m, n)
        stats = i32(m, LEAF_ELEMS)
        if rng.random() < 0.7:
            xs = x.astype(np.int64)
            stats[:, 0] = xs.max(axis=1) if row_kind == RowKind.SUB else np.abs(xs).sum(axis=1)
            if row_kind in (RowKind.NORM, RowKind.RMSNORM):
                stats[:, 0] = xs.sum(axis=1)
            stats[:, 1] = (xs * xs).sum(axis=1)
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        op = Op(
            Opcode.ROWOP, out=2, a=0, b=1, M=m, N=n, kind=int(row_kind), lo=lo, hi=hi,
            shift=0 if row_kind == RowKind.SUB else int(rng.integers(0, MAX_ROW_SHIFT + 1)),
            K=n if row_kind in (RowKind.NORM, RowKind.RMSNORM) else 0, **mask,
        )  # fmt: skip
        return OpSample(
            _prog([TensorSpec(i8t, m, n), TensorSpec(i32t, m, LEAF_ELEMS)], op), (x, stats)
        )
    if opcode == Opcode.MUL:
        bc = bool(rng.integers(0, 2))
        op = Op(Opcode.MUL, out=2, a=0, b=1, M=m, N=n, flags=Flag.BROADCAST if bc else 0)
        specs = [TensorSpec(i8t, m, n), TensorSpec(i8t, 1 if bc else m, n)]
        return OpSample(_prog(specs, op), (i8(m, n), i8(1 if bc else m, n)))
    raise ValueError(opcode)
