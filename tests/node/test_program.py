"""Op encoding round-trips and validation rejects every malformed op with a named error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.program.constants import MAX_K, NO_SLOT, DType, Opcode
from node.program.errors import (
    AlignmentError,
    BadEncoding,
    DTypeMismatch,
    FieldOutOfRange,
    OverflowRisk,
    ReservedBytesSet,
    ShapeMismatch,
    SizeLimitExceeded,
    SlotOutOfRange,
    UnknownOpcode,
    WrongOutputSlot,
)
from node.program.ops import Op
from node.program.program import InputSlot, Program
from node.program.samples import random_op
from node.program.tensors import TensorSpec
from node.program.validation import op_violation, validate_op


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), opcode=st.sampled_from(list(Opcode)))
def test_encoding_round_trips(seed: int, opcode: Opcode) -> None:
    op = random_op(np.random.default_rng(seed), opcode).op
    enc = op.encode()
    assert len(enc) == 64 and Op.decode(enc) == op
    assert Op.from_json(op.to_json()) == op


def test_json_keeps_operand_slot_zero() -> None:
    """b = 0 (an op reading slot 0 second, as a gather of the prompt ids) survives the JSON
    of a saved spec; it once came back as "no operand"."""
    op = Op(Opcode.GATHER, out=5, a=3, b=0, M=4, K=40, N=32)
    assert Op.from_json(op.to_json()) == op


def test_decode_rejects_unknown_opcode_reserved_bytes_and_length() -> None:
    enc = bytearray(Op(Opcode.RELU, out=1, a=0, M=1, N=32).encode())
    with pytest.raises(BadEncoding):
        Op.decode(bytes(enc[:63]))
    bad = bytearray(enc)
    bad[0] = 17  # opcodes are 1..16 (v6)
    with pytest.raises(UnknownOpcode):
        Op.decode(bytes(bad))
    bad = bytearray(enc)
    bad[62] = 1  # the first reserved byte (v7: 56..61 hold the slot ids' high halves)
    with pytest.raises(ReservedBytesSet):
        Op.decode(bytes(bad))


SLOT = st.integers(0, NO_SLOT)


@settings(max_examples=200, deadline=None)
@given(out=SLOT, a=SLOT, b=SLOT, seed=st.integers(0, 2**32 - 1))
def test_wide_slots_round_trip_with_low_halves_at_2_and_high_halves_at_56(
    out: int, a: int, b: int, seed: int
) -> None:
    """v7: a slot id is 32 bits, its low 16 at bytes 2..7 (out, a, b), its high 16 at 56..61;
    every other byte is the op's whatever its slots."""
    base = random_op(np.random.default_rng(seed), Opcode.ADD).op
    op = replace(base, out=out, a=a, b=b)
    enc = op.encode()
    assert Op.decode(enc) == op
    for off, s in ((2, out), (4, a), (6, b)):
        assert int.from_bytes(enc[off : off + 2], "big") == s & 0xFFFF
        assert int.from_bytes(enc[54 + off : 56 + off], "big") == s >> 16
    assert enc[62:] == bytes(2)
    assert enc[8:56] == base.encode()[8:56]


@pytest.mark.parametrize("slot", [-1, NO_SLOT + 1, 1 << 40])
def test_a_slot_beyond_32_bits_has_no_encoding(slot: int) -> None:
    with pytest.raises(BadEncoding):
        Op(Opcode.RELU, out=slot, a=0, M=1, N=32).encode()


def test_no_operand_is_the_full_32_bit_id() -> None:
    """v7: an op without b encodes 0xFFFFFFFF; v6's 0xFFFF (high half zero) is slot 65535."""
    enc = Op(Opcode.RELU, out=70000, a=69999, M=1, N=32).encode()
    assert enc[6:8] == enc[60:62] == b"\xff\xff"
    assert op_violation(Op(Opcode.RELU, out=70000, a=69999, M=1, N=32), 0, 70000) is None
    bad = op_violation(Op(Opcode.RELU, out=70000, a=69999, b=0xFFFF, M=1, N=32), 0, 70000)
    assert bad is not None and bad.error is FieldOutOfRange and bad.value == 0xFFFF


