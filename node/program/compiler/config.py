"""Compiler settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CompileConfig:
    batch: int = 1  # items per job: the program's shapes are fixed
    # Activation range = this quantile of |activation| over the calibration data (1.0 = max).
    calibration_quantile: float = 1.0
    fuse_relu: bool = True  # ReLU after Linear/Conv becomes the requant's clamp low bound
