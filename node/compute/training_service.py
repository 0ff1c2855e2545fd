"""`poc compile --train` and `poc train-weights` (issue 15): a training job from a dataset and
an MLP shape, and the trained weights back as a float PyTorch state dict. Argument parsing lives
in node/cli; this module does the work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.numpy import load_file

from node.compute.service import CompileReport, _report
from node.program.compiler.training import (
    TrainingError,
    TrainJobConfig,
    build_training_job,
    epoch_batches,
    init_weights,
    state_dict,
    unpack_result,
)
from node.program.spec import JobSpec

TRAIN_INPUT = "train_x.npy"  # the job's data input: the int8 dataset table


@dataclass(frozen=True)
class TrainRequest:
    hidden: tuple[int, ...]
    steps: int
    batch: int = 32
    lr: str = "0.1"  # one rate, or comma-separated `rate@from_step` pieces: 0.3,0.1@300
    seed: int = 0
    # fine-tuning: start from these weights (a state dict of the bias-free MLP, as
    # `poc train-weights` writes it), keep the first `freeze` layers fixed, and with `new_head`
    # replace the last layer by a fresh one sized for the dataset's classes
    init: Path | None = None
    freeze: int = 0
    new_head: bool = False


def load_init(path: Path) -> tuple[list[str], list[torch.Tensor]]:
    """(layer names, [out, in] weights) of a bias-free MLP's state dict, in layer order."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a state dict
        raise TrainingError(f"{path}: not a PyTorch state dict ({exc})") from None
    if not isinstance(sd, dict) or not sd:
        raise TrainingError(f"{path}: not a PyTorch state dict")
    names: list[str] = []
    ws: list[torch.Tensor] = []
    for key, value in sd.items():
        name, _, kind = str(key).rpartition(".")
        if kind != "weight":
            raise TrainingError(
                f"{path}: {key}: training jobs take bias-free MLPs (Linear(bias=False) "
                "layers with ReLU between them), whose state dict holds only `.weight`s"
            )
        if not isinstance(value, torch.Tensor) or value.dim() != 2:
            raise TrainingError(f"{path}: {key} is not a 2-D Linear weight")
        if ws and value.shape[1] != ws[-1].shape[0]:
            raise TrainingError(
                f"{path}: {key} takes {value.shape[1]} inputs but the layer before gives "
                f"{ws[-1].shape[0]}"
            )
        names.append(name)
        ws.append(value.detach().to(torch.float32).clone())
    return names, ws


def lr_schedule(text: str, steps: int) -> list[float]:
    """`0.3` (constant) or `0.3,0.1@300,0.03@400` (piecewise constant from the given steps)."""
    rates = [0.0] * steps
    pieces: list[tuple[int, float]] = []
    try:
        for k, part in enumerate(text.split(",")):
            rate_s, _, start_s = part.partition("@")
            pieces.append((int(start_s) if start_s else 0 if k == 0 else -1, float(rate_s)))
    except ValueError:
        raise TrainingError(f"learning rate {text!r}: expected 0.3 or 0.3,0.1@300") from None
    if any(s < 0 for s, _ in pieces) or pieces[0][0] != 0:
        raise TrainingError(f"learning rate {text!r}: every piece after the first needs @step")
    if [s for s, _ in pieces] != sorted({s for s, _ in pieces}):
        raise TrainingError(f"learning rate {text!r}: steps must increase")
    for (start, rate), nxt in zip(pieces, [*pieces[1:], (steps, 0.0)], strict=True):
        for t in range(min(start, steps), min(nxt[0], steps)):
            rates[t] = rate
    if any(r <= 0 for r in rates):
        raise TrainingError(f"learning rate {text!r}: every rate must be positive")
    return rates


