"""The reference semantics of every op (protocol.md sections 4 and 5), in numpy and plain
integers. `step_*` define what the EVM checks for one leaf or one chunk; `run_op` applies an op
to whole tensors and is what the executor is tested against. No torch here."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from node.program.constants import LEAF_ELEMS, DType, Flag, Opcode
from node.program.errors import BadEncoding, ProgramError
from node.program.ops import Op, im2col_out_hw
from node.program.packing import pack, unpack, zero_leaf
from node.program.transformer_ref import V5_ELEMENTWISE, V5_OPS, run_v5, step_v5, v5_leaf_indices

I64 = npt.NDArray[np.int64]


# ---- elementwise arithmetic, shared by the step and the whole-tensor reference ----


def requant_values(x: I64, mult: I64 | int, op: Op) -> I64:
    """clamp(((x * mult + 2^(shift-1)) >> shift) + zp, lo, hi), exact in int64 because
    |x * mult| <= 2^62 for int32 x and int32 mult, and 2^62 + 2^61 < 2^63. Defined for every
    int32 multiplier, zero and negative ones included (protocol.md section 4): a per-channel
    multiplier may be computed by an earlier op, and every step must be provable."""
    y = (x * mult + (1 << (op.shift - 1))) >> op.shift  # numpy >> on int64 is a floor shift
    return np.clip(y + op.zp, op.lo, op.hi)


def qadd_values(x: I64, y: I64, op: Op) -> I64:
    """clamp(((x * mult + y * mult2 + 2^(shift-1)) >> shift) + zp, lo, hi) for int8 x, y:
    |x * mult + y * mult2| <= 2^39, exact in int64."""
    s = x * op.mult + y * op.mult2 + (1 << (op.shift - 1))
    return np.clip((s >> op.shift) + op.zp, op.lo, op.hi)


def wrap_int32(x: I64) -> I64:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


# ---- which operand leaves a step reads ----


def im2col_source_leaf(op: Op, leaf_index: int) -> int | None:
    """Index of the input leaf copied into output leaf `leaf_index`, None for padding."""
    oh, ow = im2col_out_hw(op)
    f = leaf_index * LEAF_ELEMS
    r, col = divmod(f, op.N)
    kk, c0 = divmod(col, op.C)
    ky, kx = divmod(kk, op.KW)
    b, rem = divmod(r, oh * ow)
    oy, ox = divmod(rem, ow)
    iy = oy * op.S - op.P + ky
    ix = ox * op.S - op.P + kx
    if not (0 <= iy < op.H and 0 <= ix < op.W):
        return None
    return (((b * op.H + iy) * op.W + ix) * op.C + c0) // LEAF_ELEMS


def elementwise_leaf_indices(op: Op, leaf_index: int) -> tuple[int | None, int | None]:
    """(a leaf index, b leaf index) read by the step for output leaf `leaf_index`. For lut the
    b index is 0 and the step reads the whole table."""
    per_row = op.N // LEAF_ELEMS
    code = op.opcode
    if code == Opcode.ADD:
        return leaf_index, (leaf_index % per_row if op.has(Flag.ADD_BROADCAST) else leaf_index)
    if code == Opcode.REQUANT:
        return leaf_index, (leaf_index % per_row if op.has(Flag.REQUANT_PER_CHANNEL) else None)
    if code == Opcode.RELU:
        return leaf_index, None
    if code == Opcode.LUT:
        return leaf_index, 0
    if code == Opcode.QADD:
        return leaf_index, leaf_index
    if code == Opcode.IM2COL:
        return im2col_source_leaf(op, leaf_index), None
    if code in V5_ELEMENTWISE:
        return v5_leaf_indices(op, leaf_index)
    raise ProgramError(f"{op.name} is not an elementwise op")


def group_leaf_indices(op: Op, leaf_index: int) -> list[int]:
    """The G input leaves (increasing) a gmax / gsum step reads for output leaf `leaf_index`:
    flat input element m*G*N + g*N + n0 for g < G, with (m, n0) the leaf's first element."""
    m, n0 = divmod(leaf_index * LEAF_ELEMS, op.N)
    return [(m * op.K * op.N + g * op.N + n0) // LEAF_ELEMS for g in range(op.K)]


def matmul_leaf_indices(op: Op, leaf_index: int, elem: int, chunk: int) -> tuple[int, int]:
    """(A leaf index, W leaf index) read by the matmul step at `chunk` of element `elem`."""
    f = leaf_index * LEAF_ELEMS + elem
    m, n = divmod(f, op.N)
    return (m * op.K + LEAF_ELEMS * chunk) // LEAF_ELEMS, (
        n * op.K + LEAF_ELEMS * chunk
    ) // LEAF_ELEMS


# ---- the one step ----


