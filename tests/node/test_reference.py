"""The one-step reference agrees with the whole-tensor reference on every leaf and chunk."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from node.program.constants import LEAF_ELEMS, Opcode
from node.program.merkle import depth_for
from node.program.packing import leaf, pack
from node.program.reference import (
    elementwise_leaf_indices,
    matmul_leaf_indices,
    run_op,
    step_elementwise,
    step_matmul,
)
from node.program.samples import random_op

ELEMENTWISE = [Opcode.ADD, Opcode.REQUANT, Opcode.RELU, Opcode.LUT, Opcode.IM2COL]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), opcode=st.sampled_from(ELEMENTWISE))
def test_elementwise_step_equals_whole_tensor_on_every_leaf(seed: int, opcode: Opcode) -> None:
    s = random_op(np.random.default_rng(seed), opcode)
    op, prog = s.op, s.program
    out = run_op(op, s.values[0], s.values[1] if len(s.values) > 1 else None)
    out_dt = op.out_spec.dtype
    packed_out = pack(out, out_dt)
    packed_in = [pack(v, prog.spec(i).dtype) for i, v in enumerate(s.values)]
    n = op.out_spec.n_leaves
    for j in range(1 << depth_for(n)):
        ai, bi = elementwise_leaf_indices(op, j) if j < n else (None, None)
        a_leaf = leaf(packed_in[op.a], prog.spec(op.a).dtype, ai) if ai is not None else None
        b_leaf = None
        if bi is not None:
            b_leaf = (
                packed_in[op.b]
                if opcode == Opcode.LUT
                else leaf(packed_in[op.b], prog.spec(op.b).dtype, bi)
            )
        expected = leaf(packed_out, out_dt, j) if j < n else bytes(out_dt.leaf_bytes)
        assert step_elementwise(op, j, n, a_leaf, b_leaf) == expected


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_matmul_partial_sums_end_at_the_element(seed: int) -> None:
    s = random_op(np.random.default_rng(seed), Opcode.MATMUL)
    op = s.op
    out = run_op(op, s.values[0], s.values[1]).reshape(-1)
    pa, pw = pack(s.values[0], s.program.spec(0).dtype), pack(s.values[1], s.program.spec(1).dtype)
    for f in range(0, op.M * op.N, 7):
        j, e = divmod(f, LEAF_ELEMS)
        acc = 0
        for c in range(op.K // LEAF_ELEMS):
            ai, wi = matmul_leaf_indices(op, j, e, c)
            acc = step_matmul(pa[ai * 32 : (ai + 1) * 32], pw[wi * 32 : (wi + 1) * 32], acc)
        assert acc == out[f]
