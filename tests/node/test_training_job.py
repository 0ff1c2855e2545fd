"""Training jobs (issue 15): `poc compile --train` builds one static op list from a dataset, an
MLP shape, steps, batch and a learning-rate schedule; the executor runs it; `poc train-weights`
turns its output into a float state dict that loads into the bias-free torch MLP. On a small
separable problem the integer job learns (its loss falls, its accuracy is near float SGD's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import save_file

from node.cli.compute_cmds import compile_cmd, train_weights_cmd
from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.compute.training_service import TRAIN_INPUT, lr_schedule
from node.program.compiler.training import (
    TrainingError,
    TrainJobConfig,
    build_training_job,
    epoch_batches,
    float_sgd,
    init_weights,
    mlp_logits,
    unpack_result,
)
from node.program.constants import Opcode
from node.program.spec import JobSpec

CPU = ComputeConfig(device="cpu")


def _blobs(n: int = 256, feats: int = 20, classes: int = 5, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(0, 1, (classes, feats))[y] + rng.normal(0, 0.6, (n, feats))
    return np.clip(x / 3, -1, 1).astype(np.float32), y.astype(np.int64)


def test_integer_job_learns_like_float_sgd() -> None:
    x, y = _blobs()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps = 40
    ws = init_weights([20, 32, 5], 1)
    batches = epoch_batches(len(y), steps, 32, 1)
    cfg = TrainJobConfig(steps=steps, batch=32, lr=0.3, seed=3)
    job = build_training_job(ws, xt, yt, 5, cfg, batches)
    counts = {c: sum(op.opcode == c for op in job.program.ops) for c in Opcode}
    assert counts[Opcode.UPDATE] == 2 * steps and counts[Opcode.TRANSPOSE] == 5 * steps
    out = Executor(job.program, job.constants, CPU).run([], commit=Commit.OUTPUT).output
    weights, losses = unpack_result(out, job.meta())
    assert [w.shape for w in weights] == [(32, 20), (5, 32)]
    fw, flosses = float_sgd(ws, xt, yt, batches, cfg)
    assert losses[0] == pytest.approx(flosses[0], abs=0.1)
    assert np.mean(losses[-5:]) < 0.5 * losses[0]
    int_acc = float((mlp_logits(weights, xt).argmax(1) == yt).float().mean())
    float_acc = float((mlp_logits(fw, xt).argmax(1) == yt).float().mean())
    assert int_acc > float_acc - 0.05, (int_acc, float_acc)


def test_lr_schedule_pieces_and_errors() -> None:
    assert lr_schedule("0.5", 3) == [0.5, 0.5, 0.5]
    assert lr_schedule("0.3,0.1@2,0.05@4", 5) == [0.3, 0.3, 0.1, 0.1, 0.05]
    for bad in ("x", "0.3,0.1", "0.3,0.1@3,0.2@2", "0,0.1@1", "-1"):
        with pytest.raises(TrainingError):
            lr_schedule(bad, 5)


def test_compile_train_run_and_state_dict(tmp_path: Path) -> None:
    x, y = _blobs(96, 24, 3, seed=2)
    data = tmp_path / "train.safetensors"
    save_file({"x": x, "y": y}, str(data))
    out = tmp_path / "job"
    runner = CliRunner()
    res = runner.invoke(
        compile_cmd,
        ["--train", "--data", str(data), "--hidden", "32", "--steps", "4",
         "--lr", "0.3,0.1@2", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    spec = JobSpec.load(out)
    table = np.load(out / TRAIN_INPUT)
    assert spec.data_spec.rows == 96 and table.dtype == np.int8
    result = Executor(spec.program, spec.constants, CPU).run(spec.input_values(table)).output
    np.save(tmp_path / "result.npy", result)
    sd_path = tmp_path / "state.pt"
    res = runner.invoke(
        train_weights_cmd, [str(out), str(tmp_path / "result.npy"), "--out", str(sd_path)]
    )
    assert res.exit_code == 0, res.output
    model = torch.nn.Sequential(
        torch.nn.Linear(24, 32, bias=False), torch.nn.ReLU(), torch.nn.Linear(32, 3, bias=False)
    )
    model.load_state_dict(torch.load(sd_path))
    assert model(torch.from_numpy(x)).shape == (96, 3)
    bad = runner.invoke(compile_cmd, ["--train", "--steps", "2", "--batch", "20",
                              "--out", str(tmp_path / "bad")])  # fmt: skip
    assert bad.exit_code != 0 and "multiple of 32" in str(bad.exception)


def test_fine_tuning_trains_the_head_only_like_float_sgd() -> None:
    """Frozen body (its int8 weights constants), head trained: one update and two transposes a
    step (no gradient into the body), the output holds the head alone, and the head learns as
    float SGD with the same frozen body does."""
    x, y = _blobs(seed=4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps = 40
    ws = init_weights([20, 64, 5], 2)
    batches = epoch_batches(len(y), steps, 32, 2)
    cfg = TrainJobConfig(steps=steps, batch=32, lr=0.3, seed=1, frozen=1)
    job = build_training_job(ws, xt, yt, 5, cfg, batches)
    counts = {c: sum(op.opcode == c for op in job.program.ops) for c in Opcode}
    assert counts[Opcode.UPDATE] == steps and counts[Opcode.TRANSPOSE] == 2 * steps
    assert job.meta()["training"]["frozen"] == 1
    out = Executor(job.program, job.constants, CPU).run([], commit=Commit.OUTPUT).output
    weights, losses = unpack_result(out, job.meta())
    assert [w.shape for w in weights] == [(5, 64)]
    fw, flosses = float_sgd(ws, xt, yt, batches, cfg)
    assert torch.equal(fw[0], ws[0])  # the reference keeps the body too
    assert losses[0] == pytest.approx(flosses[0], abs=0.1)
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    int_acc = float((mlp_logits([ws[0], weights[0]], xt).argmax(1) == yt).float().mean())
    float_acc = float((mlp_logits(fw, xt).argmax(1) == yt).float().mean())
    assert int_acc > float_acc - 0.05, (int_acc, float_acc)
    with pytest.raises(TrainingError, match="2 frozen layers of 2: at least the last"):
        build_training_job(ws, xt, yt, 5, TrainJobConfig(steps, frozen=2), batches)


def test_compile_fine_tune_a_new_head_from_a_state_dict(tmp_path: Path) -> None:
    """`poc compile --train --init SD --freeze 1 --new-head`: a trained body, a fresh head for a
    3-class task; `poc train-weights` gives back the head's weight under the model's own key."""
    x, y = _blobs(96, 24, 3, seed=5)
    data = tmp_path / "task.safetensors"
    save_file({"x": x, "y": y}, str(data))
    body = torch.nn.Sequential(
        torch.nn.Linear(24, 32, bias=False), torch.nn.ReLU(), torch.nn.Linear(32, 7, bias=False)
    )
    sd = tmp_path / "pretrained.pt"
    torch.save(body.state_dict(), sd)
    out = tmp_path / "head"
    runner = CliRunner()
    base = ["--train", "--data", str(data), "--steps", "4", "--out", str(out)]
    res = runner.invoke(compile_cmd, [*base, "--init", str(sd), "--freeze", "1", "--new-head"])
    assert res.exit_code == 0, res.output
    spec = JobSpec.load(out)
    table = np.load(out / TRAIN_INPUT)
    result = Executor(spec.program, spec.constants, CPU).run(spec.input_values(table)).output
    np.save(tmp_path / "result.npy", result)
    res = runner.invoke(
        train_weights_cmd,
        [str(out), str(tmp_path / "result.npy"), "--out", str(tmp_path / "head.pt")],
    )
    assert res.exit_code == 0, res.output
    head = torch.load(tmp_path / "head.pt")
    assert list(head) == ["2.weight"] and head["2.weight"].shape == (3, 32)
    body[2] = torch.nn.Linear(32, 3, bias=False)
    body.load_state_dict({"0.weight": body[0].weight, **head})
    assert body(torch.from_numpy(x)).shape == (96, 3)

    def refused(args: list[str], words: str) -> None:
        bad = runner.invoke(compile_cmd, [*base, *args])
        msg = str(bad.exception) + bad.output
        assert bad.exit_code != 0 and words in msg, msg

    refused(["--freeze", "1"], "--freeze and --new-head fine-tune the weights of --init")
    refused(["--init", str(sd), "--hidden", "16"], "--hidden and --init both give the shape")
    refused(["--init", str(sd), "--freeze", "2"], "--freeze 2: ")
    torch.save({"0.weight": torch.zeros(3, 24), "0.bias": torch.zeros(3)}, tmp_path / "b.pt")
    refused(["--init", str(tmp_path / "b.pt")], "0.bias: training jobs take bias-free MLPs")
    torch.save({"0.weight": torch.zeros(2, 24)}, tmp_path / "small.pt")
    refused(["--init", str(tmp_path / "small.pt")], "--new-head trains a fresh head")
    torch.save({"0.weight": torch.zeros(3, 10)}, tmp_path / "narrow.pt")
    refused(["--init", str(tmp_path / "narrow.pt")], "takes 10 features, the dataset has 24")
