"""TensorStep and Merkle against the Python reference's vectors (protocol.md §7), plus
hand-computed boundary cases and the verifier's own errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ape
import numpy as np
import pytest
from conftest import FUZZ

from node.program.constants import NO_SLOT, DType, Flag, Opcode
from node.program.ops import Op

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ELEMENTWISE = ["add", "requant", "relu", "lut", "im2col", "qadd", "gmax", "gsum"]
# CI checks every case of a file up to this many (the files hold ~300 each); POC_FUZZ=1 all.
LIMIT = 10**9 if FUZZ else 120


def _hex(s: str | None) -> bytes:
    return b"" if s is None else bytes.fromhex(s[2:])


def _cases(op: str) -> list[dict]:
    path = VECTORS / f"step_{op}.json"
    if not path.exists():
        pytest.skip(f"{path} not generated yet")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["op"] == op
    cases = data["cases"]
    if len(cases) > LIMIT:  # keep the boundary cases (first) and an even sample of the rest
        stride = len(cases) // LIMIT + 1
        cases = cases[:20] + cases[20::stride]
    return cases


@pytest.fixture(scope="module")
def probe(project, deployer):  # noqa: ANN001
    return deployer.deploy(project.MerkleProbe)


@pytest.mark.parametrize("op", ELEMENTWISE)
def test_elementwise_vectors(step, op):  # noqa: ANN001
    for c in _cases(op):
        enc = _hex(c["enc"])
        j = c["leaf_index"]
        out = bytes(step.computeLeaf(enc, j, _hex(c["a_leaf"]), _hex(c["b_leaf"])))
        assert out == _hex(c["expected"]), c
        if j < c["n_leaves"]:
            use_a, a_idx, _use_b, _b_idx = step.leafOperands(enc, j)
            if c["a_leaf"] is None:
                assert not use_a, c
            else:
                assert use_a and a_idx == c["a_leaf_index"], c


def _group_step(c: dict) -> tuple:
    """StepData of a gmax / gsum vector: the G leaves and their multiproof (slots unused)."""
    return (
        _hex(c["enc"]), _hex(c["a_root"]), bytes(32), _hex(c["a_leaf"]),
        [_hex(p) for p in c["a_proof"]], b"", [], bytes(32), [], [],
    )  # fmt: skip


@pytest.mark.parametrize("op", ["gmax", "gsum"])
def test_group_vectors_multiproof_on_chain(step, op):  # noqa: ANN001
    """leafStep checks the G leaves against the input root with the one multiproof (§5): the
    vector's proof passes and gives the expected leaf; a changed leaf, a short or a long proof
    revert."""
    checked = 0
    for c in _cases(op):
        if c["a_leaf"] is None:
            continue
        d = _group_step(c)
        j = c["leaf_index"]
        assert bytes(step.leafStep(d, j)) == hashlib.sha256(_hex(c["expected"])).digest(), c
        checked += 1
        if checked > 12:
            continue  # the failures: on a dozen cases
        bad = list(d)
        leaves = bytearray(d[3])
        leaves[-1] ^= 1
        bad[3] = bytes(leaves)
        with ape.reverts(step.BadProof):
            step.leafStep(tuple(bad), j)
        if d[4]:
            bad = list(d)
            bad[4] = d[4][:-1]
            with ape.reverts(step.ProofLength):
                step.leafStep(tuple(bad), j)
        bad = list(d)
        bad[4] = [*d[4], bytes(32)]
        with ape.reverts(step.ProofLength, which=1, have=len(d[4]) + 1, want=len(d[4])):
            step.leafStep(tuple(bad), j)
    assert checked > 100


def test_matmul_vectors(step):  # noqa: ANN001
    for c in _cases("matmul"):
        enc = _hex(c["enc"])
        prev, nxt = int(c["prev"]), int(c["next"])
        assert step.computeChunk(_hex(c["a_leaf"]), _hex(c["w_leaf"]), prev) == nxt, c
        a_idx, w_idx = step.chunkOperands(enc, c["leaf_index"], c["elem"], c["chunk"])
        assert (a_idx, w_idx) == (c["a_leaf_index"], c["w_leaf_index"]), c


def test_merkle_vectors(probe):  # noqa: ANN001
    path = VECTORS / "merkle.json"
    if not path.exists():
        pytest.skip("merkle.json not generated yet")
    d = json.loads(path.read_text())
    for t in d["tensors"]:
        for p in t["proofs"]:
            sib = [_hex(s) for s in p["siblings"]]
            assert bytes(probe.leafRoot(_hex(p["leaf_hex"]), p["leaf_index"], sib)) == _hex(
                t["root"]
            )
    for st in d["states"]:
        for p in st["proofs"]:
            slots = st["slots"]
            leaf = _hex(slots[p["slot"]]) if p["slot"] < len(slots) else bytes(32)
            sib = [_hex(s) for s in p["siblings"]]
            assert bytes(probe.rootFrom(leaf, p["slot"], sib)) == _hex(st["root"])
    for pr in d["programs"]:
        for p in pr["proofs"]:
            ops = pr["ops"]
            leaf = (
                hashlib.sha256(_hex(ops[p["index"]])).digest()
                if p["index"] < len(ops)
                else bytes(32)
            )
            sib = [_hex(s) for s in p["siblings"]]
            assert bytes(probe.rootFrom(leaf, p["index"], sib)) == _hex(pr["ops_root"])
        leaves = pr["spec_leaves"]
        for p in pr["spec_proofs"]:
            sib = [_hex(s) for s in p["siblings"]]
            if p["index"] < len(leaves):
                got = probe.leafRoot(_hex(leaves[p["index"]]), p["index"], sib)
            else:
                got = probe.rootFrom(bytes(32), p["index"], sib)
            assert bytes(got) == _hex(pr["input_spec_root"])
        halves = probe.hashPair(_hex(pr["ops_root"]), _hex(pr["input_spec_root"]))
        assert bytes(halves) == _hex(pr["program_root"])


def test_merkle_rejects_index_beyond_depth(probe):  # noqa: ANN001
    with ape.reverts(probe.IndexOutOfRange, index=2, bound=2):
        probe.rootFrom(bytes(32), 2, [bytes(32)])
    assert probe.ceilLog2(1) == 0 and probe.ceilLog2(2) == 1 and probe.ceilLog2(5) == 3


# ------------------------------------------------------------------ hand-computed cases


def i32(vals: list[int]) -> bytes:
    return np.asarray(vals, dtype=">i4").tobytes()


def i8(vals: list[int]) -> bytes:
    return np.asarray(vals, dtype=">i1").tobytes()


def test_add_wraps_modulo_2_32(step):  # noqa: ANN001
    op = Op(Opcode.ADD, out=2, a=0, b=1, M=1, N=32).encode()
    a = i32([2**31 - 1] * 16 + [-(2**31)] * 16)
    b = i32([1] * 16 + [-1] * 16)
    assert bytes(step.computeLeaf(op, 0, a, b)) == i32([-(2**31)] * 16 + [2**31 - 1] * 16)


def test_requant_rounds_half_up_and_clamps(step):  # noqa: ANN001
    # y = clamp(((x*3 + 2) >> 2) + 1, -5, 5): x=2 -> (6+2)>>2=2 -> 3; x=-2 -> (-6+2)>>2=-1 -> 0
    op = Op(Opcode.REQUANT, out=1, a=0, M=1, N=32, mult=3, shift=2, zp=1, lo=-5, hi=5).encode()
    xs = [2, -2, 100, -100, 0, 1, -1, 3] * 4
    want = [max(-5, min(5, ((x * 3 + 2) >> 2) + 1)) for x in xs]
    assert bytes(step.computeLeaf(op, 0, i32(xs), b"")) == i8(want)


def test_requant_per_channel_reads_b_and_defines_nonpositive_multipliers(step):  # noqa: ANN001
    op = Op(
        Opcode.REQUANT,
        out=2,
        a=0,
        b=1,
        M=1,
        N=32,
        flags=Flag.REQUANT_PER_CHANNEL,
        shift=1,
        lo=-128,
        hi=127,
    )
    xs = list(range(-16, 16))
    ms = list(range(1, 33))
    want = [max(-128, min(127, (x * m + 1) >> 1)) for x, m in zip(xs, ms, strict=True)]
    assert bytes(step.computeLeaf(op.encode(), 0, i32(xs), i32(ms))) == i8(want)
    # F3: a multiplier computed by an earlier op may be <= 0; the formula still defines y
    # (mult 0 gives clamp(zp, lo, hi)), so the step exists (protocol.md section 4)
    ms = [0, -1, -(2**31), 2**31 - 1] * 8
    want = [max(-128, min(127, (x * m + 1) >> 1)) for x, m in zip(xs, ms, strict=True)]
    assert bytes(step.computeLeaf(op.encode(), 0, i32(xs), i32(ms))) == i8(want)


def test_relu_int8_and_int32(step):  # noqa: ANN001
    xs = [-128, 127, 0, -1, 1] * 6 + [5, -5]
    op8 = Op(Opcode.RELU, out=1, a=0, M=1, N=32).encode()
    assert bytes(step.computeLeaf(op8, 0, i8(xs), b"")) == i8([max(0, x) for x in xs])
    ys = [-(2**31), 2**31 - 1] * 16
    op32 = Op(Opcode.RELU, out=1, a=0, M=1, N=32, flags=Flag.RELU_INT32).encode()
    assert bytes(step.computeLeaf(op32, 0, i32(ys), b"")) == i32([max(0, y) for y in ys])


def test_lut_indexes_by_x_plus_128(step):  # noqa: ANN001
    table = bytes((i * 7) & 0xFF for i in range(256))
    xs = [-128, 127, 0, -1] * 8
    op = Op(Opcode.LUT, out=2, a=0, b=1, M=1, N=32).encode()
    assert bytes(step.computeLeaf(op, 0, i8(xs), table)) == bytes(table[x + 128] for x in xs)


def test_im2col_padded_leaf_is_padv_and_inside_copies(step):  # noqa: ANN001
    # 1x2x2 image, C=32, 2x2 kernel, stride 1, pad 1 -> OH=OW=3, M=9, N=128
    op = Op(
        Opcode.IM2COL, out=1, a=0, M=9, N=128, B=1, H=2, W=2, C=32, KH=2, KW=2, S=1, P=1, padv=-3
    )
    enc = op.encode()
    # output leaf 0: row 0 (oy=0, ox=0), ky=kx=0 -> iy=ix=-1: padded
    assert bytes(step.computeLeaf(enc, 0, b"", b"")) == i8([-3] * 32)
    assert step.leafOperands(enc, 0)[0] is False
    # output leaf 3: row 0, (ky,kx)=(1,1) -> iy=ix=0 -> input leaf 0
    use_a, a_idx, _, _ = step.leafOperands(enc, 3)
    assert use_a and a_idx == 0
    leaf = i8(list(range(32)))
    assert bytes(step.computeLeaf(enc, 3, leaf, b"")) == leaf


def test_padding_leaf_is_zero(step):  # noqa: ANN001
    op = Op(Opcode.ADD, out=2, a=0, b=1, M=3, N=32).encode()  # 3 leaves, tree of 4
    assert bytes(step.computeLeaf(op, 3, b"", b"")) == bytes(128)
    op8 = Op(Opcode.RELU, out=1, a=0, M=3, N=32).encode()
    assert bytes(step.computeLeaf(op8, 3, b"", b"")) == bytes(32)


def test_matmul_extremes(step):  # noqa: ANN001
    assert step.computeChunk(i8([-128] * 32), i8([-128] * 32), 0) == 32 * 16384
    assert step.computeChunk(i8([127] * 32), i8([-128] * 32), 5) == 5 - 32 * 127 * 128


def test_step_errors(step):  # noqa: ANN001
    add = Op(Opcode.ADD, out=2, a=0, b=1, M=1, N=32).encode()
    with ape.reverts(step.OperandLength, which=1, have=32, want=128):
        step.computeLeaf(add, 0, bytes(32), bytes(128))
    with ape.reverts(step.OperandLength, which=2, have=0, want=128):
        step.computeLeaf(add, 0, bytes(128), b"")
    with ape.reverts(step.BadOpLength, length=63):
        step.computeLeaf(add[:63], 0, b"", b"")
    bad = bytearray(add)
    bad[0] = 17  # opcodes are 1..16 (v6)
    with ape.reverts(step.BadOpField, field=0, value=17):
        step.computeLeaf(bytes(bad), 0, b"", b"")
    bad = bytearray(add)
    bad[50] = 1
    with ape.reverts(step.BadOpField):
        step.computeLeaf(bytes(bad), 0, b"", b"")
    bad_n = Op(Opcode.ADD, out=2, a=0, b=1, M=1, N=33).encode()
    with ape.reverts(step.BadOpField, field=16, value=33):
        step.computeLeaf(bad_n, 0, b"", b"")
    mm = Op(Opcode.MATMUL, out=2, a=0, b=1, M=1, K=32, N=32).encode()
    with ape.reverts(step.NotElementwise, opcode=1, leafIndex=0):
        step.computeLeaf(mm, 0, b"", b"")
    with ape.reverts(step.OperandLength, which=1, have=31, want=32):
        step.computeChunk(bytes(31), bytes(32), 0)
    with ape.reverts(step.OperandLength, which=2, have=33, want=32):
        step.computeChunk(bytes(32), bytes(33), 0)
    bad_k = Op(Opcode.MATMUL, out=2, a=0, b=1, M=1, K=33, N=32).encode()
    with ape.reverts(step.BadOpField, field=12, value=33):
        step.computeLeaf(bad_k, 1, b"", b"")
    bad_shift = Op(Opcode.REQUANT, out=1, a=0, M=1, N=32, mult=1, shift=63, lo=0, hi=1).encode()
    with ape.reverts(step.BadOpField, field=24, value=63):
        step.computeLeaf(bad_shift, 0, bytes(128), b"")
    bad_flags = Op(Opcode.LUT, out=2, a=0, b=1, M=1, N=32, flags=1).encode()
    with ape.reverts(step.BadOpField, field=1, value=1):
        step.computeLeaf(bad_flags, 0, bytes(32), bytes(256))
    assert NO_SLOT == 0xFFFF_FFFF and DType.INT8.leaf_bytes == 32  # v7: 32-bit slot ids


def test_leaf_and_chunk_step_check_operand_proofs(step, honest_trace):  # noqa: ANN001
    from contracts_trace import step_data, synthetic_view

    t = honest_trace
    # add (op 1), leaf 0: valid operands pass and give the honest leaf hash
    d = step_data(synthetic_view(t, 1, 0), t)
    slot = t.program.n_inputs + 1
    assert bytes(step.leafStep(d, 0)) == hashlib.sha256(t.leaf(slot, 0)).digest()
    bad = list(d)
    bad[4] = [bytes(32)] * len(d[4])
    with ape.reverts(step.BadProof):
        step.leafStep(tuple(bad), 0)
    bad = list(d)
    bad[4] = list(d[4]) + [bytes(32)]
    with ape.reverts(step.ProofLength, which=1, have=len(d[4]) + 1, want=len(d[4])):
        step.leafStep(tuple(bad), 0)
    # matmul (op 0): a chunk step
    dm = step_data(synthetic_view(t, 0, 0, chunk_step=True, elem=3, lo=1, hi=2), t)
    sums = t.partial_sums(0, 0, 3)
    assert step.chunkStep(dm, 0, 3, 1, sums[1]) == sums[2]
    with ape.reverts(step.NotReduction, opcode=2):
        step.chunkStep(d, 0, 0, 0, 0)
    with ape.reverts(step.IndexOutOfRange, index=32, bound=32):
        step.chunkStep(dm, 0, 32, 0, 0)
    with ape.reverts(step.IndexOutOfRange, index=2, bound=2):
        step.chunkStep(dm, 0, 0, 2, 0)
    # lut (op 4): the table travels whole and is checked by its 8-leaf root
    dl = step_data(synthetic_view(t, 4, 1), t)
    assert bytes(step.leafStep(dl, 1)) == hashlib.sha256(t.leaf(t.program.n_inputs + 4, 1)).digest()
    bad = list(dl)
    bad[5] = bytes(256)
    with ape.reverts(step.BadProof):
        step.leafStep(tuple(bad), 1)
    # im2col (op 5), every output leaf incl. padded positions and the padding leaf
    for j in range(t.program.ops[5].M * t.program.ops[5].N // 32):
        di = step_data(synthetic_view(t, 5, j), t)
        assert (
            bytes(step.leafStep(di, j))
            == hashlib.sha256(t.leaf(t.program.n_inputs + 5, j)).digest()
        )
