"""Which job `poc job post` posts: a compiled spec dir with an input file (or the example
inputs `poc compile --example` wrote next to it), or a built-in example.

An input of fewer items than the program's batch is padded to the batch (the program's shapes
are fixed); the package's manifest then records the real item and output rows (`meta`), so that
`poc job result` returns the poster's rows, not the padding's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.program.spec import JobSpec
from node.roles.errors import JobPackageError

INPUT_ROWS = "input_rows"  # spec.meta: the poster's items, when fewer than the batch
OUTPUT_ROWS = "output_rows"  # spec.meta: the output rows those items give


def load_job(
    spec_dir: Path | None, example: str | None, input_path: Path | None
) -> tuple[JobSpec, npt.NDArray[Any]]:
    if example is not None:
        return _example(example)
    assert spec_dir is not None
    from node.compute.service import EXAMPLE_INPUTS, load_input

    spec = JobSpec.load(spec_dir)
    path = input_path or spec_dir / EXAMPLE_INPUTS
    if not path.exists():
        raise JobPackageError(f"no input: pass --input (no {EXAMPLE_INPUTS} in {spec_dir})")
    data, rows = load_input(spec, path)
    return with_real_rows(spec, rows), data


def with_real_rows(spec: JobSpec, rows: int) -> JobSpec:
    """`spec` recording that only its first `rows` items are real (nothing when all are)."""
    if rows >= spec.batch:
        return spec
    per_item = spec.program.spec(spec.program.output_slot).rows // spec.batch
    meta = {**spec.meta, INPUT_ROWS: rows, OUTPUT_ROWS: rows * per_item}
    return dataclasses.replace(spec, meta=meta)


def padding_note(spec: JobSpec) -> str | None:
    """What the poster must know about a padded input, or None."""
    rows = spec.meta.get(INPUT_ROWS)
    if rows is None:
        return None
    return (
        f"the input has {rows} item(s) and the program a batch of {spec.batch}: it is padded "
        f"with {spec.batch - rows} zero item(s), computed (and paid for) like the rest; "
        f"`poc job result` returns the {spec.meta[OUTPUT_ROWS]} output row(s) of your items"
    )


def posted_meta(ctx: Any, job_id: int) -> dict[str, Any]:
    """The `meta` of the spec job `job_id` was posted with ({} when its package has none).
    Reads the package index and its manifest only (node.roles.package: `manifest` is the
    manifest's CID), not the tensors."""
    index = json.loads(ctx.store.get(ctx.deployment.market.spec_locator(job_id)))
    manifest = json.loads(ctx.store.get(index["manifest"]))
    meta = manifest.get("meta") if isinstance(manifest, dict) else None
    return meta if isinstance(meta, dict) else {}


def posted_output_rows(ctx: Any, job_id: int) -> int | None:
    """The real output rows job `job_id` was posted with (its package's manifest), None when
    its input filled the batch or the package does not say."""
    rows = posted_meta(ctx, job_id).get(OUTPUT_ROWS)
    return rows if isinstance(rows, int) and rows > 0 else None


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
