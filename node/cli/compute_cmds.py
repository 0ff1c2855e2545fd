"""`poc compile` and `poc run`: argument parsing and printing only (node.compute.service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _emit(obj: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, indent=1))
    else:
        for line in lines:
            click.echo(line)


@click.command("compile")
@click.argument("model", required=False)
@click.option(
    "--example",
    type=click.Choice(["digits-mlp", "digits-cnn", "digits-resnet"]),
    help="train and compile a built-in example instead of MODEL",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="directory to write the job spec to (manifest.json + tensors.safetensors)",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=None,
    help="items per job (the program's batch)",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def compile_cmd(
    model: str | None, example: str | None, out: Path, batch: int | None, as_json: bool
) -> None:
    """Compile a float torch model into an integer tensor program.

    MODEL is a .py file or module defining build() -> (model, calibration), or `model` and
    `calibration` (and optionally `batch`)."""
    from node.compute import service

    if (model is None) == (example is None):
        raise click.UsageError("give exactly one of MODEL or --example")
    rep = (
        service.compile_example(example, out, batch)
        if example
        else service.compile_file(str(model), out, batch)
    )
    lines = [
        f"wrote {rep.out_dir}",
        f"program root {rep.program_root}",
        f"{rep.ops} ops, {rep.slots} slots, batch {rep.batch}: "
        + ", ".join(f"{k} {v}" for k, v in rep.op_counts.items()),
    ]
    if rep.float_accuracy is not None:
        lines.append(
            f"accuracy float {rep.float_accuracy:.4f}, int {rep.int_accuracy:.4f}; "
            f"top-1 agreement int vs float {rep.top1_agreement:.4f}"
        )
        lines.append(f"test inputs {rep.example_inputs}")
    _emit(rep.to_json(), as_json, lines)


@click.command("run")
@click.argument("spec", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help=".npy or .safetensors: float inputs, or the int8 data slot",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=".npy labels: report argmax accuracy",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def run_cmd(spec: Path, input_path: Path, device: str, labels: Path | None, as_json: bool) -> None:
    """Run a job spec on an input: output, output root and final state root S_N."""
    from node.compute import service

    rep = service.run_spec(spec, input_path, device, labels)
    lines = [
        f"device {rep.device}, {rep.rows} rows, {rep.seconds.get('total', 0.0) * 1e3:.1f} ms",
        f"program root {rep.program_root}",
        f"output root  {rep.output_root}",
        f"state root   {rep.state_root}",
    ]
    if rep.output is not None:
        preview = [[round(v, 3) for v in row] for row in rep.output[:3]]
        lines.append(f"output (dequantized, first rows) {preview}")
    if rep.accuracy is not None:
        lines.append(f"accuracy {rep.accuracy:.4f}")
    _emit(rep.to_json(), as_json, lines)
