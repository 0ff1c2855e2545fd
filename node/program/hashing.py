"""SHA-256 in bulk: many equal-size blocks in one call (native when built, else hashlib)."""

from __future__ import annotations

import ctypes
import hashlib

from node import native

DIGEST = 32


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_blocks_hashlib(data: bytes, block_size: int) -> bytes:
    n = _count(data, block_size)
    h = hashlib.sha256
    return b"".join(h(data[i * block_size : (i + 1) * block_size]).digest() for i in range(n))


def hash_blocks_native(data: bytes, block_size: int) -> bytes:
    lib = native.load()
    if lib is None:
        raise RuntimeError("native merkle library not built (python -m node.native.build)")
    n = _count(data, block_size)
    out = ctypes.create_string_buffer(n * DIGEST)
    lib.poc_hash_blocks(data, block_size, n, out)
    return out.raw


def hash_blocks(data: bytes, block_size: int) -> bytes:
    """Concatenated digests of data split into len(data)/block_size blocks."""
    if native.load() is not None and len(data) >= 4 * block_size:
        return hash_blocks_native(data, block_size)
    return hash_blocks_hashlib(data, block_size)


def backend() -> str:
    return "native" if native.load() is not None else "hashlib"


def _count(data: bytes, block_size: int) -> int:
    if block_size <= 0 or len(data) % block_size:
        raise ValueError(f"{len(data)} bytes is not a whole number of {block_size}-byte blocks")
    return len(data) // block_size
