"""TensorStep against the Python reference's vectors of the v6 training ops (protocol.md §4,
§5, §7, issue 15): transpose (32 leaves under one multiproof) and update (stochastic rounding
by the counter-based generator); full steps with proofs, what makes them revert, and the
verifier's gas by the transposed tensor's rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ape
import numpy as np
import pytest
from conftest import FUZZ

from node.program.constants import LEAF_ELEMS, DType, Flag, Opcode
from node.program.merkle import multi_proof, tensor_tree
from node.program.ops import Op
from node.program.packing import pack
from node.program.reference import group_leaf_indices, run_op

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LIMIT = 10**9 if FUZZ else 120
# the verifier alone at M = 32 .. 256 (32 * log2(M/32) siblings more per doubling of M)
TRANSPOSE_VERIFIER_GUARD = {32: 120_000, 64: 160_000, 128: 200_000, 256: 240_000}


def _hex(s: str | None) -> bytes:
    return b"" if s is None else bytes.fromhex(s[2:])


def _cases(op: str) -> list[dict]:
    data = json.loads((VECTORS / f"step_{op}.json").read_text())
    assert data["version"] == 1 and data["op"] == op
    cases = data["cases"]
    if len(cases) > LIMIT:
        stride = len(cases) // LIMIT + 1
        cases = cases[:20] + cases[20::stride]
    return cases


def test_update_vectors(step):  # noqa: ANN001
    for c in _cases("update"):
        enc = _hex(c["enc"])
        j = c["leaf_index"]
        out = bytes(step.computeLeaf(enc, j, _hex(c["a_leaf"]), _hex(c["b_leaf"])))
        assert out == _hex(c["expected"]), c
        if j < c["n_leaves"]:
            use_a, a_idx, use_b, b_idx = step.leafOperands(enc, j)
            assert use_a and use_b and a_idx == b_idx == c["a_leaf_index"] == j, c


def _group_step(enc: bytes, root: bytes, leaves: bytes, proof: list[bytes]) -> tuple:
    return (enc, root, bytes(32), leaves, proof, b"", [], bytes(32), [], [])


def test_transpose_vectors_multiproof_on_chain(step):  # noqa: ANN001
    """The vector's 32 leaves and multiproof pass and give the expected leaf; a changed leaf, a
    short or a long proof revert."""
    checked = 0
    for c in _cases("transpose"):
        enc, j = _hex(c["enc"]), c["leaf_index"]
        if c["a_leaf"] is None:
            assert bytes(step.computeLeaf(enc, j, b"", b"")) == _hex(c["expected"]), c
            continue
        assert bytes(step.computeLeaf(enc, j, _hex(c["a_leaf"]), b"")) == _hex(c["expected"])
        d = _group_step(enc, _hex(c["a_root"]), _hex(c["a_leaf"]), [_hex(p) for p in c["a_proof"]])
        assert bytes(step.leafStep(d, j)) == hashlib.sha256(_hex(c["expected"])).digest(), c
        checked += 1
        if checked > 8:
            continue
        bad = list(d)
        bad[3] = d[3][:-1] + bytes([d[3][-1] ^ 1])
        with ape.reverts(step.BadProof):
            step.leafStep(tuple(bad), j)
        bad = list(d)
        bad[4] = [*d[4], bytes(32)]
        with ape.reverts(step.ProofLength):
            step.leafStep(tuple(bad), j)
        if d[4]:
            bad = list(d)
            bad[4] = d[4][:-1]
            with ape.reverts(step.ProofLength):
                step.leafStep(tuple(bad), j)
    assert checked > 50


def test_update_steps_with_proofs(step):  # noqa: ANN001
    """leafStep proves the weights' and the gradient's leaf j and gives the reference's leaf;
    another step's generator (pos) gives another leaf; a changed gradient reverts BadProof."""
    rng = np.random.default_rng(15)
    for master in (False, True):
        op = Op(Opcode.UPDATE, out=2, a=0, b=1, M=4, N=64, mult=98765, shift=20, lo=-127,
                hi=127, pos=41, period=7, flags=Flag.INT32 if master else 0)  # fmt: skip
        wdt = DType.INT32 if master else DType.INT8
        w = rng.integers(-30000, 30000, 256) if master else rng.integers(-128, 128, 256)
        g = rng.integers(-(2**10), 2**10, 256)
        tw, tg = tensor_tree(pack(w, wdt), wdt), tensor_tree(pack(g, DType.INT32), DType.INT32)
        pw, pg = pack(w, wdt), pack(g, DType.INT32)
        whole = pack(run_op(op, w, g), wdt)
        lw, lg = wdt.leaf_bytes, 128
        for j in range(8):
            d = (op.encode(), tw.root, tg.root, pw[lw * j : lw * j + lw], tw.proof(j),
                 pg[lg * j : lg * j + lg], tg.proof(j), bytes(32), [], [])  # fmt: skip
            want = whole[lw * j : lw * j + lw]
            assert bytes(step.leafStep(d, j)) == hashlib.sha256(want).digest(), (master, j)
        other = Op(**{**op.__dict__, "pos": 42})
        assert bytes(step.computeLeaf(other.encode(), 7, d[3], d[5])) != want
        bad = list(d)
        bad[5] = bytes([d[5][0] ^ 1]) + d[5][1:]
        with ape.reverts(step.BadProof):
            step.leafStep(tuple(bad), 7)