def step_elementwise(
    op: Op, leaf_index: int, n_leaves: int, a_leaf: bytes | None, b_leaf: bytes | None
) -> bytes:
    """Expected output leaf `leaf_index` of an elementwise op from its operand leaves."""
    out_dt = op.out_spec.dtype
    if leaf_index >= n_leaves:
        return zero_leaf(out_dt)  # padding leaves are zero, whatever the operands
    code = op.opcode
    if code in V5_ELEMENTWISE:
        return step_v5(op, leaf_index, a_leaf, b_leaf)
    if code == Opcode.IM2COL:
        if a_leaf is None:
            return pack(np.full(LEAF_ELEMS, op.padv), DType.INT8)
        _check_leaf(a_leaf, DType.INT8)
        return a_leaf
    if a_leaf is None:
        raise BadEncoding(f"{op.name} step needs the a leaf")
    if code == Opcode.ADD:
        x = _leaf(a_leaf, DType.INT32)
        y = _leaf(_need(b_leaf), DType.INT32)
        return pack(wrap_int32(x + y), DType.INT32)
    if code == Opcode.REQUANT:
        x = _leaf(a_leaf, DType.INT32)
        mult: I64 | int = op.mult
        if op.has(Flag.REQUANT_PER_CHANNEL):
            mult = _leaf(_need(b_leaf), DType.INT32)  # any int32, <= 0 included
        return pack(requant_values(x, mult, op), DType.INT8)
    if code == Opcode.RELU:
        dt = DType.INT32 if op.has(Flag.RELU_INT32) else DType.INT8
        return pack(np.maximum(_leaf(a_leaf, dt), 0), dt)
    if code == Opcode.QADD:
        x = _leaf(a_leaf, DType.INT8)
        y = _leaf(_need(b_leaf), DType.INT8)
        return pack(qadd_values(x, y, op), DType.INT8)
    if code in (Opcode.GMAX, Opcode.GSUM):
        # a_leaf: the G input leaves of group_leaf_indices, concatenated
        want = op.K * DType.INT8.leaf_bytes
        if len(a_leaf) != want:
            raise BadEncoding(f"{op.name} step reads {want} bytes of a, got {len(a_leaf)}")
        g = unpack(a_leaf, DType.INT8).reshape(op.K, LEAF_ELEMS)
        if code == Opcode.GMAX:
            return pack(g.max(axis=0), DType.INT8)
        return pack(g.sum(axis=0), DType.INT32)
    if code == Opcode.LUT:
        table = _need(b_leaf)
        if len(table) != 256:
            raise BadEncoding(f"lut table is {len(table)} bytes, expected 256")
        t = unpack(table, DType.INT8)
        return pack(t[_leaf(a_leaf, DType.INT8) + 128], DType.INT8)
    raise ProgramError(f"{op.name} is not an elementwise op")


def step_matmul(a_leaf: bytes, w_leaf: bytes, prev: int) -> int:
    """P_{c+1} = P_c + sum_t A[m, 32c+t] * W[n, 32c+t]."""
    a = _leaf(a_leaf, DType.INT8)
    w = _leaf(w_leaf, DType.INT8)
    return prev + int(np.dot(a, w))


def _leaf(data: bytes, dtype: DType) -> I64:
    _check_leaf(data, dtype)
    return unpack(data, dtype)


def _check_leaf(data: bytes, dtype: DType) -> None:
    if len(data) != dtype.leaf_bytes:
        raise BadEncoding(f"{dtype.label} leaf is {len(data)} bytes, expected {dtype.leaf_bytes}")


def _need(b: bytes | None) -> bytes:
    if b is None:
        raise BadEncoding("step needs the b operand")
    return b


# ---- whole tensors ----


def im2col_indices(op: Op) -> npt.NDArray[np.int64]:
    """[M, KH*KW] input row per output position, -1 where padded."""
    oh, ow = im2col_out_hw(op)
    b = np.arange(op.B)[:, None, None, None, None]
    oy = np.arange(oh)[None, :, None, None, None]
    ox = np.arange(ow)[None, None, :, None, None]
    ky = np.arange(op.KH)[None, None, None, :, None]
    kx = np.arange(op.KW)[None, None, None, None, :]
    iy = oy * op.S - op.P + ky
    ix = ox * op.S - op.P + kx
    inside = (iy >= 0) & (iy < op.H) & (ix >= 0) & (ix < op.W)
    rows = (b * op.H + iy) * op.W + ix
    rows = np.where(inside, rows, -1)
    return rows.reshape(op.B * oh * ow, op.KH * op.KW).astype(np.int64)


def run_op(op: Op, a: npt.NDArray[np.integer], b: npt.NDArray[np.integer] | None) -> I64:
    """Output [M, N] (int64 holding int8/int32 values) of `op` on flat-viewable operands."""
    x = np.asarray(a, dtype=np.int64)
    code = op.opcode
    if code in V5_OPS:
        return run_v5(op, a, b)
    if code == Opcode.MATMUL:
        w = np.asarray(b, dtype=np.int64).reshape(op.N, op.K)
        return x.reshape(op.M, op.K) @ w.T
    x = x.reshape(-1)
    if code == Opcode.IM2COL:
        idx = im2col_indices(op)
        xin = np.concatenate([x.reshape(-1, op.C), np.full((1, op.C), op.padv, np.int64)])
        return xin[idx].reshape(op.M, op.N)  # index -1 picks the padv row
    if code in (Opcode.GMAX, Opcode.GSUM):
        grouped = x.reshape(op.M, op.K, op.N)
        return grouped.max(axis=1) if code == Opcode.GMAX else grouped.sum(axis=1)
    x = x.reshape(op.M, op.N)
    if code == Opcode.QADD:
        return qadd_values(x, np.asarray(b, dtype=np.int64).reshape(op.M, op.N), op)
    if code == Opcode.ADD:
        y = np.asarray(b, dtype=np.int64).reshape(-1, op.N)
        return wrap_int32(x + y)
    if code == Opcode.REQUANT:
        mult: I64 | int = op.mult
        if op.has(Flag.REQUANT_PER_CHANNEL):
            mult = np.asarray(b, dtype=np.int64).reshape(1, op.N)
        return requant_values(x, mult, op)
    if code == Opcode.RELU:
        return np.maximum(x, 0)
    if code == Opcode.LUT:
        t = np.asarray(b, dtype=np.int64).reshape(256)
        return t[x + 128]
    raise ProgramError(f"unknown op {op}")
