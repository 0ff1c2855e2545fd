"""The trace provider answers every dispute query consistently with the executor's claim, with
proofs that verify, and gives the same answers under a tiny memory budget (recomputation)."""

from __future__ import annotations

import numpy as np
import pytest

from node.compute.config import ComputeConfig
from node.compute.executor import Executor
from node.program.constants import LEAF_ELEMS, DType, Opcode
from node.program.hashing import sha256
from node.program.merkle import root_from_proof, verify_leaf, verify_node
from node.program.ops import Op
from node.program.program import InputSlot, Program
from node.program.reference import step_elementwise
from node.program.tensors import TensorSpec
from node.trace.lazy import TraceProvider, TraceQueryError


def _program() -> tuple[Program, dict[int, np.ndarray]]:
    """A small conv-like chain touching every op: im2col, matmul, add, requant, lut, relu."""
    rng = np.random.default_rng(7)
    b, h, w, c = 2, 4, 4, 32
    n = 64
    k = 9 * c
    inputs = (
        InputSlot("x", TensorSpec(DType.INT8, b * h * w, c)),
        InputSlot("w", TensorSpec(DType.INT8, n, k)),
        InputSlot("bias", TensorSpec(DType.INT32, 1, n)),
        InputSlot("mult", TensorSpec(DType.INT32, 1, n)),
        InputSlot("table", TensorSpec(DType.INT8, 1, 256)),
    )
    m = b * 2 * 2
    ops = (
        Op(Opcode.IM2COL, out=5, a=0, M=m, N=k, B=b, H=h, W=w, C=c, KH=3, KW=3, S=2, P=1, padv=-3),
        Op(Opcode.MATMUL, out=6, a=5, b=1, M=m, K=k, N=n),
        Op(Opcode.ADD, out=7, a=6, b=2, M=m, N=n, flags=2),
        Op(Opcode.REQUANT, out=8, a=7, b=3, M=m, N=n, flags=4, shift=20, lo=-128, hi=127),
        Op(Opcode.LUT, out=9, a=8, b=4, M=m, N=n),
        Op(Opcode.RELU, out=10, a=9, M=m, N=n),
    )
    vals = {
        0: rng.integers(-128, 128, (b * h * w, c)).astype(np.int8),
        1: rng.integers(-128, 128, (n, k)).astype(np.int8),
        2: rng.integers(-(10**5), 10**5, (1, n)).astype(np.int32),
        3: rng.integers(1, 2**12, (1, n)).astype(np.int32),
        4: rng.integers(-128, 128, (1, 256)).astype(np.int8),
    }
    return Program(inputs, ops, 10), vals


@pytest.fixture(scope="module", params=[1 << 30, 4096], ids=["roomy", "tiny-budget"])
def traced(request: pytest.FixtureRequest) -> tuple[Program, TraceProvider, bytes]:
    prog, vals = _program()
    res = Executor(prog, vals, ComputeConfig(device="cpu")).run([vals[i] for i in range(5)])
    assert res.state_root is not None
    tp = TraceProvider(prog, vals, ComputeConfig(device="cpu", memory_budget=request.param))
    return prog, tp, res.state_root


def test_final_state_root_equals_the_executor_claim(
    traced: tuple[Program, TraceProvider, bytes],
) -> None:
    prog, tp, claim = traced
    assert tp.state_root(len(prog.ops)) == claim


def test_each_op_changes_one_slot_from_empty_to_its_root(
    traced: tuple[Program, TraceProvider, bytes],
) -> None:
    prog, tp, _ = traced
    for i in range(len(prog.ops)):
        slot = prog.n_inputs + i
        proof_before = tp.state_proof(i, slot)
        assert proof_before == tp.state_proof(i + 1, slot)  # same siblings: only this slot changed
        assert root_from_proof(bytes(32), slot, proof_before) == tp.state_root(i)
        assert root_from_proof(tp.op_output_root(i), slot, proof_before) == tp.state_root(i + 1)
        enc, path = tp.program_proof(i)
        assert verify_node(sha256(enc), i, path, prog.ops_tree().root)  # v4: the ops half


def test_children_hash_up_to_their_node(traced: tuple[Program, TraceProvider, bytes]) -> None:
    prog, tp, _ = traced
    for i in range(len(prog.ops)):
        slot = prog.n_inputs + i
        tree = tp.tree(slot)
        level, index = tree.depth, 0
        while level >= 2:
            kids = tp.children(slot, level, index, 2)
            pairs = [sha256(kids[0] + kids[1]), sha256(kids[2] + kids[3])]
            assert sha256(pairs[0] + pairs[1]) == tp.node(slot, level, index)
            index = index * 4 + 3 if index % 2 else index * 4 + 1
            level -= 2


def test_partial_sums_end_at_the_element(traced: tuple[Program, TraceProvider, bytes]) -> None:
    prog, tp, _ = traced
    out = tp.values(prog.n_inputs + 1).reshape(-1)
    for j, e in [(0, 0), (1, 31), (5, 7)]:
        ps = tp.partial_sums(1, j, e)
        assert ps[0] == 0 and ps[-1] == out[j * LEAF_ELEMS + e]
        assert len(ps) == 9 * 32 // LEAF_ELEMS + 1


def test_step_witnesses_verify_and_give_the_output(
    traced: tuple[Program, TraceProvider, bytes],
) -> None:
    prog, tp, _ = traced
    for i, op in enumerate(prog.ops):
        slot = prog.n_inputs + i
        n_leaves = op.out_spec.n_leaves
        for j in sorted({0, 1, n_leaves - 1}):
            if op.opcode == Opcode.MATMUL:
                for c in (0, 4, 8):
                    sw = tp.step_witness(i, j, elem=3, chunk=c)
                    assert sw.a and sw.b and sw.prev is not None
                    for lw in (sw.a, sw.b):
                        assert verify_leaf(lw.leaf, lw.leaf_index, lw.siblings, tp.root(lw.slot))
                    assert sw.next == tp.partial_sums(i, j, 3)[c + 1]
                continue
            sw = tp.step_witness(i, j)
            for lw in (sw.a, sw.b):
                if lw is not None and lw.siblings:
                    assert verify_leaf(lw.leaf, lw.leaf_index, lw.siblings, tp.root(lw.slot))
            assert sw.expected_leaf == tp.leaf(slot, j)
            assert sw.expected_leaf == step_elementwise(
                op, j, n_leaves, sw.a.leaf if sw.a else None, sw.b.leaf if sw.b else None
            )


def test_queries_outside_the_program_raise_named_errors(
    traced: tuple[Program, TraceProvider, bytes],
) -> None:
    prog, tp, _ = traced
    with pytest.raises(TraceQueryError):
        tp.state_root(len(prog.ops) + 1)
    with pytest.raises(TraceQueryError):
        tp.partial_sums(0, 0, 0)  # op 0 is im2col
    with pytest.raises(TraceQueryError):
        tp.children(prog.n_inputs, 0, 0, 1)