TRANSPOSE_GAS: dict[int, int] = {}


@pytest.mark.parametrize("rows", [32, 64, 128, 256])
def test_transpose_verifier_gas(step, anyone, rows):  # noqa: ANN001
    """One transpose step (TensorStep.leafStep by estimate) of a [32, rows] -> [rows, 32]
    transpose (the dW of a layer of width `rows` at batch 32), at the middle output leaf."""
    op = Op(Opcode.TRANSPOSE, out=1, a=0, M=rows, N=LEAF_ELEMS)
    x = np.random.default_rng(rows).integers(-128, 128, rows * LEAF_ELEMS)
    px = pack(x, DType.INT8)
    tree = tensor_tree(px, DType.INT8)
    j = op.out_spec.n_leaves // 2
    idx = group_leaf_indices(op, j)
    d = _group_step(op.encode(), tree.root, b"".join(px[32 * i : 32 * i + 32] for i in idx),
                    multi_proof(tree, idx))  # fmt: skip
    want = pack(run_op(op, x, None), DType.INT8)[32 * j : 32 * j + 32]
    assert bytes(step.leafStep(d, j)) == hashlib.sha256(want).digest()
    gas = step.leafStep.estimate_gas_cost(d, j, sender=anyone)
    TRANSPOSE_GAS[rows] = gas
    print(f"\ntranspose verifier gas, M = {rows}, N = 32: {gas:,} ({len(d[4])} siblings)")
    assert gas <= TRANSPOSE_VERIFIER_GUARD[rows], gas


def test_update_verifier_gas(step, anyone):  # noqa: ANN001
    op = Op(Opcode.UPDATE, out=2, a=0, b=1, M=128, N=64, mult=5, shift=24, lo=-127, hi=127,
            pos=3, period=1, flags=Flag.INT32)  # fmt: skip
    rng = np.random.default_rng(2)
    w, g = rng.integers(-30000, 30000, 128 * 64), rng.integers(-(2**30), 2**30, 128 * 64)
    tw = tensor_tree(pack(w, DType.INT32), DType.INT32)
    tg = tensor_tree(pack(g, DType.INT32), DType.INT32)
    pw, pg = pack(w, DType.INT32), pack(g, DType.INT32)
    j = 100
    d = (op.encode(), tw.root, tg.root, pw[128 * j : 128 * j + 128], tw.proof(j),
         pg[128 * j : 128 * j + 128], tg.proof(j), bytes(32), [], [])  # fmt: skip
    gas = step.leafStep.estimate_gas_cost(d, j, sender=anyone)
    print(f"\nupdate verifier gas (int32 masters, [128, 64]): {gas:,}")
    assert gas <= 150_000
