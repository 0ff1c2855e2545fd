"""Settings of the compute layer (executor, trace provider), one dataclass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeConfig:
    device: str = "auto"  # auto | cpu | cuda
    threads: int | None = None  # torch intra-op threads on CPU; None keeps torch's default
    memory_budget: int = 1 << 30  # bytes of tensors the trace provider keeps cached
    # Largest K whose fp32 GEMM is exact: every partial sum is an integer of magnitude
    # <= K * 128 * 128 <= 2^24, which fp32 represents exactly. Larger K runs in chunks.
    fp32_exact_k: int = 1024
    # CPU int8 GEMM through oneDNN where it is exact (VNNI, probed): "auto" | "off".
    # `cpu_int8_min_k`: the smallest K sent to it (measured faster than fp32 from K = 32 up).
    cpu_int8_gemm: str = "auto"
    cpu_int8_min_k: int = 32
