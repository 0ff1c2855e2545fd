"""Every torch setting that bears on exactness or reproducibility, in one place.

The executor's exactness comes from arithmetic (integer GEMM, or fp32 GEMM on integers whose
partial sums stay <= 2^24), not from these flags; the flags rule out the few settings that
would break that arithmetic (TF32 / bf16 GEMM substitution) and make float runs repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

SEED = 0


def configure(threads: int | None = None, seed: int = SEED) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    if threads:
        torch.set_num_threads(threads)
    # fp32 GEMM must stay IEEE fp32: TF32 or bf16 inputs would round integers above 2^8..2^11.
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    for obj, attr in ((torch.backends.mkldnn, "matmul"), (torch.backends.cuda, "matmul")):
        sub = getattr(obj, attr, None)
        if sub is not None and hasattr(sub, "fp32_precision"):
            try:
                sub.fp32_precision = "ieee"
            except (RuntimeError, ValueError, AttributeError):
                pass
