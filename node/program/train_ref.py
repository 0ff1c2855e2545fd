"""Reference semantics of the v6 training ops (protocol.md sections 4 and 5, issue 15):
transpose and update, and the counter-based generator that drives update's stochastic rounding.
numpy int64 and plain integers, no torch; `node.program.reference` calls in here."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from node.program.constants import LEAF_ELEMS, DType, Flag, Opcode
from node.program.errors import BadEncoding
from node.program.ops import Op
from node.program.packing import pack, unpack

I64 = npt.NDArray[np.int64]

TRAIN_OPS = frozenset({Opcode.TRANSPOSE, Opcode.UPDATE})
U32 = 0xFFFFFFFF
# int32 (INT32) master weights are clamped to [lo, hi] * 2^8: int16 range, int8 after requant(8)
MASTER_SHIFT = 8


def mul32(x: I64, c: int) -> I64:
    """x * c mod 2^32 for uint32 x and c, in int64 without overflow: c split in 16-bit halves
    (each partial product < 2^48)."""
    return (((x * (c >> 16)) & 0xFFFF) << 16) + x * (c & 0xFFFF) & U32


def h32(x: I64) -> I64:
    """Wellons' lowbias32 on uint32 values held in int64."""
    x = np.asarray(x, dtype=np.int64) & U32
    x = x ^ (x >> 16)
    x = mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def rng_key(seed: int, step: int) -> int:
    """h(h(seed) ^ step): the part of rng(seed, t, f) shared by every element of one update."""
    inner = int(h32(np.array(seed & U32)))
    return int(h32(np.array(inner ^ (step & U32))))


def rng(seed: int, step: int, flat: I64) -> I64:
    """rng(seed, t, f) = h(h(h(seed) ^ t) ^ f), uint32 (protocol.md section 4)."""
    return h32(np.asarray(flat, dtype=np.int64) ^ rng_key(seed, step))


def clamp_bounds(op: Op) -> tuple[int, int]:
    if op.has(Flag.INT32):
        return op.lo << MASTER_SHIFT, op.hi << MASTER_SHIFT
    return op.lo, op.hi


def update_values(w: I64, g: I64, flat: I64, op: Op) -> I64:
    """clamp(w - q - [u < r], L, H) with d = g * mult, q = floor(d / 2^shift), r = d - q*2^shift,
    u = rng(period, pos, f) >> (32 - shift). Exact in int64 (|g * mult| < 2^62)."""
    d = np.asarray(g, dtype=np.int64) * op.mult
    q = d >> op.shift
    r = d - (q << op.shift)
    u = rng(op.period, op.pos, flat) >> (32 - op.shift)
    lo, hi = clamp_bounds(op)
    return np.clip(np.asarray(w, dtype=np.int64) - q - (u < r), lo, hi)


def transpose_leaf_indices(op: Op, leaf_index: int) -> list[int]:
    """The 32 leaves (increasing) of `a` ([N, M]) that transpose output leaf `leaf_index` reads:
    ((n0 + t) * M + m) / 32 for t < 32, with (m, n0) the leaf's first element."""
    m, n0 = divmod(leaf_index * LEAF_ELEMS, op.N)
    return [((n0 + t) * op.M + m) // LEAF_ELEMS for t in range(LEAF_ELEMS)]


def step_train(op: Op, leaf_index: int, a_leaf: bytes | None, b_leaf: bytes | None) -> bytes:
    """Output leaf `leaf_index` (a real one) of transpose or update from its operand leaves."""
    if a_leaf is None:
        raise BadEncoding(f"{op.name} step needs the a leaf")
    if op.opcode == Opcode.TRANSPOSE:
        want = LEAF_ELEMS * DType.INT8.leaf_bytes
        if len(a_leaf) != want:
            raise BadEncoding(f"transpose step reads {want} bytes of a, got {len(a_leaf)}")
        m = leaf_index * LEAF_ELEMS // op.N
        leaves = unpack(a_leaf, DType.INT8).reshape(LEAF_ELEMS, LEAF_ELEMS)
        return pack(leaves[:, m % LEAF_ELEMS], DType.INT8)
    dt = op.out_spec.dtype
    w = _leaf(a_leaf, dt)
    if b_leaf is None:
        raise BadEncoding("update step needs the gradient leaf")
    g = _leaf(b_leaf, DType.INT32)
    flat = leaf_index * LEAF_ELEMS + np.arange(LEAF_ELEMS, dtype=np.int64)
    return pack(update_values(w, g, flat, op), dt)


def run_train(op: Op, a: npt.NDArray[np.integer], b: npt.NDArray[np.integer] | None) -> I64:
    """Whole output [M, N] of transpose or update."""
    x = np.asarray(a, dtype=np.int64)
    if op.opcode == Opcode.TRANSPOSE:
        return np.ascontiguousarray(x.reshape(op.N, op.M).T)
    if b is None:
        raise BadEncoding("update needs the gradient operand")
    g = np.asarray(b, dtype=np.int64).reshape(op.M, op.N)
    flat = np.arange(op.M * op.N, dtype=np.int64).reshape(op.M, op.N)
    return update_values(x.reshape(op.M, op.N), g, flat, op)


def _leaf(data: bytes, dtype: DType) -> I64:
    if len(data) != dtype.leaf_bytes:
        raise BadEncoding(f"leaf of {len(data)} bytes, expected {dtype.leaf_bytes} ({dtype.label})")
    return unpack(data, dtype)
