"""Incremental construction of a program and its constants (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from node.program.constants import NO_SLOT, DType, Flag, Opcode, ReduceKind, RowKind
from node.program.ops import Op, group_op, im2col_op, qadd_op, requant_op
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec
from node.program.validation import validate_op

_NP = {DType.INT8: np.int8, DType.INT32: np.int32}


class ProgramBuilder:
    """Inputs must all be declared before the first op (slots are inputs first, then ops)."""

    def __init__(self) -> None:
        self.inputs: list[InputSlot] = []
        self.constants: dict[int, npt.NDArray[Any]] = {}
        self.ops: list[Op] = []
        self.table: list[TensorSpec] = []
        self._pending: list[Op] = []  # operands still placeholders, see _ref

    # Constants are collected first, ops refer to them by name, and slots are assigned in
    # finish(), because the protocol wants every input slot before the first op slot.

    def data_input(self, name: str, rows: int, cols: int, dtype: DType = DType.INT8) -> str:
        """The job's data slot: int8 features, or int32 token ids [T, 32] (id in column 0)."""
        self._add_input(name, TensorSpec(dtype, rows, cols), None)
        return name

    def constant(self, name: str, values: npt.ArrayLike, dtype: DType) -> str:
        arr = np.ascontiguousarray(np.asarray(values), dtype=_NP[dtype])
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        self._add_input(name, TensorSpec(dtype, arr.shape[0], arr.shape[1]), arr)
        return name

    def _add_input(self, name: str, spec: TensorSpec, arr: npt.NDArray[Any] | None) -> None:
        if any(s.name == name for s in self.inputs):
            raise ValueError(f"input {name!r} declared twice")
        self.inputs.append(InputSlot(name, spec))
        if arr is not None:
            self.constants[len(self.inputs) - 1] = arr

    # ---- ops; operands are input names or op handles ("%<index>") ----

    def _emit(self, op: Op) -> str:
        self._pending.append(op)
        return f"%{len(self._pending) - 1}"

    def matmul(self, a: str, w: str, m: int, k: int, n: int) -> str:
        return self._emit(Op(Opcode.MATMUL, out=0, a=self._ref(a), b=self._ref(w), M=m, K=k, N=n))

    def add(self, a: str, b: str, m: int, n: int, broadcast: bool) -> str:
        return self._emit(
            Op(
                Opcode.ADD,
                out=0,
                a=self._ref(a),
                b=self._ref(b),
                M=m,
                N=n,
                flags=Flag.ADD_BROADCAST if broadcast else 0,
            )
        )

    def requant(
        self,
        a: str,
        m: int,
        n: int,
        shift: int,
        *,
        mult: int = 0,
        mults: str | None = None,
        zp: int = 0,
        lo: int = -128,
        hi: int = 127,
    ) -> str:
        return self._emit(
            requant_op(
                0,
                self._ref(a),
                M=m,
                N=n,
                shift=shift,
                mult=mult,
                mults=None if mults is None else self._ref(mults),
                zp=zp,
                lo=lo,
                hi=hi,
            )
        )

    def relu(self, a: str, m: int, n: int, int32: bool = False) -> str:
        return self._emit(
            Op(Opcode.RELU, out=0, a=self._ref(a), M=m, N=n, flags=Flag.RELU_INT32 if int32 else 0)
        )

    def lut(self, a: str, table: str, m: int, n: int) -> str:
        return self._emit(Op(Opcode.LUT, out=0, a=self._ref(a), b=self._ref(table), M=m, N=n))

    def im2col(
        self,
        a: str,
        b: int,
        h: int,
        w: int,
        c: int,
        kh: int,
        kw: int,
        s: int,
        p: int,
        padv: int = 0,
    ) -> str:
        return self._emit(
            im2col_op(0, self._ref(a), B=b, H=h, W=w, C=c, KH=kh, KW=kw, S=s, P=p, padv=padv)
        )

    def qadd(
        self,
        a: str,
        b: str,
        *,
        mult: int,
        mult2: int,
        shift: int,
        zp: int = 0,
        lo: int = -128,
        hi: int = 127,
    ) -> str:
        """Quantized add of two int8 tensors of a's shape (residual connections):
        clamp(((a * mult + b * mult2 + 2^(shift-1)) >> shift) + zp, lo, hi)."""
        spec = self._spec(a)
        return self._emit(
            qadd_op(
                0,
                self._ref(a),
                self._ref(b),
                M=spec.rows,
                N=spec.cols,
                mult=mult,
                mult2=mult2,
                shift=shift,
                zp=zp,
                lo=lo,
                hi=hi,
            )
        )

    def gmax(self, a: str, *, groups: int, M: int, N: int) -> str:
        """int8 [M, N] max over the `groups` column groups of `a` read as [M, groups*N]."""
        return self._emit(group_op(Opcode.GMAX, 0, self._ref(a), groups=groups, M=M, N=N))

    def gsum(self, a: str, *, groups: int, M: int, N: int) -> str:
        """int32 [M, N] sum over the `groups` column groups of `a` read as [M, groups*N]."""
        return self._emit(group_op(Opcode.GSUM, 0, self._ref(a), groups=groups, M=M, N=N))

    # ---- v5 transformer ops (protocol.md section 4) ----

    def gather(self, table: str, ids: str) -> str:
        """int8 [M, N]: row `ids[m, 0] mod V` of `table` (int8 [V, N]) for each row m of `ids`
        (int32 [M, 32]). Token and position embeddings."""
        t, i = self._spec(table), self._spec(ids)
        return self._emit(
            Op(
                Opcode.GATHER,
                out=0,
                a=self._ref(table),
                b=self._ref(ids),
                M=i.rows,
                K=t.rows,
                N=t.cols,
            )
        )

    def write(self, a: str, b: str, *, pos: int, count: int, columns: bool = False) -> str:
        """`a` with rows (columns) pos .. pos+count-1 replaced by `b`: rows, b is [count, N];
        columns, b is [M, ceil32(count)] (its first `count` columns). KV caches."""
        spec = self._spec(a)
        flags = (Flag.INT32 if spec.dtype == DType.INT32 else 0) | (Flag.COLUMNS if columns else 0)
        return self._emit(
            Op(
                Opcode.WRITE,
                out=0,
                a=self._ref(a),
                b=self._ref(b),
                flags=flags,
                M=spec.rows,
                K=count,
                N=spec.cols,
                pos=pos,
            )
        )

    def reduce(self, a: str, kind: ReduceKind, *, mask: tuple[int, int] | None = None) -> str:
        """int32 [M, 32] per-row values of `a` ([M, K], int8; int32 for max / argmax): moments
        (sum, sum of squares), max, or argmax (lowest index). `mask = (pos, period)`: row m at
        position pos + m % period sees columns n <= that position."""
        spec = self._spec(a)
        flags = Flag.INT32 if spec.dtype == DType.INT32 else 0
        pos, period = mask if mask is not None else (0, 0)
        return self._emit(
            Op(
                Opcode.REDUCE,
                out=0,
                a=self._ref(a),
                flags=flags | (Flag.MASK if mask is not None else 0),
                M=spec.rows,
                K=spec.cols,
                N=32,
                kind=int(kind),
                pos=pos,
                period=period,
            )
        )

    def rowop(
        self,
        a: str,
        stats: str,
        kind: RowKind,
        *,
        shift: int = 0,
        lo: int = -128,
        hi: int = 127,
        d: int = 0,
        mask: tuple[int, int] | None = None,
    ) -> str:
        """int8 [M, N] from int8 `a` and the per-row values `stats` (int32 [M, 32]: S = col 0,
        Q = col 1): sub (x - S), div (x * 2^shift / S), norm / rmsnorm over row length `d`
        ((x - mean) / std * 2^shift); masked positions give `lo`."""
        spec = self._spec(a)
        pos, period = mask if mask is not None else (0, 0)
        return self._emit(
            Op(
                Opcode.ROWOP,
                out=0,
                a=self._ref(a),
                b=self._ref(stats),
                flags=Flag.MASK if mask is not None else 0,
                M=spec.rows,
                K=d,
                N=spec.cols,
                shift=shift,
                lo=lo,
                hi=hi,
                kind=int(kind),
                pos=pos,
                period=period,
            )
        )

    def mul(self, a: str, b: str, *, broadcast: bool = False) -> str:
        """int32 [M, N] = a * b exactly (int8 operands; b [1, N] with broadcast)."""
        spec = self._spec(a)
        return self._emit(
            Op(
                Opcode.MUL,
                out=0,
                a=self._ref(a),
                b=self._ref(b),
                flags=Flag.BROADCAST if broadcast else 0,
                M=spec.rows,
                N=spec.cols,
            )
        )

    # ---- v6 training ops (protocol.md section 4, issue 15) ----

    def transpose(self, a: str) -> str:
        """int8 [cols, rows] = a^T for int8 `a` [rows, cols] (rows % 32 == 0)."""
        spec = self._spec(a)
        return self._emit(Op(Opcode.TRANSPOSE, out=0, a=self._ref(a), M=spec.cols, N=spec.rows))

    def update(
        self,
        w: str,
        grad: str,
        *,
        mult: int,
        shift: int,
        step: int,
        seed: int,
        lo: int = -127,
        hi: int = 127,
    ) -> str:
        """`w - grad * mult / 2^shift` with stochastic rounding (the generator keyed by seed,
        step and the element index), clamped to [lo, hi] (times 2^8 for int32 masters)."""
        spec = self._spec(w)
        return self._emit(
            Op(
                Opcode.UPDATE,
                out=0,
                a=self._ref(w),
                b=self._ref(grad),
                flags=Flag.INT32 if spec.dtype == DType.INT32 else 0,
                M=spec.rows,
                N=spec.cols,
                mult=mult,
                shift=shift,
                lo=lo,
                hi=hi,
                pos=step,
                period=seed,
            )
        )

    def _spec(self, ref: str) -> TensorSpec:
        """The spec of an input or of an op's output."""
        if ref.startswith("%"):
            return self._pending[int(ref[1:])].out_spec
        for s in self.inputs:
            if s.name == ref:
                return s.spec
        raise KeyError(f"unknown operand {ref!r}")

    # Operands are stored as placeholders: -1 - k for op k, 1_000_000 + i for input i, and
    # resolved once the number of inputs is final.
    def _ref(self, ref: str) -> int:
        if ref.startswith("%"):
            return -1 - int(ref[1:])
        for i, s in enumerate(self.inputs):
            if s.name == ref:
                return 1_000_000 + i
        raise KeyError(f"unknown operand {ref!r}")

    def finish(self, output: str) -> tuple[Program, dict[int, npt.NDArray[Any]]]:
        n_in = len(self.inputs)

        def resolve(x: int) -> int:
            if x == NO_SLOT:
                return x
            return n_in + (-1 - x) if x < 0 else x - 1_000_000

        ops: list[Op] = []
        table = [s.spec for s in self.inputs]
        for i, op in enumerate(self._pending):
            kw = {f: getattr(op, f) for f in op.__dataclass_fields__}
            kw.update(out=n_in + i, a=resolve(op.a), b=resolve(op.b))
            real = Op(**kw)
            table.append(validate_op(real, i, n_in, table))
            ops.append(real)
        out_slot = resolve(self._ref(output))
        prog = Program(tuple(self.inputs), tuple(ops), out_slot)
        prog.validate()
        return prog, dict(self.constants)
