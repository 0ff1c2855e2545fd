"""Protocol constants (docs/protocol.md section 1). One place, shared by every module."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

# v3: qadd, gmax, gsum (issue 16); v4: the program root commits each input's dtype and shape (P4);
# v5: the transformer ops gather, write, reduce, rowop, mul (issue 16) and the kind, pos, period fields;
# v6: the training ops transpose, update (issue 15); v7: 32-bit slot ids (issue 16, MAX_SLOTS)
PROTOCOL_VERSION: Final = 7
WORD: Final = 32
LEAF_ELEMS: Final = 32
# Largest K such that K * 128 * 128 < 2^31: no partial sum of int8 products can overflow int32.
MAX_K: Final = 131071
# v7: slot ids are 32 bits; at most 2^17 slots keeps every tree of slots (state, ops, input specs)
# at depth <= 17, so each of the opening's two moves stays under 100k gas (protocol.md 1, 6.5).
MAX_SLOTS: Final = 1 << 17
# Largest group count G of gmax / gsum: one step reads G input leaves with one multiproof and
# must stay within 300k gas (docs/benchmarks.md, one-step gas of the new ops).
MAX_GROUP: Final = 64
NO_SLOT: Final = 0xFFFF_FFFF  # v7: "no operand", the full 32-bit slot id
OP_BYTES: Final = 64
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

# Size limits of one program (validation), chosen to keep a job within one machine's memory.
MAX_TENSOR_ELEMS: Final = 1 << 31
MAX_DIM: Final = 2**32 - 1


class DType(IntEnum):
    INT8 = 1
    INT32 = 4

    @property
    def itemsize(self) -> int:
        return int(self.value)

    @property
    def leaf_bytes(self) -> int:
        return LEAF_ELEMS * self.itemsize

    @property
    def label(self) -> str:
        return "int8" if self is DType.INT8 else "int32"

    @classmethod
    def parse(cls, name: str) -> DType:
        try:
            return {"int8": cls.INT8, "int32": cls.INT32}[name]
        except KeyError:
            from node.program.errors import UnknownDType

            raise UnknownDType(f"unknown dtype {name!r} (expected int8 or int32)") from None


class Opcode(IntEnum):
    MATMUL = 1
    ADD = 2
    REQUANT = 3
    RELU = 4
    LUT = 5
    IM2COL = 6
    QADD = 7
    GMAX = 8
    GSUM = 9
    # v5 (issue 16): transformer ops, protocol.md section 4
    GATHER = 10  # embedding rows by id (id mod V)
    WRITE = 11  # rows / columns of a tensor replaced (KV caches)
    REDUCE = 12  # row reduction with a combine kind, dissected like a matmul's K
    ROWOP = 13  # element-wise with per-row values: softmax sub / div, layer / rms norm
    MUL = 14  # exact int8 x int8 -> int32 product
    # v6 (issue 15): training ops
    TRANSPOSE = 15  # out[m, n] = a[n, m]: one output leaf from 32 input leaves (multiproof)
    UPDATE = 16  # SGD step with stochastic rounding by a counter-based generator


# ops whose real output leaves go to the reduction level (6.3): one element over K/32 chunks
REDUCTION_OPS: Final = frozenset({Opcode.MATMUL, Opcode.REDUCE})


class Flag(IntEnum):
    RELU_INT32 = 1
    ADD_BROADCAST = 2
    REQUANT_PER_CHANNEL = 4
    # v5
    INT32 = 1  # write, reduce, update: int32 data (same bit as relu's)
    BROADCAST = 2  # mul: b is [1, N] (same bit as add's)
    MASK = 8  # reduce, rowop: the causal mask by position
    COLUMNS = 16  # write: replace columns instead of rows


class ReduceKind(IntEnum):
    """The `kind` field of reduce (protocol.md section 4)."""

    MOMENTS = 1  # out[m, 0] = sum x, out[m, 1] = sum x^2, else 0
    MAX = 2  # max x (-2^31 when nothing is visible)
    ARGMAX = 3  # lowest index of the max (0 when nothing is visible)


class RowKind(IntEnum):
    """The `kind` field of rowop (protocol.md section 4)."""

    SUB = 1  # clamp(x - S, lo, hi)
    DIV = 2  # clamp(round(x * 2^shift / S), lo, hi), 0 unless S > 0
    NORM = 3  # LayerNorm: clamp(round((x*D - S) * 2^shift / isqrt(D*Q - S^2)), lo, hi)
    RMSNORM = 4  # RMSNorm: clamp(round(x*D * 2^shift / isqrt(D*Q)), lo, hi)


# Largest update shift: u = rng >> (32 - shift) needs shift <= 32.
MAX_UPDATE_SHIFT: Final = 32
# Largest rowop shift: |c * 2^(shift+1)| stays < 2^58 (exact in int64), protocol.md section 4.
MAX_ROW_SHIFT: Final = 24
# reduce states: the start of max and of argmax, and argmax's key base (protocol.md section 5)
REDUCE_MAX_START: Final = -(2**31)
ARGMAX_START: Final = -(2**64)
ARGMAX_KEY: Final = 2**32