def load_dataset(path: Path | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(x [n, features] float, y [n] class ids, classes) from a .safetensors with tensors `x`
    and `y`, or the digits training split when `path` is None."""
    if path is None:
        from node.program.compiler.examples import load_digits_split

        d = load_digits_split()
        return d.x_train.reshape(len(d.x_train), -1), d.y_train, 10
    tensors = load_file(str(path))
    if "x" not in tensors or "y" not in tensors:
        raise TrainingError(
            f"{path}: a training set holds tensors `x` and `y`, got {sorted(tensors)}"
        )
    x = torch.as_tensor(tensors["x"], dtype=torch.float32).reshape(len(tensors["x"]), -1)
    y = torch.as_tensor(tensors["y"]).to(torch.int64).reshape(-1)
    if len(x) != len(y) or y.min() < 0:
        raise TrainingError(f"{path}: {len(x)} rows of x, {len(y)} labels (ids >= 0)")
    return x, y, int(y.max()) + 1


def compile_training(data: Path | None, out: Path, req: TrainRequest) -> CompileReport:
    """Write the training job's spec to `out` (the dataset table is its data input, saved as
    `out/train_x.npy`) and report it."""
    x, y, classes = load_dataset(data)
    dims = [int(x.shape[1]), *req.hidden, classes]
    names = [f"{2 * i}" for i in range(len(dims) - 1)]
    if req.init is None:
        if req.freeze or req.new_head:
            raise TrainingError("--freeze and --new-head fine-tune the weights of --init")
        ws = init_weights(dims, req.seed)
    else:
        names, ws = load_init(req.init)
        if ws[0].shape[1] != x.shape[1]:
            raise TrainingError(
                f"{req.init} takes {ws[0].shape[1]} features, the dataset has {x.shape[1]}"
            )
        if req.new_head:
            ws[-1] = init_weights([int(ws[-1].shape[1]), classes], req.seed)[0]
        elif classes > ws[-1].shape[0]:
            raise TrainingError(
                f"the head of {req.init} has {ws[-1].shape[0]} outputs and the dataset "
                f"{classes} classes: --new-head trains a fresh head for them"
            )
        classes = int(ws[-1].shape[0])
        if not 0 <= req.freeze < len(ws):
            raise TrainingError(
                f"--freeze {req.freeze}: {req.init} has {len(ws)} layers, and at least the "
                "last one must train"
            )
    cfg = TrainJobConfig(
        steps=req.steps, batch=req.batch, lr=lr_schedule(req.lr, req.steps), seed=req.seed,
        frozen=req.freeze,
    )  # fmt: skip
    batches = epoch_batches(len(y), req.steps, req.batch, req.seed)
    job = build_training_job(ws, x, y, classes, cfg, batches)
    consts = dict(job.constants)
    data_slot = job.program.input_index("x")
    table = consts.pop(data_slot)
    spec = JobSpec(job.program, consts, req.batch, data_slot=data_slot, meta=job.meta())
    # the layer names of --init, else the keys of nn.Sequential(Linear(bias=False), ReLU(), ...)
    spec.meta["training"]["layers"] = names
    spec.save(out)
    np.save(out / TRAIN_INPUT, table)
    return _report(spec, out)


def training_state_dict(
    spec_dir: Path, output: Path, out: Path, names: Sequence[str] = ()
) -> dict[str, Any]:
    """The trained weights of a training job's output (a .npy of the int32 result tensor, as
    `poc run` or `poc job result --raw` writes it) as a float state dict saved with torch.save;
    returns a summary (layers, their shapes, the last step's loss)."""
    spec = JobSpec.load(spec_dir)
    if not is_training(spec.meta):
        raise TrainingError(f"{spec_dir} is not a training job (no training metadata)")
    return save_state_dict(np.load(output), spec.meta, out, names)


def is_training(meta: dict[str, Any]) -> bool:
    """Whether a spec's (or a posted job's) meta is a training job's."""
    return isinstance(meta.get("training"), dict)


def save_state_dict(
    result: npt.NDArray[np.integer],
    meta: dict[str, Any],
    out: Path,
    names: Sequence[str] = (),
) -> dict[str, Any]:
    """Save the float state dict of a training job's int32 output tensor `result` (its spec's
    `meta` says the layout and scales) with torch.save to `out`; `poc train-weights` and
    `poc job result --state-dict` both come here. Returns the summary they print."""
    weights, losses = unpack_result(result, meta)
    frozen = int(meta["training"].get("frozen", 0))
    # a fine-tuning job's output holds its trained layers only: the frozen ones are --init's
    known = meta["training"].get("layers") or [str(i) for i in range(frozen + len(weights))]
    layer_names = list(names) or known[frozen:]
    sd = state_dict(weights, layer_names)
    torch.save(sd, out)
    return {
        "out": str(out),
        "layers": {k: list(v.shape) for k, v in sd.items()},
        "loss_first": float(losses[0]) if len(losses) else None,
        "loss_last": float(losses[-1]) if len(losses) else None,
    }


def state_dict_lines(summary: dict[str, Any]) -> list[str]:
    """What the CLI prints of a `save_state_dict` summary."""
    lines = [f"wrote {summary['out']}"] + [f"  {k} {v}" for k, v in summary["layers"].items()]
    if summary["loss_last"] is not None:
        lines.append(
            f"loss per item: first step {summary['loss_first']}, last {summary['loss_last']}"
        )
    return lines
