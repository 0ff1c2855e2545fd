"""Random valid single-op programs with operands, for property tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_GROUP,
    NO_SLOT,
    DType,
    Flag,
    Opcode,
)
from node.program.ops import Op, group_op, im2col_op, qadd_op
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec


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
    raise ValueError(opcode)
