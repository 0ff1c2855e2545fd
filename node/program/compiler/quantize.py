"""Quantization arithmetic (numpy): multipliers as fixed-point integers, per-channel weights."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from node.program.constants import INT32_MAX

F64 = npt.NDArray[np.float64]


def fixed_point(real: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], int]:
    """Positive reals m -> (mult, shift) with m ~= mult / 2^shift, one shift for all, the
    largest that keeps every mult < 2^31 (most precision), shift in 1..62, mult >= 1."""
    m = np.atleast_1d(np.asarray(real, dtype=np.float64))
    if (m <= 0).any() or not np.isfinite(m).all():
        raise ValueError("multipliers must be positive and finite")
    top = float(m.max())
    shift = int(math.floor(math.log2(INT32_MAX / top)))
    shift = max(1, min(62, shift))
    mult = np.round(m * 2.0**shift).astype(np.int64)
    while mult.max() > INT32_MAX:  # rounding up at the edge
        shift -= 1
        mult = np.round(m * 2.0**shift).astype(np.int64)
    return np.maximum(mult, 1), shift


def quantize_weights(w: F64) -> tuple[npt.NDArray[np.int8], F64]:
    """Per-output-channel symmetric int8 ([-127, 127]); rows are channels."""
    w2 = w.reshape(w.shape[0], -1)
    scale = np.abs(w2).max(axis=1) / 127.0
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.round(w2 / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale


def quantize_bias(b: F64, acc_scale: F64) -> npt.NDArray[np.int32]:
    q = np.round(b / acc_scale)
    return np.clip(q, -(2**31), 2**31 - 1).astype(np.int32)


def activation_scale(absmax: float) -> float:
    return absmax / 127.0 if absmax > 0 else 1.0


def pad_to(n: int, multiple: int = 32) -> int:
    return -(-n // multiple) * multiple
