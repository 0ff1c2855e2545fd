"""SHA-256 in bulk: many equal-size blocks in one call (native when built, else hashlib)."""

from __future__ import annotations

import ctypes
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from node import native

DIGEST = 32


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_blocks_hashlib(data: bytes, block_size: int) -> bytes:
    n = _count(data, block_size)
    h = hashlib.sha256
    return b"".join(h(data[i * block_size : (i + 1) * block_size]).digest() for i in range(n))


# Below this many blocks one thread is faster than the cost of starting others.
PARALLEL_MIN_BLOCKS = 1 << 15
_pool: ThreadPoolExecutor | None = None


def hash_threads() -> int:
    """Threads for large levels: POC_HASH_THREADS, else the CPU count (at most 8)."""
    env = os.environ.get("POC_HASH_THREADS")
    return max(1, int(env)) if env else min(8, os.cpu_count() or 1)


def hash_blocks_native(data: bytes, block_size: int, threads: int | None = None) -> bytes:
    """ctypes releases the GIL during the call, so large inputs are split across threads."""
    global _pool
    lib = native.load()
    if lib is None:
        raise RuntimeError("native merkle library not built (python -m node.native.build)")
    n = _count(data, block_size)
    out = ctypes.create_string_buffer(n * DIGEST)
    t = hash_threads() if threads is None else threads
    if t <= 1 or n < PARALLEL_MIN_BLOCKS:
        lib.poc_hash_blocks(data, block_size, n, out)
        return out.raw
    src = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
    dst = ctypes.addressof(out)
    per = -(-n // t)
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="poc-hash")
    futs = [
        _pool.submit(
            lib.poc_hash_blocks,
            ctypes.c_void_p(src + i * block_size),
            block_size,
            min(per, n - i),
            ctypes.c_void_p(dst + i * DIGEST),
        )
        for i in range(0, n, per)
    ]
    for f in futs:
        f.result()
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


def tree_levels_native(data: bytes, block_size: int, zeros: list[bytes]) -> list[bytes] | None:
    """All levels of a Merkle tree in one native call (small trees: Python per-level overhead
    would dominate), or None when the native library is absent or the tree is large enough for
    threaded levels."""
    lib = native.load()
    n = _count(data, block_size)
    if lib is None or n >= PARALLEL_MIN_BLOCKS:
        return None
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    out = ctypes.create_string_buffer(DIGEST * sum(sizes))
    lib.poc_tree(data, block_size, n, b"".join(zeros), out)
    raw = out.raw
    levels, off = [], 0
    for k in sizes:
        levels.append(raw[off : off + DIGEST * k])
        off += DIGEST * k
    return levels
