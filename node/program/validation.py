"""Validation of ops against the tensor table (protocol.md section 4), with named errors."""

from __future__ import annotations

from collections.abc import Sequence

from node.program.constants import (
    INT32_MAX,
    LEAF_ELEMS,
    MAX_DIM,
    MAX_K,
    MAX_SLOTS,
    MAX_TENSOR_ELEMS,
    NO_SLOT,
    DType,
    Flag,
    Opcode,
)
from node.program.errors import (
    AlignmentError,
    DTypeMismatch,
    FieldOutOfRange,
    OverflowRisk,
    ShapeMismatch,
    SizeLimitExceeded,
    SlotOutOfRange,
    WrongOutputSlot,
)
from node.program.ops import ENCODING_ORDER, Op, im2col_out_hw
from node.program.tensors import TensorSpec

_ALLOWED_FLAGS = {
    Opcode.MATMUL: 0,
    Opcode.ADD: Flag.ADD_BROADCAST,
    Opcode.REQUANT: Flag.REQUANT_PER_CHANNEL,
    Opcode.RELU: Flag.RELU_INT32,
    Opcode.LUT: 0,
    Opcode.IM2COL: 0,
}
_NEEDS_B = {Opcode.MATMUL, Opcode.ADD, Opcode.LUT}


def validate_op(op: Op, index: int, n_inputs: int, table: Sequence[TensorSpec]) -> TensorSpec:
    """Check op `index` against the slots written before it; returns its output spec.
    `table` holds the specs of slots 0 .. n_inputs + index - 1."""
    where = f"op {index} ({op.name})"
    if op.out != n_inputs + index:
        raise WrongOutputSlot(f"{where} writes slot {op.out}, must write {n_inputs + index}")
    if op.out >= MAX_SLOTS:
        raise SizeLimitExceeded(f"{where}: slot {op.out} beyond MAX_SLOTS")
    if op.flags & ~_ALLOWED_FLAGS[op.opcode]:
        raise FieldOutOfRange(f"{where}: flags {op.flags:#x} not allowed")
    for d in (op.M, op.K, op.N, op.B):
        if d > MAX_DIM:
            raise SizeLimitExceeded(f"{where}: dimension {d} too large")
    a = _operand(op.a, table, where, "a")
    needs_b = op.opcode in _NEEDS_B or (
        op.opcode == Opcode.REQUANT and op.has(Flag.REQUANT_PER_CHANNEL)
    )
    b = _operand(op.b, table, where, "b") if needs_b else None
    if not needs_b and op.b != NO_SLOT:
        raise FieldOutOfRange(f"{where}: b must be 0xFFFF (no operand), got {op.b}")
    out = op.out_spec
    if out.rows <= 0 or out.cols <= 0:
        raise ShapeMismatch(f"{where}: output shape [{op.M}, {op.N}] must be positive")
    if op.N % LEAF_ELEMS:
        raise AlignmentError(f"{where}: N = {op.N} is not a multiple of {LEAF_ELEMS}")
    if out.numel > MAX_TENSOR_ELEMS:
        raise SizeLimitExceeded(
            f"{where}: output of {out.numel} elements exceeds {MAX_TENSOR_ELEMS}"
        )
    code = op.opcode
    _unused(op, where)
    if code == Opcode.MATMUL:
        if op.K <= 0 or op.K % LEAF_ELEMS:
            raise AlignmentError(f"{where}: K = {op.K} is not a positive multiple of {LEAF_ELEMS}")
        if op.K > MAX_K:
            raise OverflowRisk(
                f"{where}: K = {op.K} > MAX_K = {MAX_K}: K*128*128 >= 2^31 may overflow int32"
            )
        _expect(a, DType.INT8, op.M * op.K, where, "A")
        assert b is not None
        _expect(b, DType.INT8, op.N * op.K, where, "W")
    elif code == Opcode.ADD:
        _expect(a, DType.INT32, op.M * op.N, where, "a")
        assert b is not None
        _expect(b, DType.INT32, op.N if op.has(Flag.ADD_BROADCAST) else op.M * op.N, where, "b")
    elif code == Opcode.REQUANT:
        _expect(a, DType.INT32, op.M * op.N, where, "a")
        if not 1 <= op.shift <= 62:
            raise FieldOutOfRange(f"{where}: shift {op.shift} outside 1..62")
        if op.lo > op.hi:
            raise FieldOutOfRange(f"{where}: clamp lo {op.lo} > hi {op.hi}")
        if op.has(Flag.REQUANT_PER_CHANNEL):
            assert b is not None
            _expect(b, DType.INT32, op.N, where, "mult")
            if op.mult != 0:
                raise FieldOutOfRange(f"{where}: per-channel requant must leave mult zero")
        elif not 0 < op.mult <= INT32_MAX:
            raise FieldOutOfRange(f"{where}: mult {op.mult} must be in 1..2^31-1")
    elif code == Opcode.RELU:
        _expect(a, DType.INT32 if op.has(Flag.RELU_INT32) else DType.INT8, op.M * op.N, where, "a")
    elif code == Opcode.LUT:
        _expect(a, DType.INT8, op.M * op.N, where, "a")
        assert b is not None
        _expect(b, DType.INT8, 256, where, "table")
    elif code == Opcode.IM2COL:
        if op.C <= 0 or op.C % LEAF_ELEMS:
            raise AlignmentError(f"{where}: C = {op.C} is not a positive multiple of {LEAF_ELEMS}")
        if min(op.B, op.H, op.W, op.KH, op.KW, op.S) <= 0:
            raise FieldOutOfRange(f"{where}: B, H, W, KH, KW, S must be positive")
        oh, ow = im2col_out_hw(op)
        if oh <= 0 or ow <= 0:
            raise ShapeMismatch(f"{where}: kernel larger than the padded image")
        if op.M != op.B * oh * ow or op.N != op.KH * op.KW * op.C:
            raise ShapeMismatch(
                f"{where}: M, N = {op.M}, {op.N}, expected {op.B * oh * ow}, {op.KH * op.KW * op.C}"
            )
        _expect(a, DType.INT8, op.B * op.H * op.W * op.C, where, "X")
    return out


def _operand(slot: int, table: Sequence[TensorSpec], where: str, name: str) -> TensorSpec:
    if slot == NO_SLOT or slot >= len(table):
        raise SlotOutOfRange(
            f"{where}: operand {name} slot {slot} is not written yet ({len(table)} slots written)"
        )
    return table[slot]


def _expect(spec: TensorSpec, dtype: DType, numel: int, where: str, name: str) -> None:
    if spec.dtype != dtype:
        raise DTypeMismatch(
            f"{where}: operand {name} is {spec.dtype.label}, expected {dtype.label}"
        )
    if spec.numel != numel:
        raise ShapeMismatch(
            f"{where}: operand {name} has {spec.numel} elements "
            f"([{spec.rows}, {spec.cols}]), expected {numel}"
        )


def _unused(op: Op, where: str) -> None:
    """Fields an op does not use must be zero, so that one op has one encoding."""
    code = op.opcode
    used = {"K"} if code == Opcode.MATMUL else set()
    if code == Opcode.REQUANT:
        used |= {"mult", "shift", "zp", "lo", "hi"}
    if code == Opcode.IM2COL:
        used |= {"B", "H", "W", "C", "KH", "KW", "S", "P", "padv"}
    for name in ("K", *ENCODING_ORDER[ENCODING_ORDER.index("mult") :]):
        if name not in used and getattr(op, name) != 0:
            raise FieldOutOfRange(f"{where}: field {name} is unused by {op.name} and must be zero")
