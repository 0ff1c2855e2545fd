"""The verifier's gas of one step of each v5 op at the largest shapes of issue 16 (sequence
2,048, width 4,096, MLP width 16,384, vocabulary 131,040 = MAX_K rounded to 32): the operand
proofs have the depth of those tensors (synthetic siblings: the step's cost depends on the
depth, not on the data), the leaves are real. `TensorStep.leafStep` / `chunkStep` by estimate,
printed for docs/benchmarks.md and bounded as a regression guard; what the game adds around the
verifier is measured in a whole dispute (tests/node/roles/test_transformer_disputes.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from node.program.constants import LEAF_ELEMS, MAX_K, DType, Flag, Opcode, ReduceKind, RowKind
from node.program.merkle import depth_for, root_from_proof
from node.program.ops import Op
from node.program.packing import pack
from node.program.reference import elementwise_leaf_indices, step_elementwise
from node.program.transformer_ref import gather_table_leaf, step_reduce
from node.program.validation import operand_expectations

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

T, D, HIDDEN = 2048, 4096, 16384
VOCAB = MAX_K // LEAF_ELEMS * LEAF_ELEMS
# the verifier's share of the 300k step (the game adds ~100-130k around it: slot proofs, op
# commitment, resolution)
VERIFIER_GUARD = 170_000
GAS: dict[str, int] = {}


def _proof(
    rng: np.random.Generator, leaf: bytes, index: int, numel: int, dtype: DType
) -> tuple[bytes, list[bytes]]:
    """A root and a sibling path of the depth of a tensor of `numel` elements."""
    depth = depth_for(numel // LEAF_ELEMS)
    sib = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)) for _ in range(depth)]
    return root_from_proof(hashlib.sha256(leaf).digest(), index, sib), sib


LEAF_OPS = {
    "gather (V = 131,040, N = 4,096, M = 2,048)": Op(Opcode.GATHER, out=2, a=0, b=1, M=T, K=VOCAB, N=D),
    "write rows (KV cache [2,048, 4,096], one row)": Op(Opcode.WRITE, out=2, a=0, b=1, M=T, K=1, N=D, pos=T - 1),
    "write columns (V^T cache [4,096, 2,048], one column)": Op(
        Opcode.WRITE, out=2, a=0, b=1, M=D, K=1, N=T, pos=T - 1, flags=Flag.COLUMNS),
    "rowop norm ([2,048, 4,096])": Op(Opcode.ROWOP, out=2, a=0, b=1, M=T, N=D, K=D, kind=RowKind.NORM,
                                      shift=5, lo=-128, hi=127),
    "rowop sub, masked ([2,048, 2,048])": Op(Opcode.ROWOP, out=2, a=0, b=1, M=T, N=T, kind=RowKind.SUB,
                                             lo=-128, hi=0, flags=Flag.MASK, pos=0, period=T),
    "rowop div ([2,048, 2,048])": Op(Opcode.ROWOP, out=2, a=0, b=1, M=T, N=T, kind=RowKind.DIV, shift=7,
                                     lo=0, hi=127),
    "mul ([2,048, 16,384])": Op(Opcode.MUL, out=2, a=0, b=1, M=T, N=HIDDEN),
}  # fmt: skip


# the same ops at the shapes of the dispute block (tests/node/roles/test_transformer_disputes.py):
# the whole step there minus these is what the game adds around the verifier
SMALL_LEAF_OPS = {
    "small gather": Op(Opcode.GATHER, out=2, a=0, b=1, M=32, K=64, N=64),
    "small write rows": Op(Opcode.WRITE, out=2, a=0, b=1, M=64, K=32, N=32, pos=32),
    "small write columns": Op(Opcode.WRITE, out=2, a=0, b=1, M=32, K=32, N=64, pos=32,
                              flags=Flag.COLUMNS),
    "small rowop norm": Op(Opcode.ROWOP, out=2, a=0, b=1, M=32, N=32, K=32, kind=RowKind.NORM,
                           shift=5, lo=-128, hi=127),
    "small rowop sub": Op(Opcode.ROWOP, out=2, a=0, b=1, M=32, N=64, kind=RowKind.SUB, lo=-128,
                          hi=0, flags=Flag.MASK, pos=0, period=32),
    "small rowop div": Op(Opcode.ROWOP, out=2, a=0, b=1, M=32, N=64, kind=RowKind.DIV, shift=7,
                          lo=0, hi=127),
    "small mul": Op(Opcode.MUL, out=2, a=0, b=1, M=32, N=32),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LEAF_OPS) + list(SMALL_LEAF_OPS))
def test_leaf_step_gas_at_the_largest_shapes(step, anyone, name: str) -> None:  # noqa: ANN001
    op = {**LEAF_OPS, **SMALL_LEAF_OPS}[name]
    rng = np.random.default_rng(len(name))
    (adt, an), (bdt, bn) = ((o.dtype, o.numel) for o in operand_expectations(op))
    j = op.M * op.N // LEAF_ELEMS - 1  # the last row: the deepest mask limit, the last block
    b_vals = (
        rng.integers(-(2**31), 2**31, 32) if bdt == DType.INT32 else rng.integers(-128, 128, 32)
    )
    if op.opcode == Opcode.ROWOP:
        b_vals[0], b_vals[1] = 1000, 200_000
    b_leaf = pack(b_vals, bdt)
    if op.opcode == Opcode.GATHER:
        ai, bi = gather_table_leaf(op, j, b_leaf), j * LEAF_ELEMS // op.N
    else:
        ai, bi = elementwise_leaf_indices(op, j)
    a_leaf = pack(rng.integers(-128, 128, 32), adt)
    a_root, a_proof = _proof(rng, a_leaf, ai, an, adt)
    b_root, b_proof = _proof(rng, b_leaf, bi, bn, bdt)
    d = (op.encode(), a_root, b_root, a_leaf, a_proof, b_leaf, b_proof, bytes(32), [], [])
    want = step_elementwise(op, j, op.M * op.N // LEAF_ELEMS, a_leaf, b_leaf)
    assert bytes(step.leafStep(d, j)) == hashlib.sha256(want).digest()
    gas = step.leafStep.estimate_gas_cost(d, j, sender=anyone)
    GAS[name] = gas
    print(f"\nverifier gas {name}: {gas:,} (proof depths {len(a_proof)}, {len(b_proof)})")
    assert gas <= VERIFIER_GUARD, (name, gas)


REDUCE_OPS = {
    "reduce argmax, int32 logits ([2,048, 131,040])": Op(
        Opcode.REDUCE, out=1, a=0, M=T, K=VOCAB, N=32, kind=ReduceKind.ARGMAX, flags=Flag.INT32),
    "reduce max, masked ([2,048, 2,048])": Op(
        Opcode.REDUCE, out=1, a=0, M=T, K=T, N=32, kind=ReduceKind.MAX, flags=Flag.MASK, pos=0,
        period=T),
    "reduce moments ([2,048, 4,096], sum of squares)": Op(
        Opcode.REDUCE, out=1, a=0, M=T, K=D, N=32, kind=ReduceKind.MOMENTS),
}  # fmt: skip


SMALL_REDUCE_OPS = {
    "small reduce argmax": Op(Opcode.REDUCE, out=1, a=0, M=32, K=64, N=32, kind=ReduceKind.ARGMAX,
                              flags=Flag.INT32),
    "small reduce max": Op(Opcode.REDUCE, out=1, a=0, M=32, K=64, N=32, kind=ReduceKind.MAX,
                           flags=Flag.MASK, pos=0, period=32),
    "small reduce moments": Op(Opcode.REDUCE, out=1, a=0, M=32, K=64, N=32,
                               kind=ReduceKind.MOMENTS),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REDUCE_OPS) + list(SMALL_REDUCE_OPS))
def test_reduce_chunk_gas_at_the_largest_shapes(step, anyone, name: str) -> None:  # noqa: ANN001
    op = {**REDUCE_OPS, **SMALL_REDUCE_OPS}[name]
    rng = np.random.default_rng(len(name))
    dt = DType.INT32 if op.has(Flag.INT32) else DType.INT8
    row, elem, chunk = op.M - 1, 1, op.K // LEAF_ELEMS - 1  # the last chunk: fin() too
    vals = rng.integers(-(2**31), 2**31, 32) if dt == DType.INT32 else rng.integers(-128, 128, 32)
    leaf = pack(vals, dt)
    li = row * (op.K // LEAF_ELEMS) + chunk
    root, proof = _proof(rng, leaf, li, op.M * op.K, dt)
    prev = 12345 * 2**32 + 77 if op.kind == ReduceKind.ARGMAX else 100
    d = (op.encode(), root, bytes(32), leaf, proof, b"", [], bytes(32), [], [])
    assert step.chunkStep(d, row, elem, chunk, prev) == step_reduce(
        op, row, elem, chunk, leaf, prev
    )
    gas = step.chunkStep.estimate_gas_cost(d, row, elem, chunk, prev, sender=anyone)
    GAS[name] = gas
    print(f"\nverifier gas {name}: {gas:,} (proof depth {len(proof)})")
    assert gas <= VERIFIER_GUARD, (name, gas)
