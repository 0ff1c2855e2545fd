"""`poc compile` and `poc run`: argument parsing and printing only (node.compute.service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from node.cli.generation_options import (
    GenerationArgs,
    compiled_lines,
    generation_args,
    generation_options,
)


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
    type=click.Choice(["digits-mlp", "digits-cnn", "digits-resnet", "tiny-gpt"]),
    help="train and compile a built-in example instead of MODEL (tiny-gpt: a generation job)",
)
@generation_options
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
@click.option(
    "--train",
    is_flag=True,
    help="compile a training job: an MLP (--hidden) trained by integer SGD on --data",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="--train: .safetensors with `x` [n, features] and `y` [n] (default: the digits set)",
)
@click.option("--hidden", default=None, help="--train: hidden widths  [default: 128,64]")
@click.option(
    "--init",
    "init_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="--train: start from this bias-free MLP's state dict (as `poc train-weights` writes "
    "it) instead of random weights: fine-tuning",
)
@click.option(
    "--freeze",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="--train --init: keep the first N layers fixed (N = layers - 1: train the head only)",
)
@click.option(
    "--new-head",
    is_flag=True,
    help="--train --init: replace the last layer by a fresh one sized for --data's classes",
)
@click.option("--steps", type=click.IntRange(min=1), default=450, show_default=True)
@click.option(
    "--lr", default="0.3", show_default=True, help="--train: 0.3, or a schedule 0.3,0.1@300"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def compile_cmd(
    model: str | None,
    example: str | None,
    hf_dir: Path | None,
    prompt: str | None,
    prompt_ids: str | None,
    max_new_tokens: int | None,
    out: Path,
    batch: int | None,
    train: bool,
    data: Path | None,
    hidden: str | None,
    init_path: Path | None,
    freeze: int,
    new_head: bool,
    steps: int,
    lr: str,
    seed: int,
    as_json: bool,
) -> None:
    """Compile a float torch model into an integer tensor program, or (--train) an integer
    training job.

    MODEL is a .py file or module defining build() -> (model, calibration), or `model` and
    `calibration` (and optionally `batch`). --example tiny-gpt and --hf DIR compile a
    generation job: the prompt's prefill and greedy decode steps over a KV cache."""
    from node.compute import service

    source = None if example else ("--train" if train else f"MODEL {model}")
    gen = generation_args(example, hf_dir, prompt, prompt_ids, max_new_tokens, source)
    if train:
        from node.compute import training_service as ts

        if init_path is not None and hidden is not None:
            raise click.UsageError("--hidden and --init both give the shape: keep one")
        try:
            widths = tuple(int(w) for w in (hidden or "128,64").split(",") if w)
        except ValueError:
            raise click.UsageError(f"--hidden {hidden!r}: comma-separated widths") from None
        req = ts.TrainRequest(
            widths, steps, batch or 32, lr, seed, init_path, freeze, new_head
        )  # fmt: skip
        rep = ts.compile_training(data, out, req)
        lines = [
            f"wrote {rep.out_dir} (job input: {out / ts.TRAIN_INPUT})",
            f"program root {rep.program_root}",
            f"{rep.ops} ops ({steps} steps), {rep.slots} slots",
        ]
        _emit(rep.to_json(), as_json, lines)
        return
    if sum(x is not None for x in (model, example, hf_dir)) != 1:
        raise click.UsageError("give exactly one of MODEL, --example or --hf")
    if gen is not None:
        _compile_llm(gen, out, as_json)
        return
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


def _compile_llm(gen: GenerationArgs, out: Path, as_json: bool) -> None:
    rep = gen.compile(out)
    text = rep.generated_text
    lines = [
        f"wrote {rep.out_dir} (prompt ids in {rep.inputs})",
        *compiled_lines(rep),
        f"generated ids {rep.generated_ids}",
        *([f"generated text {text!r}"] if text is not None else []),
        f"{rep.float_match} of {rep.max_new_tokens} greedy tokens match the float model's",
    ]
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


@click.command("train-weights")
@click.argument("spec", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("output", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def train_weights_cmd(spec: Path, output: Path, out: Path, as_json: bool) -> None:
    """Turn a training job's output (the int32 result tensor, .npy, from `poc run` or
    `poc job result --raw`) into a float PyTorch state dict (torch.save)."""
    from node.compute.training_service import state_dict_lines, training_state_dict

    summary = training_state_dict(spec, output, out)
    _emit(summary, as_json, state_dict_lines(summary))
