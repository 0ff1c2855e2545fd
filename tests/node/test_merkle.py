"""Merkle commitments: native and hashlib digests agree, proofs verify and break on any flipped
bit, packing round-trips."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import native
from node.program import hashing
from node.program.constants import LEAF_ELEMS, DType
from node.program.merkle import (
    depth_for,
    ops_tree,
    slot_tree,
    tensor_tree,
    verify_leaf,
    verify_node,
)
from node.program.packing import leaf, pack, unpack

needs_native = pytest.mark.skipif(native.load() is None, reason="native library not built")


@needs_native
@pytest.mark.parametrize("impl", [0, 1], ids=["portable", "shani"])
@pytest.mark.parametrize("block", [1, 31, 32, 55, 56, 64, 100, 128, 129])
def test_native_digests_equal_hashlib(impl: int, block: int) -> None:
    native.set_impl(impl)
    try:
        rng = np.random.default_rng(block)
        for n in (1, 2, 3, 9):
            data = rng.bytes(block * n)
            assert hashing.hash_blocks_native(data, block) == hashing.hash_blocks_hashlib(
                data, block
            )
    finally:
        native.set_impl(-1)


@needs_native
def test_threaded_native_hashing_equals_hashlib() -> None:
    data = np.random.default_rng(1).bytes(32 * (hashing.PARALLEL_MIN_BLOCKS + 77))
    assert hashing.hash_blocks_native(data, 32, threads=3) == hashing.hash_blocks_hashlib(data, 32)


@needs_native
def test_tensor_root_is_the_same_with_and_without_native(monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.random.default_rng(2).bytes(32 * 1000)
    with_native = tensor_tree(data, DType.INT8).root
    monkeypatch.setattr(hashing, "hash_blocks", hashing.hash_blocks_hashlib)
    import node.program.merkle as m

    monkeypatch.setattr(m, "hash_blocks", hashing.hash_blocks_hashlib)
    monkeypatch.setattr(m, "tree_levels_native", lambda *a: None)
    assert tensor_tree(data, DType.INT8).root == with_native


@needs_native
def test_one_call_native_tree_equals_the_level_by_level_tree() -> None:
    from node.program.merkle import MerkleTree

    rng = np.random.default_rng(9)
    zero = hashing.sha256(bytes(32))
    for n in [1, 2, 3, 5, 7, 8, 9, 31, 33, 100]:
        data = rng.bytes(32 * n)
        one_call = MerkleTree.from_blocks(data, 32, zero)
        by_level = MerkleTree.from_leaf_nodes(hashing.hash_blocks_hashlib(data, 32), n, zero)
        assert one_call.levels == by_level.levels


def test_tensor_root_matches_a_naive_definition() -> None:
    rng = np.random.default_rng(3)
    for dt, n in [(DType.INT8, 1), (DType.INT8, 5), (DType.INT32, 3), (DType.INT32, 8)]:
        data = rng.bytes(dt.leaf_bytes * n)
        nodes = [
            hashlib.sha256(data[i * dt.leaf_bytes : (i + 1) * dt.leaf_bytes]).digest()
            for i in range(n)
        ]
        nodes += [hashlib.sha256(bytes(dt.leaf_bytes)).digest()] * ((1 << depth_for(n)) - n)
        while len(nodes) > 1:
            nodes = [
                hashlib.sha256(nodes[i] + nodes[i + 1]).digest() for i in range(0, len(nodes), 2)
            ]
        assert tensor_tree(data, dt).root == nodes[0]


def _flip(b: bytes, bit: int) -> bytes:
    arr = bytearray(b)
    arr[bit // 8] ^= 1 << (bit % 8)
    return bytes(arr)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), int32=st.booleans(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_leaf_proofs_verify_and_fail_on_any_flipped_bit(
    n: int, int32: bool, seed: int, data: st.DataObject
) -> None:
    dt = DType.INT32 if int32 else DType.INT8
    raw = np.random.default_rng(seed).bytes(dt.leaf_bytes * n)
    tree = tensor_tree(raw, dt)
    j = data.draw(st.integers(0, (1 << tree.depth) - 1))
    lf = leaf(raw, dt, j) if j < n else bytes(dt.leaf_bytes)
    sib = tree.proof(j)
    assert verify_leaf(lf, j, sib, tree.root)
    bit = data.draw(st.integers(0, len(lf) * 8 - 1))
    assert not verify_leaf(_flip(lf, bit), j, sib, tree.root)
    if sib:
        k = data.draw(st.integers(0, len(sib) - 1))
        b2 = data.draw(st.integers(0, 255))
        bad = list(sib)
        bad[k] = _flip(bad[k], b2)
        assert not verify_leaf(lf, j, bad, tree.root)
        if tree.node(k, j >> k) != sib[k]:  # equal twins (padding) may swap places
            assert not verify_leaf(lf, j ^ (1 << k), sib, tree.root)
    assert not verify_leaf(lf, j, sib, _flip(tree.root, data.draw(st.integers(0, 255))))


def test_state_and_program_proofs_verify() -> None:
    rng = np.random.default_rng(4)
    slots = [rng.bytes(32) for _ in range(5)] + [bytes(32)] * 2
    t = slot_tree(slots)
    for i in range(8):
        node = slots[i] if i < len(slots) else bytes(32)
        assert verify_node(node, i, t.proof(i), t.root)
        assert not verify_node(_flip(node, 3), i, t.proof(i), t.root)
    encs = [rng.bytes(64) for _ in range(3)]
    p = ops_tree(encs)
    for i in range(3):
        assert verify_node(hashlib.sha256(encs[i]).digest(), i, p.proof(i), p.root)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 4),
    leaves=st.integers(1, 3),
    int32=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_packing_round_trips(rows: int, leaves: int, int32: bool, seed: int) -> None:
    dt = DType.INT32 if int32 else DType.INT8
    info = np.iinfo(np.int32 if int32 else np.int8)
    vals = np.random.default_rng(seed).integers(
        info.min, info.max, rows * leaves * LEAF_ELEMS, endpoint=True
    )
    packed = pack(vals, dt)
    assert len(packed) == vals.size * dt.itemsize
    assert (unpack(packed, dt) == vals).all()


def test_packing_is_big_endian_twos_complement() -> None:
    vals = np.zeros(32, dtype=np.int64)
    vals[0], vals[1] = -2, 258
    assert pack(vals, DType.INT32)[:8] == bytes.fromhex("fffffffe00000102")
    v8 = np.zeros(32, dtype=np.int64)
    v8[0], v8[31] = -128, 127
    p8 = pack(v8, DType.INT8)
    assert p8[0] == 0x80 and p8[31] == 0x7F
