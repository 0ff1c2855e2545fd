"""Tensor descriptors: dtype and 2-D shape, with the leaf arithmetic of protocol.md section 2."""

from __future__ import annotations

from dataclasses import dataclass

from node.program.constants import LEAF_ELEMS, DType
from node.program.errors import AlignmentError, ShapeMismatch


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
        if self.rows <= 0 or self.cols <= 0:
            raise ShapeMismatch(f"tensor shape [{self.rows}, {self.cols}] must be positive")
        if self.cols % LEAF_ELEMS:
            raise AlignmentError(f"tensor cols {self.cols} is not a multiple of {LEAF_ELEMS}")

    def to_json(self) -> dict[str, object]:
        return {"dtype": self.dtype.label, "rows": self.rows, "cols": self.cols}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> TensorSpec:
        return cls(DType.parse(str(d["dtype"])), int(d["rows"]), int(d["cols"]))  # type: ignore[call-overload]
