"""OpCodec.validate (what DisputeGame.openOp runs) against tests/vectors/validation.json: every
invalid op reverts with the vector's custom error and code, the very rule Python's validator
names (tests/node/test_validation_vectors.py); ops that break a table rule (v4) revert at the
opening (OpCodecProbe.checkOpening, openOp's check once its proofs hold); per-channel requant steps with multipliers <= 0 are computed as the
Python reference computes them (F3: every step of every accepted op is provable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ape
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.program.constants import NO_SLOT, Opcode
from node.program.ops import Op
from node.program.validation import op_violation

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "validation.json").read_text()
)


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


@pytest.fixture(scope="module")
def codec(project, deployer):  # noqa: ANN001
    return deployer.deploy(project.OpCodecProbe)


def _call(codec, case: dict[str, Any]) -> int:  # noqa: ANN001
    return codec.validate(_b(case["enc"]), case["n_inputs"], case["index"])


def test_invalid_ops_revert_with_the_vector_error(codec):  # noqa: ANN001
    for case in VECTORS["invalid"]:
        args = {k: int(v) for k, v in case["args"].items()}
        with ape.reverts(getattr(codec, case["error"]), **args):
            _call(codec, case)


def _opening(codec, case: dict[str, Any]) -> int:  # noqa: ANN001
    src = case["sources"]
    return codec.checkOpening(
        _b(case["enc"]), case["n_inputs"], case["index"], _b(src["a"]), _b(src.get("b", "0x"))
    )


def test_valid_ops_pass_both_kinds_of_rules(codec):  # noqa: ANN001
    for case in VECTORS["valid"]:
        assert _call(codec, case) == _b(case["enc"])[0], case["name"]
        assert _opening(codec, case) == _b(case["enc"])[0], case["name"]


def test_table_rule_ops_revert_at_the_opening_with_the_vector_error(codec):  # noqa: ANN001
    """v4: the table rules are the contract's too (an input's spec leaf, an operand's dtype
    and size): the same first rule as Python names (tests/node/test_validation_vectors.py)."""
    for case in VECTORS["table"]:
        assert _call(codec, case) == _b(case["enc"])[0], case["name"]  # op rules hold
        args = {k: int(v) for k, v in case["args"].items()}
        with ape.reverts(getattr(codec, case["error"]), **args):
            _opening(codec, case)


def test_requant_steps_with_nonpositive_multipliers(step):  # noqa: ANN001
    for c in VECTORS["requant_steps"]:
        out = step.computeLeaf(_b(c["enc"]), c["leaf_index"], _b(c["a_leaf"]), _b(c["b_leaf"]))
        assert bytes(out) == _b(c["expected"]), c


SLOTS = st.integers(0, NO_SLOT)


@settings(max_examples=40, deadline=None)
@given(out=SLOTS, a=SLOTS, b=SLOTS, reads_b=st.booleans())
def test_wide_slot_ids_decode_as_python_encodes_them(codec, out, a, b, reads_b):  # noqa: ANN001
    """v7: OpCodec.decode joins each slot id's low half (bytes 2..7) and high half (56..61) as
    Op.encode splits it, for any 32-bit id; validate accepts the op exactly when Python does."""
    op = (
        Op(Opcode.ADD, out=out, a=a, b=b, M=1, N=32)
        if reads_b
        else Op(Opcode.RELU, out=out, a=a, b=b, M=1, N=32)
    )
    enc = op.encode()
    assert tuple(codec.slots(enc)) == (out, a, b, reads_b)
    index = out % 4
    n_inputs = out - index
    bad = op_violation(op, index, n_inputs)
    if bad is None:
        assert codec.validate(enc, n_inputs, index) == op.opcode
    else:
        with ape.reverts(codec.BadOpField, field=bad.field, value=bad.value):
            codec.validate(enc, n_inputs, index)
