"""Ops and their canonical 64-byte encoding (protocol.md section 4)."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, replace

from node.program.constants import NO_SLOT, OP_BYTES, DType, Flag, Opcode
from node.program.errors import BadEncoding, ReservedBytesSet, UnknownOpcode
from node.program.tensors import TensorSpec

# opcode flags out a b M K N mult shift zp lo hi B H W C KH KW S P padv mult2 (47 bytes),
# v5: kind pos period (9 bytes); v7: the high 16 bits of out, a, b (6 bytes), 2 reserved.
# The slot fields at 2..7 hold each slot id's low 16 bits, so v6 encodings of slots < 2^16 with
# an operand b keep their bytes.
_LAYOUT = struct.Struct(">BBHHHIIIIBbbbIHHHBBBBbIBIIHHH2x")
RESERVED_OFFSET = 62
_SLOTS = ("out", "a", "b")
_SLOT_LOW = 0xFFFF
assert _LAYOUT.size == OP_BYTES


# Field order of the 64-byte encoding (protocol.md section 4), shared by encode, decode and
# validation.
ENCODING_ORDER = (
    "opcode", "flags", "out", "a", "b", "M", "K", "N", "mult", "shift", "zp", "lo", "hi",
    "B", "H", "W", "C", "KH", "KW", "S", "P", "padv", "mult2", "kind", "pos", "period",
)  # fmt: skip


@dataclass(frozen=True)
class Op:
    opcode: Opcode
    out: int
    a: int
    b: int = NO_SLOT
    flags: int = 0
    M: int = 0
    K: int = 0
    N: int = 0
    mult: int = 0
    shift: int = 0
    zp: int = 0
    lo: int = 0
    hi: int = 0
    B: int = 0
    H: int = 0
    W: int = 0
    C: int = 0
    KH: int = 0
    KW: int = 0
    S: int = 0
    P: int = 0
    padv: int = 0
    mult2: int = 0  # qadd: multiplier of b
    kind: int = 0  # v5: reduce combine, rowop function
    pos: int = 0  # v5: write's first row / column; the position of row 0 under MASK
    period: int = 0  # v5: rows per sequence block under MASK

    def has(self, flag: Flag) -> bool:
        return bool(self.flags & flag)

    @property
    def name(self) -> str:
        return self.opcode.name.lower()

    @property
    def groups(self) -> int:
        """G of gmax / gsum (carried in the K field)."""
        return self.K

    @property
    def out_spec(self) -> TensorSpec:
        """The output tensor is fully determined by the op."""
        if self.opcode in (Opcode.MATMUL, Opcode.ADD, Opcode.GSUM, Opcode.REDUCE, Opcode.MUL):
            dt = DType.INT32
        elif self.opcode in (Opcode.RELU, Opcode.WRITE, Opcode.UPDATE) and self.has(Flag.INT32):
            dt = DType.INT32
        else:
            dt = DType.INT8
        return TensorSpec(dt, self.M, self.N)

    def encode(self) -> bytes:
        slots = [getattr(self, f) for f in _SLOTS]
        if any(not 0 <= s <= NO_SLOT for s in slots):
            raise BadEncoding(f"op slot id out of its 32 encoded bits in {self}")
        vals = [getattr(self, f) for f in ENCODING_ORDER]
        vals[2:5] = [s & _SLOT_LOW for s in slots]
        try:
            return _LAYOUT.pack(*vals, *(s >> 16 for s in slots))
        except struct.error as exc:
            raise BadEncoding(f"op field out of its encoded range: {exc} in {self}") from exc

    @classmethod
    def decode(cls, data: bytes) -> Op:
        if len(data) != OP_BYTES:
            raise BadEncoding(f"op encoding is {len(data)} bytes, expected {OP_BYTES}")
        if any(data[RESERVED_OFFSET:]):
            raise ReservedBytesSet(f"reserved bytes 62..63 of an op must be zero: {data.hex()}")
        *vals, out_hi, a_hi, b_hi = _LAYOUT.unpack(data)
        vals[2:5] = [lo | hi << 16 for lo, hi in zip(vals[2:5], (out_hi, a_hi, b_hi), strict=True)]
        try:
            opcode = Opcode(vals[0])
        except ValueError:
            raise UnknownOpcode(f"unknown opcode {vals[0]}") from None
        kw = dict(zip(ENCODING_ORDER, vals, strict=True))
        kw["opcode"] = opcode
        return cls(**kw)

    def to_json(self) -> dict[str, object]:
        # slots are kept even when 0 (b = 0 reads slot 0, e.g. gather of the prompt ids)
        d = {k: v for k, v in asdict(self).items() if k in ("out", "a", "b") or v != 0}
        d["opcode"] = self.name
        if self.b == NO_SLOT:
            d.pop("b", None)
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Op:
        kw = dict(d)
        name = str(kw.pop("opcode"))
        try:
            opcode = Opcode[name.upper()]
        except KeyError:
            raise UnknownOpcode(f"unknown op {name!r}") from None
        kw.setdefault("b", NO_SLOT)
        return cls(opcode=opcode, **{k: int(v) for k, v in kw.items()})  # type: ignore[call-overload]


def im2col_out_hw(op: Op) -> tuple[int, int]:
    """OH, OW of an im2col op (floor division, protocol.md section 4)."""
    oh = (op.H + 2 * op.P - op.KH) // op.S + 1
    ow = (op.W + 2 * op.P - op.KW) // op.S + 1
    return oh, ow


def im2col_op(
    out: int,
    a: int,
    *,
    B: int,
    H: int,
    W: int,
    C: int,
    KH: int,
    KW: int,
    S: int,
    P: int,
    padv: int = 0,
) -> Op:
    """An im2col op over a B x H x W x C input with its output shape derived from the window:
    M = B * OH * OW patch rows of N = KH * KW * C elements."""
    window = Op(Opcode.IM2COL, out=out, a=a, B=B, H=H, W=W, C=C, KH=KH, KW=KW, S=S, P=P, padv=padv)
    oh, ow = im2col_out_hw(window)
    return replace(window, M=B * oh * ow, N=KH * KW * C)


def requant_op(
    out: int,
    a: int,
    *,
    M: int,
    N: int,
    shift: int,
    mult: int = 0,
    mults: int | None = None,
    zp: int = 0,
    lo: int = -128,
    hi: int = 127,
) -> Op:
    """A requant op: per-tensor with multiplier `mult`, or per-channel when `mults` names the
    slot of the 1 x N multipliers (then `mult` is unused and must stay 0)."""
    per = mults is not None
    return Op(
        Opcode.REQUANT,
        out=out,
        a=a,
        b=mults if mults is not None else NO_SLOT,
        M=M,
        N=N,
        flags=Flag.REQUANT_PER_CHANNEL if per else 0,
        mult=0 if per else mult,
        shift=shift,
        zp=zp,
        lo=lo,
        hi=hi,
    )


def qadd_op(
    out: int,
    a: int,
    b: int,
    *,
    M: int,
    N: int,
    mult: int,
    mult2: int,
    shift: int,
    zp: int = 0,
    lo: int = -128,
    hi: int = 127,
) -> Op:
    """A quantized add: clamp(((a * mult + b * mult2 + 2^(shift-1)) >> shift) + zp, lo, hi)."""
    return Op(
        Opcode.QADD,
        out=out,
        a=a,
        b=b,
        M=M,
        N=N,
        mult=mult,
        mult2=mult2,
        shift=shift,
        zp=zp,
        lo=lo,
        hi=hi,
    )


def group_op(opcode: Opcode, out: int, a: int, *, groups: int, M: int, N: int) -> Op:
    """A gmax / gsum op: reduce `a` read as [M, groups*N] over its `groups` column groups."""
    if opcode not in (Opcode.GMAX, Opcode.GSUM):
        raise UnknownOpcode(f"{opcode.name.lower()} is not a group reduction")
    return Op(opcode, out=out, a=a, M=M, K=groups, N=N)
