"""Validation of ops (protocol.md section 4, "Validation"), with named errors.

Two kinds of rules, applied in this order:

- **op rules** need only the op, `nInputs` and its index. The contract applies the same rules
  in the same order (`OpCodec.validate`, run by `DisputeGame.openOp`), so the first rule an
  encoding breaks is the same on both sides: `encoding_violation` / `op_violation` name it as a
  `Violation` (the Python error, and the contract's custom error with its field code), and
  `validate_op` raises its Python error. tests/vectors/validation.json pins every rule.
- **table rules** need the dtypes and shapes of the operand slots, which the contract never
  sees (a state root commits to tensor roots only); they are checked here, before a node
  posts, claims or re-executes a program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.program.constants import (
    INT32_MAX,
    LEAF_ELEMS,
    MAX_DIM,
    MAX_GROUP,
    MAX_K,
    MAX_SLOTS,
    MAX_TENSOR_ELEMS,
    NO_SLOT,
    OP_BYTES,
    DType,
    Flag,
    Opcode,
)
from node.program.errors import (
    AlignmentError,
    BadEncoding,
    DTypeMismatch,
    FieldOutOfRange,
    OverflowRisk,
    ProgramError,
    ReservedBytesSet,
    ShapeMismatch,
    SizeLimitExceeded,
    SlotOutOfRange,
    UnknownOpcode,
    WrongOutputSlot,
)
from node.program.ops import RESERVED_OFFSET, Op, im2col_out_hw
from node.program.tensors import TensorSpec

_ALLOWED_FLAGS = {
    Opcode.MATMUL: 0,
    Opcode.ADD: Flag.ADD_BROADCAST,
    Opcode.REQUANT: Flag.REQUANT_PER_CHANNEL,
    Opcode.RELU: Flag.RELU_INT32,
    Opcode.LUT: 0,
    Opcode.IM2COL: 0,
    Opcode.QADD: 0,
    Opcode.GMAX: 0,
    Opcode.GSUM: 0,
}
_NEEDS_B = {Opcode.MATMUL, Opcode.ADD, Opcode.LUT, Opcode.QADD}
_GROUP_OPS = {Opcode.GMAX, Opcode.GSUM}
# ops whose requant-like fields (mult, shift, zp, lo, hi) are used
_RESCALE_OPS = {Opcode.REQUANT, Opcode.QADD}
_OPCODES = frozenset(int(c) for c in Opcode)

# BadOpField.field on chain: the byte offset of the field in the 64-byte op (OpCodec.F_*).
FIELD_OFFSET: dict[str, int] = {
    "opcode": 0, "flags": 1, "out": 2, "a": 4, "b": 6, "M": 8, "K": 12, "N": 16, "mult": 20,
    "shift": 24, "zp": 25, "lo": 26, "hi": 27, "B": 28, "H": 32, "W": 34, "C": 36, "KH": 38,
    "KW": 39, "S": 40, "P": 41, "padv": 42, "mult2": 43, "reserved": 47,
}  # fmt: skip
# Fields checked to be zero when the opcode does not use them, in encoding order (K and a
# per-channel requant's mult have rules of their own).
_REQUANT_FIELDS = ("mult", "shift", "zp", "lo", "hi")
_IM2COL_FIELDS = ("B", "H", "W", "C", "KH", "KW", "S", "P", "padv")
_SIGNED = {"zp", "lo", "hi", "padv"}


@dataclass(frozen=True)
class Violation:
    """The first op rule an encoding breaks: the error `validate_op` (or `Op.decode`) raises,
    and the custom error the contract reverts with: `BadOpField(field, value)` or
    `BadOpLength(length)` (then `field` is None and `value` the length)."""

    error: type[ProgramError]
    chain_error: str
    field: int | None
    value: int
    message: str

    def exception(self) -> ProgramError:
        return self.error(self.message)

    @property
    def chain_args(self) -> dict[str, int]:
        if self.field is None:
            return {"length": self.value}
        return {"field": self.field, "value": self.value}


def _bad(error: type[ProgramError], name: str, value: int, message: str) -> Violation:
    raw = value & 0xFF if name in _SIGNED else value  # signed fields are reported as their byte
    return Violation(error, "BadOpField", FIELD_OFFSET[name], raw, message)


def encoding_violation(enc: bytes, index: int, n_inputs: int) -> Violation | None:
    """The first op rule (protocol.md section 4) that the encoding of op `index` breaks, as
    `Op.decode` + `validate_op` and `OpCodec.decode` + `OpCodec.validate` both see it."""
    if len(enc) != OP_BYTES:
        return Violation(
            BadEncoding, "BadOpLength", None, len(enc), f"op encoding is {len(enc)} bytes"
        )
    if any(enc[RESERVED_OFFSET:]):
        reserved = int.from_bytes(enc[RESERVED_OFFSET:], "big")
        return Violation(
            ReservedBytesSet,
            "BadOpField",
            RESERVED_OFFSET,
            reserved,
            f"reserved bytes 47..63 of an op must be zero: {enc.hex()}",
        )
    if enc[0] not in _OPCODES:
        return _bad(UnknownOpcode, "opcode", enc[0], f"unknown opcode {enc[0]}")
    return op_violation(Op.decode(enc), index, n_inputs)


def op_violation(op: Op, index: int, n_inputs: int) -> Violation | None:
    """The first op rule op `index` breaks (None if it keeps them all), in the contract's
    order: output slot, operand slots, flags, output shape, K (matmul reduction, gmax/gsum
    groups), requant / qadd fields, im2col fields, unused fields zero."""
    where = f"op {index} ({op.name})"
    out = n_inputs + index
    # fields an Op built in Python (not decoded) might hold beyond their 4 encoded bytes
    for name in ("M", "K", "N", "B"):
        if getattr(op, name) > MAX_DIM:
            return _bad(SizeLimitExceeded, name, getattr(op, name), f"{where}: {name} too large")
    if op.out != out:
        return _bad(
            WrongOutputSlot, "out", op.out, f"{where} writes slot {op.out}, must write {out}"
        )
    if op.out >= MAX_SLOTS:
        return _bad(SizeLimitExceeded, "out", op.out, f"{where}: slot {op.out} beyond MAX_SLOTS")
    if op.a >= out:
        return _bad(SlotOutOfRange, "a", op.a, f"{where}: operand a slot {op.a} is not written yet")
    if needs_b(op):
        if op.b >= out:
            return _bad(
                SlotOutOfRange, "b", op.b, f"{where}: operand b slot {op.b} is not written yet"
            )
    elif op.b != NO_SLOT:
        return _bad(FieldOutOfRange, "b", op.b, f"{where}: b must be 0xFFFF (no operand)")
    if op.flags & ~_ALLOWED_FLAGS[op.opcode]:
        return _bad(FieldOutOfRange, "flags", op.flags, f"{where}: flags {op.flags:#x} not allowed")
    if op.M <= 0:
        return _bad(ShapeMismatch, "M", op.M, f"{where}: output rows M = {op.M} must be positive")
    if op.N <= 0:
        return _bad(ShapeMismatch, "N", op.N, f"{where}: output cols N = {op.N} must be positive")
    if op.N % LEAF_ELEMS:
        return _bad(
            AlignmentError, "N", op.N, f"{where}: N = {op.N} is not a multiple of {LEAF_ELEMS}"
        )
    if op.M * op.N > MAX_TENSOR_ELEMS:
        return _bad(
            SizeLimitExceeded,
            "M",
            op.M,
            f"{where}: output of {op.M * op.N} elements exceeds {MAX_TENSOR_ELEMS}",
        )
    code = op.opcode
    if code == Opcode.MATMUL:
        if bad := _leaf_multiple(op, "K", where):
            return bad
        if op.K > MAX_K:
            return _bad(
                OverflowRisk,
                "K",
                op.K,
                f"{where}: K = {op.K} > MAX_K = {MAX_K}: K*128*128 >= 2^31 may overflow int32",
            )
    elif code in _GROUP_OPS:
        if not 1 <= op.K <= MAX_GROUP:
            return _bad(
                FieldOutOfRange,
                "K",
                op.K,
                f"{where}: group count K = {op.K} outside 1..{MAX_GROUP}",
            )
        if op.M * op.K * op.N > MAX_TENSOR_ELEMS:
            return _bad(
                SizeLimitExceeded,
                "K",
                op.K,
                f"{where}: input of {op.M * op.K * op.N} elements exceeds {MAX_TENSOR_ELEMS}",
            )
    elif op.K != 0:
        return _bad(FieldOutOfRange, "K", op.K, f"{where}: field K is unused and must be zero")
    if code == Opcode.REQUANT:
        v = _requant_violation(op, where)
    elif code == Opcode.QADD:
        v = _qadd_violation(op, where)
    elif code == Opcode.IM2COL:
        v = _im2col_violation(op, where)
    else:
        v = None
    return v or _unused_violation(op, where)


def _requant_violation(op: Op, where: str) -> Violation | None:
    if not 1 <= op.shift <= 62:
        return _bad(FieldOutOfRange, "shift", op.shift, f"{where}: shift {op.shift} outside 1..62")
    if op.lo > op.hi:
        return _bad(FieldOutOfRange, "lo", op.lo, f"{where}: clamp lo {op.lo} > hi {op.hi}")
    if op.has(Flag.REQUANT_PER_CHANNEL):
        if op.mult != 0:
            return _bad(
                FieldOutOfRange, "mult", op.mult, f"{where}: per-channel requant must leave mult 0"
            )
    elif not 0 < op.mult <= INT32_MAX:
        return _bad(
            FieldOutOfRange, "mult", op.mult, f"{where}: mult {op.mult} must be in 1..2^31-1"
        )
    return None


def _qadd_violation(op: Op, where: str) -> Violation | None:
    if not 1 <= op.shift <= 62:
        return _bad(FieldOutOfRange, "shift", op.shift, f"{where}: shift {op.shift} outside 1..62")
    if op.lo > op.hi:
        return _bad(FieldOutOfRange, "lo", op.lo, f"{where}: clamp lo {op.lo} > hi {op.hi}")
    for name in ("mult", "mult2"):
        value = int(getattr(op, name))
        if not 0 < value <= INT32_MAX:
            return _bad(
                FieldOutOfRange, name, value, f"{where}: {name} {value} must be in 1..2^31-1"
            )
    return None


def _leaf_multiple(op: Op, name: str, where: str) -> Violation | None:
    """`name` (K of a matmul, C of an im2col) must fill whole leaves."""
    value = int(getattr(op, name))
    if value <= 0 or value % LEAF_ELEMS:
        return _bad(
            AlignmentError,
            name,
            value,
            f"{where}: {name} = {value} is not a positive multiple of {LEAF_ELEMS}",
        )
    return None


def _im2col_violation(op: Op, where: str) -> Violation | None:
    if bad := _leaf_multiple(op, "C", where):
        return bad
    for name in ("B", "H", "W", "KH", "KW", "S"):
        if getattr(op, name) <= 0:
            return _bad(
                FieldOutOfRange, name, getattr(op, name), f"{where}: {name} must be positive"
            )
    if op.H + 2 * op.P < op.KH:
        return _bad(
            ShapeMismatch, "KH", op.KH, f"{where}: kernel height {op.KH} > padded image height"
        )
    if op.W + 2 * op.P < op.KW:
        return _bad(
            ShapeMismatch, "KW", op.KW, f"{where}: kernel width {op.KW} > padded image width"
        )
    oh, ow = im2col_out_hw(op)
    if op.M != op.B * oh * ow:
        return _bad(ShapeMismatch, "M", op.M, f"{where}: M = {op.M}, expected {op.B * oh * ow}")
    if op.N != op.KH * op.KW * op.C:
        return _bad(
            ShapeMismatch, "N", op.N, f"{where}: N = {op.N}, expected {op.KH * op.KW * op.C}"
        )
    return None


def _unused_violation(op: Op, where: str) -> Violation | None:
    """Fields an op does not use must be zero, so that one op has one encoding."""
    names = (
        (() if op.opcode in _RESCALE_OPS else _REQUANT_FIELDS)
        + (() if op.opcode == Opcode.IM2COL else _IM2COL_FIELDS)
        + (() if op.opcode == Opcode.QADD else ("mult2",))
    )
    for name in names:
        value = getattr(op, name)
        if value != 0:
            return _bad(
                FieldOutOfRange, name, value, f"{where}: field {name} is unused and must be zero"
            )
    return None


def needs_b(op: Op) -> bool:
    """Whether the op reads a second operand `b` (OpCodec.hasB)."""
    return op.opcode in _NEEDS_B or (
        op.opcode == Opcode.REQUANT and op.has(Flag.REQUANT_PER_CHANNEL)
    )


def validate_op(op: Op, index: int, n_inputs: int, table: Sequence[TensorSpec]) -> TensorSpec:
    """Check op `index` against the slots written before it; returns its output spec.
    `table` holds the specs of slots 0 .. n_inputs + index - 1."""
    violation = op_violation(op, index, n_inputs)
    if violation is not None:
        raise violation.exception()
    where = f"op {index} ({op.name})"
    a = _operand(op.a, table, where, "a")
    b = _operand(op.b, table, where, "b") if needs_b(op) else None
    code = op.opcode
    if code == Opcode.MATMUL:
        assert b is not None
        _expect(a, DType.INT8, op.M * op.K, where, "A")
        _expect(b, DType.INT8, op.N * op.K, where, "W")
    elif code == Opcode.ADD:
        assert b is not None
        _expect(a, DType.INT32, op.M * op.N, where, "a")
        _expect(b, DType.INT32, op.N if op.has(Flag.ADD_BROADCAST) else op.M * op.N, where, "b")
    elif code == Opcode.REQUANT:
        _expect(a, DType.INT32, op.M * op.N, where, "a")
        if b is not None:
            # any int32 multipliers: an earlier op may compute them (protocol.md section 4)
            _expect(b, DType.INT32, op.N, where, "mult")
    elif code == Opcode.RELU:
        _expect(a, DType.INT32 if op.has(Flag.RELU_INT32) else DType.INT8, op.M * op.N, where, "a")
    elif code == Opcode.LUT:
        assert b is not None
        _expect(a, DType.INT8, op.M * op.N, where, "a")
        _expect(b, DType.INT8, 256, where, "table")
    elif code == Opcode.IM2COL:
        _expect(a, DType.INT8, op.B * op.H * op.W * op.C, where, "X")
    elif code == Opcode.QADD:
        assert b is not None
        _expect(a, DType.INT8, op.M * op.N, where, "a")
        _expect(b, DType.INT8, op.M * op.N, where, "b")
    elif code in _GROUP_OPS:
        _expect(a, DType.INT8, op.M * op.K * op.N, where, "a")
    return op.out_spec


def _operand(slot: int, table: Sequence[TensorSpec], where: str, name: str) -> TensorSpec:
    if slot >= len(table):
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
