"""Python validation against tests/vectors/validation.json (protocol.md section 4, Validation):
every invalid op is rejected with the vector's Python error and names the contract's error and
code (tests/contracts/test_opcodec_validation.py checks OpCodec against the same file);
table-rule cases (v4) name the contract's BadInputSpec / OperandMismatch; valid ops pass; per-channel requant with multipliers <= 0
(F3) is defined, the same in the step reference, the whole-tensor reference and the executor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from node.compute import kernels
from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.constants import MAX_K, DType, Flag, Opcode
from node.program.errors import ProgramError
from node.program.ops import Op, requant_op
from node.program.packing import unpack
from node.program.program import InputSlot, Program
from node.program.reference import run_op, step_elementwise
from node.program.tensors import TensorSpec
from node.program.validation import (
    FIELD_OFFSET,
    encoding_violation,
    opening_violation,
    validate_op,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "validation.json").read_text()
)
FILLER = TensorSpec(DType.INT8, 1, 32)


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def _table(case: dict[str, Any], op: Op | None) -> list[TensorSpec]:
    table = [FILLER] * (case["n_inputs"] + case["index"])
    for name, (dt, rows, cols) in case.get("operands", {}).items():
        assert op is not None
        table[getattr(op, name)] = TensorSpec(DType.parse(dt), rows, cols)
    return table


def _python_error(case: dict[str, Any]) -> str | None:
    """What a node does with the encoding: decode, then validate against the table."""
    try:
        op = Op.decode(_b(case["enc"]))
        validate_op(op, case["index"], case["n_inputs"], _table(case, op))
    except ProgramError as exc:
        return type(exc).__name__
    return None


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def test_the_file_has_every_section() -> None:
    assert VECTORS["version"] == 2
    assert len(VECTORS["invalid"]) >= 300 and len(VECTORS["requant_steps"]) >= 40
    assert VECTORS["valid"] and len(VECTORS["table"]) >= 100


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=_ids(VECTORS["invalid"]))
def test_invalid_op_is_rejected_with_the_vector_error(case: dict[str, Any]) -> None:
    assert _python_error(case) == case["python"]
    v = encoding_violation(_b(case["enc"]), case["index"], case["n_inputs"])
    assert v is not None
    assert (v.error.__name__, v.chain_error) == (case["python"], case["error"])
    assert v.chain_args == {k: int(x) for k, x in case["args"].items()}


def test_every_op_rule_has_a_named_vector() -> None:
    named = [c for c in VECTORS["invalid"] if not c["name"].startswith("random")]
    fields = {c["args"]["field"] for c in named if c["error"] == "BadOpField"}
    assert fields == set(FIELD_OFFSET.values())
    assert any(c["error"] == "BadOpLength" for c in named)
    # every (Python error, field) pair the rules can produce appears by name
    pairs = {(c["python"], c["args"].get("field")) for c in named}
    assert {
        ("WrongOutputSlot", 2), ("SizeLimitExceeded", 2), ("SlotOutOfRange", 4),
        ("SlotOutOfRange", 6), ("FieldOutOfRange", 6), ("ShapeMismatch", 8),
        ("SizeLimitExceeded", 8), ("ShapeMismatch", 16), ("AlignmentError", 16),
        ("AlignmentError", 12), ("OverflowRisk", 12), ("FieldOutOfRange", 12),
        ("AlignmentError", 36), ("ShapeMismatch", 38), ("ShapeMismatch", 39),
        ("UnknownOpcode", 0), ("ReservedBytesSet", 62), ("BadEncoding", None),
        ("FieldOutOfRange", 43), ("SizeLimitExceeded", 12),
        # v5: kind, pos, period (rule 15), a reduce's N, a rowop's shift and zp
        ("FieldOutOfRange", 47), ("FieldOutOfRange", 48), ("FieldOutOfRange", 52),
        ("FieldOutOfRange", 24), ("FieldOutOfRange", 25),
    } <= pairs  # fmt: skip
    names = {c["name"] for c in named}
    assert {
        "im2col H = 0",
        "im2col W = 0",
        "im2col H = W = 0 with padding (the kernel fits)",
    } <= names


def _sources(case: dict[str, Any]) -> dict[int, bytes]:
    op = Op.decode(_b(case["enc"]))
    return {getattr(op, k): _b(v) for k, v in case["sources"].items()}


@pytest.mark.parametrize("case", VECTORS["table"], ids=_ids(VECTORS["table"]))
def test_table_rule_is_named_as_the_contract_names_it(case: dict[str, Any]) -> None:
    """v4: the op rules hold; the first table rule broken (T1 an input's spec leaf, T2 an
    operand's dtype then size) is the vector's, on both sides (test_opcodec_validation)."""
    assert encoding_violation(_b(case["enc"]), case["index"], case["n_inputs"]) is None
    v = opening_violation(_b(case["enc"]), case["index"], case["n_inputs"], _sources(case))
    assert v is not None
    assert (v.error.__name__, v.chain_error) == (case["python"], case["error"])
    assert v.chain_args == {k: int(x) for k, x in case["args"].items()}


def test_every_table_rule_has_a_named_vector() -> None:
    named = [c for c in VECTORS["table"] if not c["name"].startswith("random")]
    pairs = {(c["python"], c["error"], c["args"].get("field")) for c in named}
    assert {
        ("BadEncoding", "BadInputSpec", 9), ("UnknownDType", "BadInputSpec", 0),
        ("ShapeMismatch", "BadInputSpec", 1), ("ShapeMismatch", "BadInputSpec", 5),
        ("AlignmentError", "BadInputSpec", 5), ("SizeLimitExceeded", "BadInputSpec", 1),
        ("DTypeMismatch", "OperandMismatch", None), ("ShapeMismatch", "OperandMismatch", None),
    } <= pairs  # fmt: skip
    # operands read from an op's output (its producing op's out spec), a and b both named
    assert any(c["args"].get("slot", 0) >= c["n_inputs"] for c in named)
    assert {c["args"].get("operand") for c in named} >= {1, 2}


@pytest.mark.parametrize("case", VECTORS["valid"], ids=_ids(VECTORS["valid"]))
def test_valid_op_passes(case: dict[str, Any]) -> None:
    assert encoding_violation(_b(case["enc"]), case["index"], case["n_inputs"]) is None
    assert _python_error(case) is None
    v = opening_violation(_b(case["enc"]), case["index"], case["n_inputs"], _sources(case))
    assert v is None


def test_validate_op_and_violation_agree_on_ops_built_in_python() -> None:
    # Python-built ops may hold values no 64-byte encoding can: still one named error
    op = Op(Opcode.MATMUL, out=2, a=0, b=1, M=1, K=(MAX_K // 32 + 1) * 32, N=32)
    v = encoding_violation(op.encode(), 0, 2)
    assert v is not None and v.error.__name__ == "OverflowRisk"
    big = Op(Opcode.RELU, out=1, a=0, M=2**32, N=32)
    with pytest.raises(ProgramError, match="too large"):
        validate_op(big, 0, 1, [FILLER])


# ---- F3: per-channel requant with multipliers <= 0 is defined -------------------------------


@pytest.mark.parametrize("i", range(len(VECTORS["requant_steps"])))
def test_requant_step_with_nonpositive_multipliers(i: int) -> None:
    c = VECTORS["requant_steps"][i]
    op = Op.decode(_b(c["enc"]))
    assert op.has(Flag.REQUANT_PER_CHANNEL)
    a, b = _b(c["a_leaf"]), _b(c["b_leaf"])
    assert (unpack(b, DType.INT32) <= 0).any()
    assert step_elementwise(op, c["leaf_index"], c["n_leaves"], a, b) == _b(c["expected"])
    # the whole-tensor reference and the executor's kernel give the same leaf
    x = unpack(a, DType.INT32).reshape(1, 32)
    m = unpack(b, DType.INT32)
    one = Op(Opcode.REQUANT, out=2, a=0, b=1, M=1, N=32, flags=op.flags, shift=op.shift,
             zp=op.zp, lo=op.lo, hi=op.hi)  # fmt: skip
    want = unpack(_b(c["expected"]), DType.INT8)
    assert (run_op(one, x, m).reshape(-1) == want).all()
    got = kernels.requant(
        torch.from_numpy(x.astype(np.int32)), torch.from_numpy(m.astype(np.int32)), one
    )
    assert (got.reshape(-1).numpy().astype(np.int64) == want).all()


def test_program_with_computed_multipliers_validates_and_executes_as_the_reference() -> None:
    # op 0 adds two int32 inputs into the multipliers (zero and negative entries included),
    # op 1 requantizes per channel with them: valid, and the executor equals the reference
    rng = np.random.default_rng(11)
    n = 64
    x = rng.integers(-(2**31), 2**31, (3, n)).astype(np.int32)
    m1 = rng.integers(-(2**20), 2**20, (1, n)).astype(np.int32)
    m2 = -m1.copy()
    m2[0, ::3] += rng.integers(-(2**20), 2**20, (1, (n + 2) // 3)).astype(np.int32)[0]
    ops = (
        Op(Opcode.ADD, out=3, a=1, b=2, M=1, N=n),
        requant_op(4, 0, M=3, N=n, shift=20, mults=3, zp=-2, lo=-120, hi=110),
    )
    specs = [
        TensorSpec(DType.INT32, 3, n),
        TensorSpec(DType.INT32, 1, n),
        TensorSpec(DType.INT32, 1, n),
    ]
    prog = Program(tuple(InputSlot(f"in{i}", s) for i, s in enumerate(specs)), ops, 4)
    prog.validate()
    mults = run_op(ops[0], m1, m2)
    assert (mults == 0).any() and (mults < 0).any()
    want = run_op(ops[1], x, mults)
    res = Executor(prog, {}, ComputeConfig(device="cpu")).run([x, m1, m2], commit=Commit.STATE)
    assert (res.output.astype(np.int64) == want).all()
