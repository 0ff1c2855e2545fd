"""`poc compile` and `poc run` end to end through click, on a model file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from node.cli.compute_cmds import compile_cmd, run_cmd

MODEL = """
import torch
from torch import nn

batch = 4


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 48), nn.ReLU(), nn.Linear(48, 3))
    return model, torch.randn(64, 10)
"""


def test_compile_then_run_a_model_file(tmp_path: Path) -> None:
    src = tmp_path / "model.py"
    src.write_text(MODEL)
    out = tmp_path / "job"
    runner = CliRunner()
    r = runner.invoke(compile_cmd, [str(src), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["batch"] == 4 and rep["op_counts"] == {"matmul": 2, "add": 2, "requant": 1}
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    runs = [
        json.loads(
            runner.invoke(
                run_cmd, [str(out), "--input", str(tmp_path / "x.npy"), "--device", "cpu", "--json"]
            ).output
        )
        for _ in range(2)
    ]
    assert runs[0]["state_root"] == runs[1]["state_root"]
    assert runs[0]["program_root"] == rep["program_root"]
    assert len(runs[0]["output"]) == 3 and len(runs[0]["output"][0]) == 3
    assert len(runs[0]["output_int"][0]) == 32  # padded columns of the int output


def test_compile_needs_a_model_or_an_example(tmp_path: Path) -> None:
    r = CliRunner().invoke(compile_cmd, ["--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "exactly one" in r.output
