"""Protocol constants (docs/protocol.md section 1). One place, shared by every module."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

PROTOCOL_VERSION: Final = 4  # v3: qadd, gmax, gsum (issue 16); v4: the program root commits each input's dtype and shape (P4)
WORD: Final = 32
LEAF_ELEMS: Final = 32
# Largest K such that K * 128 * 128 < 2^31: no partial sum of int8 products can overflow int32.
MAX_K: Final = 131071
MAX_SLOTS: Final = 65535
# Largest group count G of gmax / gsum: one step reads G input leaves with one multiproof and
# must stay within 300k gas (docs/benchmarks.md, one-step gas of the new ops).
MAX_GROUP: Final = 64
NO_SLOT: Final = 0xFFFF
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


class Flag(IntEnum):
    RELU_INT32 = 1
    ADD_BROADCAST = 2
    REQUANT_PER_CHANNEL = 4
