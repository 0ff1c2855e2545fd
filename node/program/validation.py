"""Validation of ops (protocol.md section 4, "Validation"), with named errors.

Two kinds of rules, applied in this order, the same on both sides (v4):

- **op rules** need only the op, `nInputs` and its index. The contract applies the same rules
  in the same order (`OpCodec.validate`, run by `DisputeGame.openOp`), so the first rule an
  encoding breaks is the same on both sides: `encoding_violation` / `op_violation` name it as a
  `Violation` (the Python error, and the contract's custom error with its field code), and
  `validate_op` raises its Python error.
- **table rules** need the dtypes and shapes of the operand slots, which the program root
  commits (an input's spec leaf, an op output's producing op): T1, an input operand's spec leaf
  is well-formed (`spec_leaf_violation`); T2, each operand has the dtype and element count the
  op expects (`operand_expectations`, the one opcode -> operands table, `operand_violation`).
  `openSpecs` (v7: the opening's second move, after `openOp`'s op rules) checks them for the op
  it opens (`opening_violation` is exactly the two moves' check).

tests/vectors/validation.json pins every rule of both kinds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from node.program.constants import (
    INT32_MAX,
    LEAF_ELEMS,
    MAX_DIM,
    MAX_GROUP,
    MAX_K,
    MAX_ROW_SHIFT,
    MAX_SLOTS,
    MAX_TENSOR_ELEMS,
    MAX_UPDATE_SHIFT,
    NO_SLOT,
    OP_BYTES,
    DType,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
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
    UnknownDType,
    UnknownOpcode,
    WrongOutputSlot,
)
from node.program.ops import RESERVED_OFFSET, Op, im2col_out_hw
from node.program.tensors import SPEC_LEAF_BYTES, SPEC_RESERVED_OFFSET, TensorSpec

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
    Opcode.GATHER: 0,
    Opcode.WRITE: Flag.INT32 | Flag.COLUMNS,
    Opcode.REDUCE: Flag.INT32 | Flag.MASK,
    Opcode.ROWOP: Flag.MASK,
    Opcode.MUL: Flag.BROADCAST,
    Opcode.TRANSPOSE: 0,
    Opcode.UPDATE: Flag.INT32,
}
_NEEDS_B = {
    Opcode.MATMUL, Opcode.ADD, Opcode.LUT, Opcode.QADD, Opcode.GATHER, Opcode.WRITE, Opcode.ROWOP,
    Opcode.MUL, Opcode.UPDATE,
}  # fmt: skip
_GROUP_OPS = {Opcode.GMAX, Opcode.GSUM}
# ops whose requant-like fields (mult, shift, zp, lo, hi) are used
_RESCALE_OPS = {Opcode.REQUANT, Opcode.QADD, Opcode.ROWOP, Opcode.UPDATE}
_NORM_KINDS = {RowKind.NORM, RowKind.RMSNORM}
_OPCODES = frozenset(int(c) for c in Opcode)

# BadOpField.field on chain: the byte offset of the field in the 64-byte op (OpCodec.F_*).
FIELD_OFFSET: dict[str, int] = {
    "opcode": 0, "flags": 1, "out": 2, "a": 4, "b": 6, "M": 8, "K": 12, "N": 16, "mult": 20,
    "shift": 24, "zp": 25, "lo": 26, "hi": 27, "B": 28, "H": 32, "W": 34, "C": 36, "KH": 38,
    "KW": 39, "S": 40, "P": 41, "padv": 42, "mult2": 43, "kind": 47, "pos": 48, "period": 52,
    "reserved": 62,
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
    # the custom error's arguments when they are not (field, value) or (length): table rules
    args: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def exception(self) -> ProgramError:
        return self.error(self.message)

    @property
    def chain_args(self) -> dict[str, int]:
        if self.args:
            return dict(self.args)
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
            f"reserved bytes 62..63 of an op must be zero: {enc.hex()}",
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
        return _bad(FieldOutOfRange, "b", op.b, f"{where}: b must be 0xFFFFFFFF (no operand)")
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
    if op.opcode == Opcode.REDUCE and op.N != LEAF_ELEMS:
        return _bad(
            ShapeMismatch, "N", op.N, f"{where}: reduce writes [M, 32] per-row values, N = {op.N}"
        )
    if op.M * op.N > MAX_TENSOR_ELEMS:
        return _bad(
            SizeLimitExceeded,
            "M",
            op.M,
            f"{where}: output of {op.M * op.N} elements exceeds {MAX_TENSOR_ELEMS}",
        )
    code = op.opcode
    if code in (Opcode.MATMUL, Opcode.REDUCE):
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
    elif code == Opcode.GATHER:
        if op.K < 1:
            return _bad(FieldOutOfRange, "K", op.K, f"{where}: the table has K = 0 rows")
        if op.K * op.N > MAX_TENSOR_ELEMS:
            return _bad(
                SizeLimitExceeded,
                "K",
                op.K,
                f"{where}: table of {op.K * op.N} elements exceeds {MAX_TENSOR_ELEMS}",
            )
    elif code == Opcode.WRITE:
        if op.K < 1:
            return _bad(FieldOutOfRange, "K", op.K, f"{where}: write of K = 0 rows / columns")
    elif code == Opcode.ROWOP and op.kind in _NORM_KINDS:
        if not 1 <= op.K <= MAX_K:
            return _bad(
                FieldOutOfRange,
                "K",
                op.K,
                f"{where}: norm row length K = {op.K} outside 1..{MAX_K}",
            )
    elif op.K != 0:
        return _bad(FieldOutOfRange, "K", op.K, f"{where}: field K is unused and must be zero")
    elif code == Opcode.TRANSPOSE and op.M % LEAF_ELEMS:
        # a is read as [N, M]: its rows must be whole leaves
        return _bad(
            AlignmentError, "M", op.M, f"{where}: transpose M = {op.M} is not a multiple of 32"
        )
    if code == Opcode.REQUANT:
        v = _requant_violation(op, where)
    elif code == Opcode.ROWOP:
        v = _rowop_violation(op, where)
    elif code == Opcode.QADD:
        v = _qadd_violation(op, where)
    elif code == Opcode.UPDATE:
        v = _update_violation(op, where)
    elif code == Opcode.IM2COL:
        v = _im2col_violation(op, where)
    else:
        v = None
    return v or _unused_violation(op, where) or _v5_violation(op, where)


def _rowop_violation(op: Op, where: str) -> Violation | None:
    top = 0 if op.kind == RowKind.SUB else MAX_ROW_SHIFT
    if not 0 <= op.shift <= top:
        return _bad(
            FieldOutOfRange, "shift", op.shift, f"{where}: shift {op.shift} outside 0..{top}"
        )
    if op.lo > op.hi:
        return _bad(FieldOutOfRange, "lo", op.lo, f"{where}: clamp lo {op.lo} > hi {op.hi}")
    if op.mult != 0:
        return _bad(FieldOutOfRange, "mult", op.mult, f"{where}: rowop leaves mult 0")
    if op.zp != 0:
        return _bad(FieldOutOfRange, "zp", op.zp, f"{where}: rowop leaves zp 0")
    return None


def _update_violation(op: Op, where: str) -> Violation | None:
    if not 1 <= op.shift <= MAX_UPDATE_SHIFT:
        return _bad(
            FieldOutOfRange,
            "shift",
            op.shift,
            f"{where}: update shift {op.shift} outside 1..{MAX_UPDATE_SHIFT}",
        )
    if op.lo > op.hi:
        return _bad(FieldOutOfRange, "lo", op.lo, f"{where}: clamp lo {op.lo} > hi {op.hi}")
    if not 1 <= op.mult <= INT32_MAX:
        return _bad(FieldOutOfRange, "mult", op.mult, f"{where}: mult {op.mult} outside 1..2^31-1")
    if op.zp != 0:
        return _bad(FieldOutOfRange, "zp", op.zp, f"{where}: update leaves zp 0")
    return None


def _v5_violation(op: Op, where: str) -> Violation | None:
    """Rule 15: kind, then pos and period (the causal mask, write's block)."""
    code = op.opcode
    if code == Opcode.REDUCE:
        kinds = (ReduceKind.MAX, ReduceKind.ARGMAX) if op.has(Flag.INT32) else tuple(ReduceKind)
    elif code == Opcode.ROWOP:
        kinds = tuple(RowKind)
    else:
        kinds = ()
    if (op.kind != 0 or kinds) and op.kind not in kinds:
        return _bad(FieldOutOfRange, "kind", op.kind, f"{where}: kind {op.kind} not allowed")
    if code in (Opcode.REDUCE, Opcode.ROWOP) and op.has(Flag.MASK):
        if op.period < 1:
            return _bad(FieldOutOfRange, "period", op.period, f"{where}: a mask needs period >= 1")
        return None
    if code == Opcode.UPDATE:
        return None  # pos = the step, period = the seed: any uint32
    if code == Opcode.WRITE:
        if op.has(Flag.COLUMNS):
            fits = op.pos + op.K <= op.N and (op.pos % LEAF_ELEMS == 0 or op.K <= LEAF_ELEMS)
        else:
            fits = op.pos + op.K <= op.M
        if not fits:
            return _bad(
                FieldOutOfRange,
                "pos",
                op.pos,
                f"{where}: block pos {op.pos}, count {op.K} does not fit (or straddles leaves)",
            )
    elif op.pos != 0:
        return _bad(
            FieldOutOfRange, "pos", op.pos, f"{where}: field pos is unused and must be zero"
        )
    if op.period != 0:
        return _bad(
            FieldOutOfRange,
            "period",
            op.period,
            f"{where}: field period is unused and must be zero",
        )
    return None


def ceil32(n: int) -> int:
    return -(-n // LEAF_ELEMS) * LEAF_ELEMS


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


# ---- table rules (protocol.md section 4, v4) ---------------------------------------------

# BadInputSpec.field: the byte offset in the 32-byte spec leaf (OpCodec.S_*)
SPEC_FIELD_OFFSET: dict[str, int] = {"dtype": 0, "rows": 1, "cols": 5, "reserved": 9}
_DTYPES = frozenset(int(d) for d in DType)
OPERAND_A, OPERAND_B = 1, 2  # the contract's `operand` code


@dataclass(frozen=True)
class Operand:
    """What an op expects of one operand: its slot, dtype and element count."""

    which: int  # OPERAND_A or OPERAND_B
    slot: int
    label: str  # its name in the op's semantics (A, W, table, ...)
    dtype: DType
    numel: int


def operand_expectations(op: Op) -> tuple[Operand, ...]:
    """The dtype and element count the op expects of each operand it reads (rule T2): the one
    opcode -> operands table (OpCodec.operandSpecs); a new opcode adds its row here."""
    i8, i32 = DType.INT8, DType.INT32
    mn = op.M * op.N
    code = op.opcode
    rows: list[tuple[str, DType, int]]
    if code == Opcode.MATMUL:
        rows = [("A", i8, op.M * op.K), ("W", i8, op.N * op.K)]
    elif code == Opcode.ADD:
        rows = [("a", i32, mn), ("b", i32, op.N if op.has(Flag.ADD_BROADCAST) else mn)]
    elif code == Opcode.REQUANT:
        # any int32 multipliers: an earlier op may compute them (protocol.md section 4)
        per_channel = op.has(Flag.REQUANT_PER_CHANNEL)
        rows = [("a", i32, mn)] + ([("mult", i32, op.N)] if per_channel else [])
    elif code == Opcode.RELU:
        rows = [("a", i32 if op.has(Flag.RELU_INT32) else i8, mn)]
    elif code == Opcode.LUT:
        rows = [("a", i8, mn), ("table", i8, 256)]
    elif code == Opcode.IM2COL:
        rows = [("X", i8, op.B * op.H * op.W * op.C)]
    elif code == Opcode.QADD:
        rows = [("a", i8, mn), ("b", i8, mn)]
    elif code in _GROUP_OPS:
        rows = [("a", i8, op.M * op.K * op.N)]
    elif code == Opcode.GATHER:
        rows = [("table", i8, op.K * op.N), ("ids", i32, op.M * LEAF_ELEMS)]
    elif code == Opcode.WRITE:
        dt = i32 if op.has(Flag.INT32) else i8
        block = op.M * ceil32(op.K) if op.has(Flag.COLUMNS) else op.K * op.N
        rows = [("a", dt, mn), ("b", dt, block)]
    elif code == Opcode.REDUCE:
        rows = [("a", i32 if op.has(Flag.INT32) else i8, op.M * op.K)]
    elif code == Opcode.ROWOP:
        rows = [("a", i8, mn), ("stats", i32, op.M * LEAF_ELEMS)]
    elif code == Opcode.MUL:
        rows = [("a", i8, mn), ("b", i8, op.N if op.has(Flag.BROADCAST) else mn)]
    elif code == Opcode.TRANSPOSE:
        rows = [("a", i8, mn)]
    elif code == Opcode.UPDATE:
        rows = [("weights", i32 if op.has(Flag.INT32) else i8, mn), ("gradient", i32, mn)]
    else:
        raise UnknownOpcode(f"unknown opcode {code}")
    slots = (op.a, op.b)
    return tuple(Operand(k + 1, slots[k], label, dt, n) for k, (label, dt, n) in enumerate(rows))


def spec_leaf_violation(leaf: bytes, slot: int) -> Violation | None:
    """Rule T1: the first rule input `slot`'s 32-byte spec leaf breaks (OpCodec.inputSpec)."""
    where = f"input slot {slot}'s spec"

    def bad(error: type[ProgramError], name: str, value: int, message: str) -> Violation:
        off = SPEC_FIELD_OFFSET[name]
        args = {"slot": slot, "field": off, "value": value}
        return Violation(error, "BadInputSpec", off, value, f"{where}: {message}", args)

    if len(leaf) != SPEC_LEAF_BYTES:
        raise BadEncoding(f"{where} is {len(leaf)} bytes, expected {SPEC_LEAF_BYTES}")
    reserved = int.from_bytes(leaf[SPEC_RESERVED_OFFSET:], "big")
    if reserved:
        return bad(BadEncoding, "reserved", reserved, "reserved bytes 9..31 must be zero")
    if leaf[0] not in _DTYPES:
        return bad(UnknownDType, "dtype", leaf[0], f"unknown dtype {leaf[0]} (1 int8, 4 int32)")
    rows, cols = int.from_bytes(leaf[1:5], "big"), int.from_bytes(leaf[5:9], "big")
    if rows == 0:
        return bad(ShapeMismatch, "rows", 0, "rows must be positive")
    if cols == 0:
        return bad(ShapeMismatch, "cols", 0, "cols must be positive")
    if cols % LEAF_ELEMS:
        return bad(AlignmentError, "cols", cols, f"cols {cols} is not a multiple of {LEAF_ELEMS}")
    if rows * cols > MAX_TENSOR_ELEMS:
        return bad(
            SizeLimitExceeded, "rows", rows, f"{rows * cols} elements exceed {MAX_TENSOR_ELEMS}"
        )
    return None


def decode_spec_leaf(leaf: bytes, slot: int) -> TensorSpec:
    """The TensorSpec of input `slot`'s spec leaf, or its T1 error."""
    v = spec_leaf_violation(leaf, slot)
    if v is not None:
        raise v.exception()
    rows, cols = int.from_bytes(leaf[1:5], "big"), int.from_bytes(leaf[5:9], "big")
    return TensorSpec(DType(leaf[0]), rows, cols)


def operand_violation(op: Op, index: int, spec_of: Callable[[int], TensorSpec]) -> Violation | None:
    """Rule T2: the first operand (a, then b) whose slot's spec is not what op `index` expects
    (dtype first, then element count); `spec_of(slot)` gives a slot's spec."""
    for want in operand_expectations(op):
        if (bad := _mismatch(op, index, want, spec_of(want.slot))) is not None:
            return bad
    return None


def _mismatch(op: Op, index: int, want: Operand, got: TensorSpec) -> Violation | None:
    if (got.dtype, got.numel) == (want.dtype, want.numel):
        return None
    where = f"op {index} ({op.name})"
    args = {
        "operand": want.which, "slot": want.slot, "dtype": int(got.dtype), "numel": got.numel,
        "wantDtype": int(want.dtype), "wantNumel": want.numel,
    }  # fmt: skip
    shape = f"{got.dtype.label}[{got.rows}, {got.cols}]"
    if got.dtype != want.dtype:
        error: type[ProgramError] = DTypeMismatch
        msg = f"operand {want.label} (slot {want.slot}) is {shape}, expected {want.dtype.label}"
    else:
        error = ShapeMismatch
        msg = (
            f"operand {want.label} (slot {want.slot}) is {shape}: {got.numel} elements, "
            f"expected {want.numel}"
        )
    return Violation(error, "OperandMismatch", None, got.numel, f"{where}: {msg}", args)


def opening_violation(
    enc: bytes, index: int, n_inputs: int, sources: Mapping[int, bytes]
) -> Violation | None:
    """What the opening checks of op `index` once its proofs hold (section 6.3): the op rules
    (`DisputeGame.openOp`), then (`openSpecs`, v7) operand a and then b: the spec its source commits, `sources[slot]`, an input's
    32-byte spec leaf (slot < n_inputs, T1) or the 64-byte op that writes the slot (its out
    spec, decoded, not validated), then T2."""
    v = encoding_violation(enc, index, n_inputs)
    if v is not None:
        return v
    op = Op.decode(enc)
    for want in operand_expectations(op):
        src = sources[want.slot]
        if want.slot < n_inputs:
            if (bad := spec_leaf_violation(src, want.slot)) is not None:
                return bad
            got = decode_spec_leaf(src, want.slot)
        else:
            got = Op.decode(src).out_spec
        if (bad := _mismatch(op, index, want, got)) is not None:
            return bad
    return None


def validate_op(op: Op, index: int, n_inputs: int, table: Sequence[TensorSpec]) -> TensorSpec:
    """Check op `index` against the slots written before it; returns its output spec.
    `table` holds the specs of slots 0 .. n_inputs + index - 1."""
    violation = op_violation(op, index, n_inputs)
    if violation is not None:
        raise violation.exception()
    where = f"op {index} ({op.name})"
    bad = operand_violation(op, index, lambda slot: _operand(slot, table, where))
    if bad is not None:
        raise bad.exception()
    return op.out_spec


def _operand(slot: int, table: Sequence[TensorSpec], where: str) -> TensorSpec:
    if slot >= len(table):
        raise SlotOutOfRange(
            f"{where}: operand slot {slot} is not written yet ({len(table)} slots written)"
        )
    return table[slot]
