"""Built-in jobs that need no training: random-weight integer MLPs of any shape (tests, the
benchmark, the demo). `poc job post --example digits-mlp` uses the trained compiler example
instead (node.program.compiler.examples)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from node.program.compiler.builder import ProgramBuilder
from node.program.constants import DType
from node.program.spec import JobSpec, OutputAdapter


def random_mlp(
    widths: Sequence[int], rows: int, seed: int = 0
) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    """An int8 MLP `widths[0] -> ... -> widths[-1]` (each a multiple of 32) on `rows` random
    input rows: matmul, bias add, requant (ReLU as the clamp's low bound except after the last
    layer). Returns the spec and its data input."""
    rng = np.random.default_rng(seed)
    b = ProgramBuilder()
    x = b.data_input("x", rows, widths[0])
    names = []
    for i, (k, n) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = b.constant(f"w{i}", rng.integers(-127, 128, (n, k)), DType.INT8)
        bias = b.constant(f"b{i}", rng.integers(-4096, 4096, (1, n)), DType.INT32)
        names.append((w, bias, k, n))
    h = x
    for i, (w, bias, k, n) in enumerate(names):
        acc = b.matmul(h, w, rows, k, n)
        acc = b.add(acc, bias, rows, n, broadcast=True)
        # |acc| <~ sqrt(k) * 127 * 75: a shift of about log2 of that keeps int8 activations busy
        shift = max(1, int(np.log2(np.sqrt(k) * 127 * 75 / 64)))
        last = i == len(names) - 1
        h = b.requant(acc, rows, n, shift, mult=1, lo=-128 if last else 0)
    program, constants = b.finish(h)
    spec = JobSpec(
        program,
        constants,
        batch=rows,
        data_slot=0,
        output_adapter=OutputAdapter(tuple([1.0] * widths[-1]), widths[-1]),
        meta={"example": f"random-mlp-{'-'.join(map(str, widths))}"},
    )
    data = rng.integers(-128, 128, (rows, widths[0])).astype(np.int8)
    return spec, data


def tiny_mlp(rows: int = 3, seed: int = 0) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    """64 -> 32 -> 32 on 3 rows: six ops, a two-chunk matmul, 3-leaf tensors (one padding leaf)."""
    return random_mlp((64, 32, 32), rows, seed)
