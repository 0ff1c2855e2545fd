"""Issue 15: `poc job result --state-dict` fetches a training job's output, checks it against the
chain's output root, and writes the float state dict `poc train-weights` would write from the
raw output; it refuses a job that is not a training job, naming the job and its kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from click.testing import CliRunner
from roles_support import ETHER, TERMS, advance, drive, post_tiny
from safetensors.numpy import save_file

from node.chain.contracts.job_market import JobState
from node.cli import job_cmds
from node.cli.compute_cmds import train_weights_cmd
from node.compute.training_service import TRAIN_INPUT, TrainRequest, compile_training
from node.program.spec import JobSpec
from node.roles.client import JobClient
from node.roles.provider import Provider

POSTER, PROVIDER = 1, 2


def _training_spec(tmp_path: Path) -> tuple[Path, torch.Tensor]:
    """The smallest training job: 64 rows of 16 features, 3 classes, one hidden layer of 32,
    two steps of one batch of 32."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 64)
    x = np.clip(rng.normal(0, 1, (3, 16))[y] / 3 + rng.normal(0, 0.2, (64, 16)), -1, 1)
    data = tmp_path / "train.safetensors"
    save_file({"x": x.astype(np.float32), "y": y.astype(np.int64)}, str(data))
    spec_dir = tmp_path / "job"
    compile_training(data, spec_dir, TrainRequest(hidden=(32,), steps=2, lr="0.3"))
    return spec_dir, torch.from_numpy(x.astype(np.float32))


def test_job_result_writes_the_state_dict_train_weights_writes(
    chain: Any, make_ctx: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    spec_dir, x = _training_spec(tmp_path)
    client = JobClient(make_ctx(POSTER, "poster"))
    provider = Provider(make_ctx(PROVIDER, "provider"))
    provider.stake(ETHER)
    job_id = client.post(JobSpec.load(spec_dir), np.load(spec_dir / TRAIN_INPUT), TERMS)
    market = client.ctx.deployment.market
    drive(chain, [provider], lambda: market.job(job_id).current_claim != 0)
    advance(chain, TERMS.challenge_window + 1)
    drive(chain, [provider], lambda: market.job(job_id).state == JobState.FINALIZED)
    monkeypatch.setattr(job_cmds, "_client", lambda *_a, **_k: client)

    runner = CliRunner()
    via_result, raw = tmp_path / "result.pt", tmp_path / "raw.npy"
    shown = runner.invoke(
        job_cmds.job,
        ["result", str(job_id), "--raw", "--out", str(raw), "--state-dict", str(via_result)],
    )
    assert shown.exit_code == 0, shown.output
    assert "verified against" in shown.output and f"wrote {via_result}" in shown.output
    assert "0.weight [32, 16]" in shown.output and "2.weight [3, 32]" in shown.output
    assert "loss per item" in shown.output
    via_weights = tmp_path / "weights.pt"
    made = runner.invoke(train_weights_cmd, [str(spec_dir), str(raw), "--out", str(via_weights)])
    assert made.exit_code == 0, made.output
    ours, theirs = torch.load(via_result), torch.load(via_weights)
    assert list(ours) == list(theirs) == ["0.weight", "2.weight"]
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32, bias=False), torch.nn.ReLU(), torch.nn.Linear(32, 3, bias=False)
    )
    model.load_state_dict(ours)
    assert model(x).shape == (64, 3)

    # --out is optional with --state-dict; --json says what was written
    alone = tmp_path / "alone.pt"
    shown = runner.invoke(
        job_cmds.job, ["result", str(job_id), "--state-dict", str(alone), "--json"]
    )
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)["state_dict"]
    assert summary["layers"] == {"0.weight": [32, 16], "2.weight": [3, 32]}
    assert summary["loss_last"] is not None and summary["loss_last"] > 0
    assert torch.equal(torch.load(alone)["2.weight"], ours["2.weight"])


def test_job_result_refuses_a_state_dict_of_a_job_that_is_not_training(
    make_ctx: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    client = JobClient(make_ctx(POSTER, "poster"))
    job_id = post_tiny(client.ctx)
    monkeypatch.setattr(job_cmds, "_client", lambda *_a, **_k: client)
    sd = tmp_path / "w.pt"
    refused = CliRunner().invoke(job_cmds.job, ["result", str(job_id), "--state-dict", str(sd)])
    assert refused.exit_code == 2 and not sd.exists()
    assert f"job {job_id} is not a training job (kind: inference;" in refused.output
    neither = CliRunner().invoke(job_cmds.job, ["result", str(job_id)])
    assert neither.exit_code == 2 and "--state-dict" in neither.output
