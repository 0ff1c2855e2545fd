"""The committed vectors in tests/vectors are exactly what the reference generates, and every
proof in them verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.program import vectors
from node.program.constants import DType
from node.program.hashing import sha256
from node.program.merkle import root_from_proof, verify_leaf
from node.program.ops import Op
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def test_committed_vectors_equal_regeneration() -> None:
    for name, text in vectors.build_all().items():
        assert (VECTORS / name).read_text() == text, (
            f"{name} is stale: run python -m node.program.vectors"
        )


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def test_merkle_vector_proofs_verify() -> None:
    data = json.loads((VECTORS / "merkle.json").read_text())
    for t in data["tensors"]:
        root = _b(t["root"])
        dt = DType.parse(t["dtype"])
        raw = _b(t["data_hex"])
        for p in t["proofs"]:
            leaf = _b(p["leaf_hex"])
            j = p["leaf_index"]
            expect = raw[j * dt.leaf_bytes : (j + 1) * dt.leaf_bytes] or bytes(dt.leaf_bytes)
            assert leaf == expect
            assert verify_leaf(leaf, j, [_b(s) for s in p["siblings"]], root)
    for s in data["states"]:
        slots = [_b(x) for x in s["slots"]]
        for p in s["proofs"]:
            i = p["slot"]
            node = slots[i] if i < len(slots) else bytes(32)
            assert root_from_proof(node, i, [_b(x) for x in p["siblings"]]) == _b(s["root"])
    for prog in data["programs"]:
        encs = [_b(e) for e in prog["ops"]]
        for p in prog["proofs"]:
            i = p["index"]
            node = sha256(encs[i]) if i < len(encs) else bytes(32)
            assert root_from_proof(node, i, [_b(x) for x in p["siblings"]]) == _b(prog["ops_root"])
        # v3: the input spec table and the program root over both halves
        specs = [TensorSpec(DType.parse(d), r, c) for d, r, c in prog["inputs"]]
        leaves = [_b(x) for x in prog["spec_leaves"]]
        assert [s.spec_leaf() for s in specs] == leaves
        for p in prog["spec_proofs"]:
            i = p["index"]
            node = sha256(leaves[i]) if i < len(leaves) else bytes(32)
            siblings = [_b(x) for x in p["siblings"]]
            assert root_from_proof(node, i, siblings) == _b(prog["input_spec_root"])
        program = Program(
            tuple(InputSlot(f"in{i}", s) for i, s in enumerate(specs)),
            tuple(Op.decode(e) for e in encs),
            len(specs) + len(encs) - 1,
        )
        program.validate()
        assert program.root == _b(prog["program_root"])
        assert sha256(_b(prog["ops_root"]) + _b(prog["input_spec_root"])) == program.root


@pytest.mark.parametrize("op", list(vectors.STEP_GENERATORS))
def test_step_vectors_have_hundreds_of_cases(op: str) -> None:
    data = json.loads((VECTORS / f"step_{op}.json").read_text())
    assert data["version"] == 1 and data["op"] == op
    assert len(data["cases"]) >= 300
