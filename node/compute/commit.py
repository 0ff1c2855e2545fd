"""Commitments of torch tensors: packed bytes (protocol.md section 2) and Merkle roots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from node.program.constants import DType
from node.program.merkle import ZERO32, MerkleTree, slot_tree, tensor_tree

_DTYPES = {torch.int8: DType.INT8, torch.int32: DType.INT32}


def dtype_of(t: torch.Tensor) -> DType:
    return _DTYPES[t.dtype]


def packed(t: torch.Tensor) -> bytes:
    arr = t.detach().cpu().numpy()
    if arr.dtype == np.int8:
        return arr.tobytes()  # one byte per element: already big-endian two's complement
    return arr.astype(">i4").tobytes()


def tree_of(t: torch.Tensor) -> MerkleTree:
    return tensor_tree(packed(t), dtype_of(t))


def root_of(t: torch.Tensor) -> bytes:
    return tree_of(t).root


def state_tree(slot_roots: Sequence[bytes | None]) -> MerkleTree:
    return slot_tree([r if r is not None else ZERO32 for r in slot_roots])
