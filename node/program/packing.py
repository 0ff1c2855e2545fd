"""Element packing into leaves (protocol.md section 2): big-endian two's complement, 32
elements a leaf. numpy only; a tensor's packed bytes are its leaves back to back."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from node.program.constants import LEAF_ELEMS, DType
from node.program.errors import BadEncoding

_BE: dict[DType, np.dtype[Any]] = {DType.INT8: np.dtype(">i1"), DType.INT32: np.dtype(">i4")}
_NATIVE: dict[DType, np.dtype[Any]] = {
    DType.INT8: np.dtype(np.int8),
    DType.INT32: np.dtype(np.int32),
}


def numpy_dtype(dtype: DType) -> np.dtype[Any]:
    return _NATIVE[dtype]


def pack(values: npt.ArrayLike, dtype: DType) -> bytes:
    """Flat row-major elements -> packed bytes. Values must fit the dtype."""
    arr = np.asarray(values)
    info = np.iinfo(_NATIVE[dtype].type)  # type: ignore[type-var]
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise BadEncoding(f"values out of {dtype.label} range")
    if arr.size % LEAF_ELEMS:
        raise BadEncoding(f"{arr.size} elements is not a whole number of leaves")
    return np.ascontiguousarray(arr, dtype=_BE[dtype]).tobytes()


def unpack(data: bytes, dtype: DType) -> npt.NDArray[np.int64]:
    """Packed bytes -> flat int64 elements (wide so that callers can compute without overflow)."""
    if len(data) % dtype.itemsize:
        raise BadEncoding(f"{len(data)} bytes is not a whole number of {dtype.label} elements")
    return np.frombuffer(data, dtype=_BE[dtype]).astype(np.int64)


def leaf(data: bytes, dtype: DType, index: int) -> bytes:
    size = dtype.leaf_bytes
    return data[index * size : (index + 1) * size]


def zero_leaf(dtype: DType) -> bytes:
    return bytes(dtype.leaf_bytes)
