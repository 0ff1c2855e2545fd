"""Merkle trees of protocol.md section 3: tensor roots, state roots, program roots (ops root and
input spec table), proofs.

Trees are stored level by level (level 0 = leaf nodes, level depth = root), each level one
bytes object of concatenated digests without its padding; missing nodes on the right are the
all-padding subtree hash of that level. Levels are hashed whole (hashing.hash_blocks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.program.constants import DType
from node.program.hashing import DIGEST, hash_blocks, sha256, tree_levels_native
from node.program.packing import zero_leaf

ZERO32 = bytes(32)


def depth_for(n: int) -> int:
    """ceil(log2 n), 0 for n = 1."""
    if n < 1:
        raise ValueError("a tree has at least one leaf")
    return (n - 1).bit_length()


def _zero_ladder(zero_node: bytes, depth: int) -> list[bytes]:
    zeros = [zero_node]
    for _ in range(depth):
        zeros.append(sha256(zeros[-1] + zeros[-1]))
    return zeros


@dataclass(frozen=True)
class MerkleTree:
    levels: tuple[bytes, ...]
    zeros: tuple[bytes, ...]

    @classmethod
    def from_blocks(cls, data: bytes, block_size: int, zero_node: bytes) -> MerkleTree:
        """Tree whose leaf nodes are the hashes of `data`'s blocks."""
        n = len(data) // block_size
        zeros = _zero_ladder(zero_node, depth_for(n))
        levels = tree_levels_native(data, block_size, zeros)
        if levels is not None:
            return cls(tuple(levels), tuple(zeros))
        return cls.from_leaf_nodes(hash_blocks(data, block_size), n, zero_node)

    @classmethod
    def from_leaf_nodes(cls, nodes: bytes, n: int, zero_node: bytes) -> MerkleTree:
        depth = depth_for(n)
        zeros = _zero_ladder(zero_node, depth)
        levels = [nodes]
        cur = nodes
        for lvl in range(depth):
            if (len(cur) // DIGEST) % 2:
                cur = cur + zeros[lvl]
            cur = hash_blocks(cur, 2 * DIGEST)
            levels.append(cur)
        return cls(tuple(levels), tuple(zeros))

    @property
    def depth(self) -> int:
        return len(self.levels) - 1

    @property
    def root(self) -> bytes:
        return self.levels[-1][:DIGEST]

    def node(self, level: int, index: int) -> bytes:
        if not 0 <= level <= self.depth or not 0 <= index < (1 << (self.depth - level)):
            raise IndexError(f"no node ({level}, {index}) in a tree of depth {self.depth}")
        lv = self.levels[level]
        if index * DIGEST < len(lv):
            return lv[index * DIGEST : (index + 1) * DIGEST]
        return self.zeros[level]

    def nodes(self, level: int, start: int, count: int) -> list[bytes]:
        return [self.node(level, start + i) for i in range(count)]

    def proof(self, index: int) -> list[bytes]:
        """Sibling path from the leaf level up."""
        return [self.node(lvl, (index >> lvl) ^ 1) for lvl in range(self.depth)]


def tensor_tree(packed: bytes, dtype: DType) -> MerkleTree:
    size = dtype.leaf_bytes
    n = len(packed) // size
    if n == 0 or len(packed) % size:
        raise ValueError(f"{len(packed)} bytes is not a positive number of {dtype.label} leaves")
    return MerkleTree.from_blocks(packed, size, sha256(zero_leaf(dtype)))


def tensor_root(packed: bytes, dtype: DType) -> bytes:
    return tensor_tree(packed, dtype).root


def slot_tree(slot_roots: Sequence[bytes]) -> MerkleTree:
    """State tree: slot values are the nodes themselves; unset and padding slots are zero."""
    return MerkleTree.from_leaf_nodes(b"".join(slot_roots), len(slot_roots), ZERO32)


def ops_tree(encodings: Sequence[bytes]) -> MerkleTree:
    """The ops half of the program root: leaf i = sha256(enc(op_i)), padding zero."""
    leaves = b"".join(sha256(e) for e in encodings)
    return MerkleTree.from_leaf_nodes(leaves, len(encodings), ZERO32)


def input_spec_tree(spec_leaves: Sequence[bytes]) -> MerkleTree:
    """The input spec table (protocol.md section 3): leaf node sha256(32-byte spec leaf),
    padding zero; one zero node (root bytes32(0)) when there is no input."""
    if not spec_leaves:
        return MerkleTree.from_leaf_nodes(ZERO32, 1, ZERO32)
    leaves = b"".join(sha256(x) for x in spec_leaves)
    return MerkleTree.from_leaf_nodes(leaves, len(spec_leaves), ZERO32)


def program_root(ops_root: bytes, input_spec_root: bytes) -> bytes:
    """v4: the program root commits the ops and every input's dtype and shape."""
    return sha256(ops_root + input_spec_root)


def root_from_proof(node: bytes, index: int, siblings: Sequence[bytes]) -> bytes:
    cur = node
    for lvl, sib in enumerate(siblings):
        cur = sha256(sib + cur) if (index >> lvl) & 1 else sha256(cur + sib)
    return cur


def verify_leaf(leaf_bytes: bytes, index: int, siblings: Sequence[bytes], root: bytes) -> bool:
    return root_from_proof(sha256(leaf_bytes), index, siblings) == root


def verify_node(node: bytes, index: int, siblings: Sequence[bytes], root: bytes) -> bool:
    return root_from_proof(node, index, siblings) == root


# ---- multiproofs (protocol.md section 5: a gmax / gsum step reads G leaves of one tensor) ----


def _check_indices(indices: Sequence[int], depth: int) -> None:
    if not indices or any(b <= a for a, b in zip(indices, indices[1:], strict=False)):
        raise ValueError(f"multiproof indices must be non-empty and increasing: {indices}")
    if indices[0] < 0 or indices[-1] >= 1 << depth:
        raise ValueError(f"multiproof indices {indices} outside a tree of depth {depth}")


def multi_proof(tree: MerkleTree, indices: Sequence[int]) -> list[bytes]:
    """The siblings that, with the leaf nodes at `indices` (increasing), give the root: level
    by level from the leaves up, and within a level by increasing index, the sibling of each
    known node whose sibling is not known itself (the order `root_from_multi` consumes)."""
    _check_indices(indices, tree.depth)
    out: list[bytes] = []
    level = list(indices)
    for lvl in range(tree.depth):
        known = set(level)
        for i in level:
            if i ^ 1 not in known:
                out.append(tree.node(lvl, i ^ 1))
        level = sorted({i >> 1 for i in level})
    return out


def root_from_multi(
    nodes: Sequence[bytes], indices: Sequence[int], siblings: Sequence[bytes], depth: int
) -> bytes:
    """Root of a tree of `depth` from its leaf nodes at `indices` (increasing) and the siblings
    of `multi_proof`; ValueError if the siblings are too few or too many."""
    _check_indices(indices, depth)
    if len(nodes) != len(indices):
        raise ValueError(f"{len(nodes)} nodes for {len(indices)} indices")
    level = list(zip(indices, nodes, strict=True))
    sib = iter(siblings)
    used = 0
    for _ in range(depth):
        nxt: list[tuple[int, bytes]] = []
        k = 0
        while k < len(level):
            i, h = level[k]
            if i % 2 == 0 and k + 1 < len(level) and level[k + 1][0] == i + 1:
                nxt.append((i >> 1, sha256(h + level[k + 1][1])))
                k += 2
                continue
            try:
                s = next(sib)
            except StopIteration:
                raise ValueError("multiproof has too few siblings") from None
            used += 1
            nxt.append((i >> 1, sha256(s + h) if i % 2 else sha256(h + s)))
            k += 1
        level = nxt
    if used != len(siblings):
        raise ValueError(f"multiproof has {len(siblings)} siblings, uses {used}")
    return level[0][1]
