"""TensorStep against the Python reference's vectors of the v5 transformer ops (protocol.md
§4, §5, §7): gather, write, rowop, mul (one output leaf) and reduce (one chunk); then the full
steps with Merkle proofs on small tensors, and what makes them revert."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ape
import numpy as np
import pytest
from conftest import FUZZ

from node.program.constants import LEAF_ELEMS, DType, Flag, Opcode, ReduceKind, RowKind
from node.program.merkle import tensor_tree
from node.program.ops import Op
from node.program.packing import pack
from node.program.reference import elementwise_leaf_indices, run_op, step_elementwise
from node.program.transformer_ref import gather_table_leaf, reduce_states

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LIMIT = 10**9 if FUZZ else 120


def _hex(s: str | None) -> bytes:
    return b"" if s is None else bytes.fromhex(s[2:])


def _cases(op: str) -> list[dict]:
    data = json.loads((VECTORS / f"step_{op}.json").read_text())
    assert data["version"] == 1 and data["op"] == op
    cases = data["cases"]
    if len(cases) > LIMIT:  # the boundary cases (first) and an even sample of the rest
        stride = len(cases) // LIMIT + 1
        cases = cases[:20] + cases[20::stride]
    return cases


@pytest.mark.parametrize("op", ["gather", "write", "rowop", "mul"])
def test_v5_leaf_vectors(step, op):  # noqa: ANN001
    for c in _cases(op):
        enc = _hex(c["enc"])
        j = c["leaf_index"]
        out = bytes(step.computeLeaf(enc, j, _hex(c["a_leaf"]), _hex(c["b_leaf"])))
        assert out == _hex(c["expected"]), c
        if j < c["n_leaves"]:
            _use_a, _a_idx, use_b, b_idx = step.leafOperands(enc, j)
            assert use_b == (c["b_leaf_index"] is not None), c
            if use_b:
                assert b_idx == c["b_leaf_index"], c


def test_reduce_vectors(step):  # noqa: ANN001
    for c in _cases("reduce"):
        got = step.computeReduceChunk(
            _hex(c["enc"]), c["row"], c["elem"], c["chunk"], _hex(c["a_leaf"]), int(c["prev"])
        )
        assert got == int(c["next"]), c


# ------------------------------------------------------------------ full steps with proofs


def _tree(values: np.ndarray, dtype: DType):  # noqa: ANN202
    return tensor_tree(pack(values, dtype), dtype)


def _step_data(
    op: Op, a_root: bytes, b_root: bytes, a_leaf: bytes, a_proof, b_leaf: bytes, b_proof
) -> tuple:  # noqa: ANN001
    return (
        op.encode(),
        a_root,
        b_root,
        a_leaf,
        list(a_proof),
        b_leaf,
        list(b_proof),
        bytes(32),
        [],
        [],
    )


def _leaf_step(step, op: Op, a: np.ndarray, b: np.ndarray, adt: DType, bdt: DType, j: int) -> tuple:  # noqa: ANN001
    """StepData of output leaf j with the operand leaves the step reads and their proofs."""
    ta, tb = _tree(a, adt), _tree(b, bdt)
    pa, pb = pack(a, adt), pack(b, bdt)
    la, lb = adt.leaf_bytes, bdt.leaf_bytes
    if op.opcode == Opcode.GATHER:
        bi = j * LEAF_ELEMS // op.N
        ai = gather_table_leaf(op, j, pb[lb * bi : lb * bi + lb])
    else:
        ai, bi = elementwise_leaf_indices(op, j)
    a_leaf, a_proof = pa[la * ai : la * ai + la], ta.proof(ai)
    b_leaf, b_proof = (b"", []) if bi is None else (pb[lb * bi : lb * bi + lb], tb.proof(bi))
    d = _step_data(op, ta.root, tb.root, a_leaf, a_proof, b_leaf, b_proof)
    want = step_elementwise(op, j, op.M * op.N // LEAF_ELEMS, a_leaf, b_leaf or None)
    return d, want


def _ops(rng: np.random.Generator) -> list[tuple[Op, np.ndarray, np.ndarray, DType, DType]]:
    i8, i32 = DType.INT8, DType.INT32
    x = rng.integers(-128, 128, 4 * 64)
    st = rng.integers(-(2**31), 2**31, 4 * 32)
    st[::32] = np.abs(x.reshape(4, 64)).sum(axis=1)
    ids = rng.integers(-(2**31), 2**31, 4 * 32)
    return [
        (Op(Opcode.GATHER, out=2, a=0, b=1, M=4, K=5, N=64), rng.integers(-128, 128, 5 * 64), ids, i8, i32),
        (Op(Opcode.WRITE, out=2, a=0, b=1, M=4, K=1, N=64, pos=2), x, rng.integers(-128, 128, 64), i8, i8),
        (Op(Opcode.WRITE, out=2, a=0, b=1, M=4, K=3, N=64, pos=30, flags=Flag.COLUMNS), x,
         rng.integers(-128, 128, 4 * 32), i8, i8),
        (Op(Opcode.ROWOP, out=2, a=0, b=1, M=4, N=64, kind=RowKind.DIV, shift=7, lo=0, hi=127), x, st, i8, i32),
        (Op(Opcode.ROWOP, out=2, a=0, b=1, M=4, N=64, K=64, kind=RowKind.NORM, shift=5, lo=-128, hi=127,
            flags=Flag.MASK, pos=40, period=2), x, st, i8, i32),
        (Op(Opcode.MUL, out=2, a=0, b=1, M=4, N=64, flags=Flag.BROADCAST), x, rng.integers(-128, 128, 64), i8, i8),
    ]  # fmt: skip


def test_v5_leaf_steps_with_proofs(step):  # noqa: ANN001
    """leafStep reads the leaves the spec names, under their proofs, and gives the reference's
    leaf (which is the whole-tensor output's); a changed leaf reverts BadProof."""
    rng = np.random.default_rng(5)
    for op, a, b, adt, bdt in _ops(rng):
        whole = pack(run_op(op, a, b), op.out_spec.dtype)
        size = op.out_spec.dtype.leaf_bytes
        for j in range(op.M * op.N // LEAF_ELEMS):
            d, want = _leaf_step(step, op, a, b, adt, bdt, j)
            assert want == whole[size * j : size * j + size]
            assert bytes(step.leafStep(d, j)) == hashlib.sha256(want).digest(), (op, j)
        bad = list(d)
        bad[3] = bytes([d[3][0] ^ 1]) + d[3][1:]
        with ape.reverts(step.BadProof):
            step.leafStep(tuple(bad), j)


def test_gather_reads_the_table_row_its_id_names(step):  # noqa: ANN001
    """A table leaf of another row, with a valid proof, does not pass: the index follows from
    the proven id (id mod V, here -1 mod 5 = 4)."""
    op = Op(Opcode.GATHER, out=2, a=0, b=1, M=1, K=5, N=32)
    table = np.arange(5 * 32) % 256 - 128
    ids = np.full(32, -1)
    d, want = _leaf_step(step, op, table, ids, DType.INT8, DType.INT32, 0)
    assert want == pack(table[4 * 32 : 5 * 32], DType.INT8)
    assert bytes(step.leafStep(d, 0)) == hashlib.sha256(want).digest()
    tt = _tree(table, DType.INT8)
    bad = list(d)
    bad[3], bad[4] = pack(table[:32], DType.INT8), tt.proof(0)
    with ape.reverts(step.BadProof):
        step.leafStep(tuple(bad), 0)


@pytest.mark.parametrize("kind", list(ReduceKind))
def test_reduce_chunk_steps_with_proofs(step, kind):  # noqa: ANN001
    """chunkStep of every chunk of some elements equals the reference's states (the element at
    the last chunk), with the row's leaf proven against a's root."""
    rng = np.random.default_rng(int(kind))
    i32 = kind != ReduceKind.MOMENTS
    m, k = 3, 96
    flags = (Flag.INT32 if i32 else 0) | Flag.MASK
    op = Op(
        Opcode.REDUCE, out=1, a=0, M=m, K=k, N=32, kind=int(kind), flags=flags, pos=40, period=2
    )
    dt = DType.INT32 if i32 else DType.INT8
    x = rng.integers(-(2**31), 2**31, m * k) if i32 else rng.integers(-128, 128, m * k)
    tree, px = _tree(x, dt), pack(x, dt)
    size = dt.leaf_bytes
    for row in range(m):
        for elem in (0, 1, 2):
            states = reduce_states(op, [int(v) for v in x.reshape(m, k)[row]], row, elem)
            for c in range(k // 32):
                li = row * (k // 32) + c
                d = _step_data(
                    op,
                    tree.root,
                    bytes(32),
                    px[size * li : size * li + size],
                    tree.proof(li),
                    b"",
                    [],
                )
                assert step.chunkStep(d, row, elem, c, states[c]) == states[c + 1], (row, elem, c)
    assert int(run_op(op, x, None)[m - 1, 2]) == states[-1]
    bad = list(d)
    bad[4] = tree.proof(0)  # the proof of another leaf
    with ape.reverts(step.BadProof):
        step.chunkStep(tuple(bad), m - 1, 2, k // 32 - 1, states[-2])


def test_v5_step_errors(step):  # noqa: ANN001
    """A reduce is not an elementwise step (its leaves go to the reduction level); a write
    leaf outside the block takes no b leaf; a mask's period 0 never reaches a step (rule 15)."""
    red = Op(Opcode.REDUCE, out=1, a=0, M=1, K=64, N=32, kind=ReduceKind.MAX).encode()
    with ape.reverts(step.NotElementwise, opcode=12, leafIndex=0):
        step.computeLeaf(red, 0, bytes(32), b"")
    mul = Op(Opcode.MUL, out=2, a=0, b=1, M=1, N=32).encode()
    with ape.reverts(step.NotReduction, opcode=14):
        step.computeReduceChunk(mul, 0, 0, 0, bytes(32), 0)
    wr = Op(Opcode.WRITE, out=2, a=0, b=1, M=2, K=1, N=32, pos=1).encode()
    assert bytes(step.computeLeaf(wr, 0, bytes(range(32)), b"")) == bytes(range(32))
    with ape.reverts(step.OperandLength, which=2, have=32, want=0):
        step.computeLeaf(wr, 0, bytes(32), bytes(32))
    no_period = Op(Opcode.ROWOP, out=2, a=0, b=1, M=1, N=32, kind=RowKind.SUB, flags=Flag.MASK,
                   pos=3).encode()  # fmt: skip
    with ape.reverts(step.BadOpField, field=52, value=0):
        step.computeLeaf(no_period, 0, bytes(32), bytes(128))
