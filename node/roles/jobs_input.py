"""Which job `poc job post` posts: a compiled spec dir with an input file (or the example
inputs `poc compile --example` wrote next to it), or a built-in example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from node.program.spec import JobSpec
from node.roles.errors import JobPackageError


def load_job(
    spec_dir: Path | None, example: str | None, input_path: Path | None
) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    if example is not None:
        return _example(example)
    assert spec_dir is not None
    from node.compute.service import EXAMPLE_INPUTS, load_input

    spec = JobSpec.load(spec_dir)
    path = input_path or spec_dir / EXAMPLE_INPUTS
    if not path.exists():
        raise JobPackageError(f"no input: pass --input (no {EXAMPLE_INPUTS} in {spec_dir})")
    data, _rows = load_input(spec, path)
    return spec, data


def _example(name: str) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    from node.roles.examples import tiny_mlp

    if name == "tiny-mlp":
        return tiny_mlp()
    if name == "mlp-784":
        return mnist_shaped_mlp()
    if name == "digits-mlp":
        from node.program.compiler.examples import build_example, model_input

        spec, _model, data = build_example(name, batch=8)
        x = model_input(name, data.x_test[: spec.batch]).numpy()
        return spec, spec.quantize_input(x)
    raise JobPackageError(f"unknown example {name!r}")


def mnist_shaped_mlp(rows: int = 4, seed: int = 7) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    """784-256-256-10 with random int8 weights; 784 and 10 padded to 800 and 32 columns
    (protocol.md §2: every tensor's cols are a multiple of 32)."""
    from node.roles.examples import random_mlp

    return random_mlp((800, 256, 256, 32), rows, seed)
