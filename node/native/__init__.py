"""Native bulk SHA-256 (node/native/merkle.c), loaded with ctypes when built.

Build with `python -m node.native.build`. When the library is absent, callers fall back to
hashlib (node.program.hashing), which gives the same digests, slower."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent / "build"
LIB_PATH = LIB_DIR / "libpocmerkle.so"

_lib: ctypes.CDLL | None = None
_tried = False


def load() -> ctypes.CDLL | None:
    """The loaded library, or None when not built or disabled by POC_NO_NATIVE=1."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("POC_NO_NATIVE") == "1" or not LIB_PATH.exists():
        return None
    try:
        lib = ctypes.CDLL(str(LIB_PATH))
    except OSError:
        return None
    lib.poc_hash_blocks.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
        ctypes.c_void_p,
    ]
    lib.poc_hash_blocks.restype = ctypes.c_int
    lib.poc_tree.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_void_p,
    ]
    lib.poc_tree.restype = ctypes.c_int
    lib.poc_sha256_impl.argtypes = [ctypes.c_int]
    lib.poc_sha256_impl.restype = ctypes.c_int
    _lib = lib
    return _lib


def set_impl(force: int) -> bool:
    """Select the compression function: -1 auto, 0 portable C, 1 SHA-NI when available.
    Returns True when SHA-NI is in use. Only tests and benchmarks call this."""
    lib = load()
    if lib is None:
        raise RuntimeError("native merkle library not built (python -m node.native.build)")
    return bool(lib.poc_sha256_impl(force))