I8 = DType.INT8
I32 = DType.INT32


@pytest.mark.parametrize(
    "op,table,error",
    [
        (Op(Opcode.RELU, out=2, a=0, M=1, N=32), [TensorSpec(I8, 1, 32)], WrongOutputSlot),
        (Op(Opcode.RELU, out=1, a=1, M=1, N=32), [TensorSpec(I8, 1, 32)], SlotOutOfRange),
        (Op(Opcode.RELU, out=1, a=0, M=1, N=32), [TensorSpec(I32, 1, 32)], DTypeMismatch),
        (Op(Opcode.RELU, out=1, a=0, M=2, N=32), [TensorSpec(I8, 1, 32)], ShapeMismatch),
        (Op(Opcode.RELU, out=1, a=0, M=1, N=33), [TensorSpec(I8, 1, 33)], AlignmentError),
        (
            Op(Opcode.MATMUL, out=2, a=0, b=1, M=1, K=48, N=32),
            [TensorSpec(I8, 1, 48), TensorSpec(I8, 32, 48)],
            AlignmentError,
        ),
        (
            Op(Opcode.MATMUL, out=2, a=0, b=1, M=1, K=MAX_K // 32 * 32 + 32, N=32),
            [TensorSpec(I8, 1, MAX_K // 32 * 32 + 32), TensorSpec(I8, 32, MAX_K // 32 * 32 + 32)],
            OverflowRisk,
        ),
        (
            Op(Opcode.REQUANT, out=1, a=0, M=1, N=32, mult=1, shift=63, hi=1),
            [TensorSpec(I32, 1, 32)],
            FieldOutOfRange,
        ),
        (
            Op(Opcode.REQUANT, out=1, a=0, M=1, N=32, mult=1, shift=1, lo=5, hi=4),
            [TensorSpec(I32, 1, 32)],
            FieldOutOfRange,
        ),
        (
            Op(Opcode.REQUANT, out=1, a=0, M=1, N=32, mult=0, shift=1),
            [TensorSpec(I32, 1, 32)],
            FieldOutOfRange,
        ),
        (
            Op(Opcode.LUT, out=2, a=0, b=1, M=1, N=32, flags=1),
            [TensorSpec(I8, 1, 32), TensorSpec(I8, 1, 256)],
            FieldOutOfRange,
        ),
        (
            Op(Opcode.LUT, out=2, a=0, b=1, M=1, N=32),
            [TensorSpec(I8, 1, 32), TensorSpec(I8, 1, 224)],
            ShapeMismatch,
        ),
        (Op(Opcode.RELU, out=1, a=0, M=1, N=32, K=32), [TensorSpec(I8, 1, 32)], FieldOutOfRange),
        (
            Op(Opcode.IM2COL, out=1, a=0, M=5, N=288, B=1, H=2, W=2, C=32, KH=3, KW=3, S=1, P=1),
            [TensorSpec(I8, 4, 32)],
            ShapeMismatch,
        ),
        (
            Op(Opcode.IM2COL, out=1, a=0, M=4, N=144, B=1, H=2, W=2, C=16, KH=3, KW=3, S=1, P=1),
            [TensorSpec(I8, 2, 32)],
            AlignmentError,
        ),
        (
            Op(Opcode.RELU, out=1, a=0, M=1 << 27, N=32),
            [TensorSpec(I8, 1 << 27, 32)],
            SizeLimitExceeded,
        ),
    ],
)
def test_validation_names_the_problem(
    op: Op, table: list[TensorSpec], error: type[Exception]
) -> None:
    with pytest.raises(error):
        validate_op(op, 0, len(table), table)


def test_program_needs_ops_and_an_existing_output() -> None:
    x = InputSlot("x", TensorSpec(I8, 1, 32))
    with pytest.raises(SizeLimitExceeded):
        Program((x,), (), 0).validate()
    with pytest.raises(SlotOutOfRange):
        Program((x,), (Op(Opcode.RELU, out=1, a=0, M=1, N=32),), 5).validate()
