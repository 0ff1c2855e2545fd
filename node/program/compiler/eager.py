"""A ProgramBuilder that also runs every op as it is emitted, with the reference semantics
(node.program.reference.run_op): one pass of a lowering gives the program and every value, so
the integer model the accuracy figures measure is the program itself, not a re-implementation."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from node.program.compiler.builder import ProgramBuilder
from node.program.constants import NO_SLOT
from node.program.ops import Op
from node.program.reference import run_op

I64 = npt.NDArray[np.int64]


class EagerBuilder(ProgramBuilder):
    def __init__(self) -> None:
        super().__init__()
        self._values: list[I64] = []
        self._data: dict[int, npt.NDArray[Any]] = {}

    def set_data(self, name: str, values: npt.ArrayLike) -> None:
        """The value of data input `name` (declared with data_input) for the eager run."""
        i = next(k for k, s in enumerate(self.inputs) if s.name == name)
        self._data[i] = np.asarray(values)

    def value(self, ref: str) -> I64:
        """The value of an op handle ("%k") or an input, [rows, cols] int64."""
        return self._operand(self._ref(ref))

    def _operand(self, placeholder: int) -> I64:
        if placeholder < 0:
            return self._values[-1 - placeholder]
        i = placeholder - 1_000_000
        arr = self.constants.get(i)
        if arr is None:
            arr = self._data.get(i)
        if arr is None:
            raise KeyError(f"input {self.inputs[i].name!r} has no value (set_data)")
        return np.asarray(arr, dtype=np.int64)

    def _emit(self, op: Op) -> str:
        a = self._operand(op.a)
        b = None if op.b == NO_SLOT else self._operand(op.b)
        out = np.asarray(run_op(op, a, b), dtype=np.int64).reshape(op.M, op.N)
        self._values.append(out)
        return super()._emit(op)
