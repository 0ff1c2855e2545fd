"""Tensor descriptors: dtype and 2-D shape, with the leaf arithmetic of protocol.md section 2."""

from __future__ import annotations

from dataclasses import dataclass

from node.program.constants import LEAF_ELEMS, MAX_TENSOR_ELEMS, DType
from node.program.errors import AlignmentError, ShapeMismatch, SizeLimitExceeded

# The 32-byte spec leaf of an input slot (protocol.md section 3): dtype (its item size),
# rows, cols (uint32, big-endian), 23 zero bytes.
SPEC_LEAF_BYTES = 32
SPEC_RESERVED_OFFSET = 9
_U32 = 2**32


@dataclass(frozen=True)
class TensorSpec:
    dtype: DType
    rows: int
    cols: int

    @property
    def numel(self) -> int:
        return self.rows * self.cols

    @property
    def n_leaves(self) -> int:
        return self.numel // LEAF_ELEMS

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def check(self) -> None:
        """Rule T1 of protocol.md section 4 (after the leaf's reserved bytes and dtype, which a
        TensorSpec cannot break), in the contract's order (OpCodec.inputSpec)."""
        if self.rows <= 0 or self.cols <= 0:
            raise ShapeMismatch(f"tensor shape [{self.rows}, {self.cols}] must be positive")
        if self.cols % LEAF_ELEMS:
            raise AlignmentError(f"tensor cols {self.cols} is not a multiple of {LEAF_ELEMS}")
        if self.numel > MAX_TENSOR_ELEMS or self.rows >= _U32 or self.cols >= _U32:
            raise SizeLimitExceeded(
                f"tensor [{self.rows}, {self.cols}] exceeds {MAX_TENSOR_ELEMS} elements"
            )

    def spec_leaf(self) -> bytes:
        """The 32-byte leaf of the input spec table (protocol.md section 3)."""
        self.check()
        head = (
            bytes([int(self.dtype)]) + self.rows.to_bytes(4, "big") + self.cols.to_bytes(4, "big")
        )
        return head + bytes(SPEC_LEAF_BYTES - len(head))

    def to_json(self) -> dict[str, object]:
        return {"dtype": self.dtype.label, "rows": self.rows, "cols": self.cols}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> TensorSpec:
        return cls(DType.parse(str(d["dtype"])), int(d["rows"]), int(d["cols"]))  # type: ignore[call-overload]
