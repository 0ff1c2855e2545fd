"""Exit codes agree with the table of docs/operator.md section 7 (issue 17 item 8): every code
a PocError subclass carries is in the table and every row is used; the real commands exit with
the documented code and one `error:` line for a bad manifest, an unknown op, a manifest whose
root does not match its ops, a model file that cannot be compiled, a second `devnet up` and a
bad `--input` file (unstaking more than the free stake: tests/node/roles/test_cli_errors.py)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import node
from node.errors import PocError

ROOT = Path(__file__).resolve().parents[2]
POC = [sys.executable, "-m", "node.cli.main"]
MODEL = """
import torch
from torch import nn

batch = 4


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 48), nn.ReLU(), nn.Linear(48, 3))


def calibration():
    return torch.randn(64, 10)
"""


def _documented() -> dict[int, str]:
    text = (ROOT / "docs" / "operator.md").read_text()
    section = text.split("## 7. Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def _subclasses(cls: type[PocError]) -> Iterator[type[PocError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _import_all_of_node() -> None:
    for info in pkgutil.walk_packages(node.__path__, "node."):
        if info.name.startswith("node.devnet.pytest_fixtures"):
            continue  # a pytest plugin, not the node
        importlib.import_module(info.name)


def test_every_exit_code_is_documented_and_every_row_is_used() -> None:
    from node.chain.revert_text import EXIT_CODES

    _import_all_of_node()
    table = _documented()
    carried = {
        f"{c.__module__}.{c.__qualname__}": c.exit_code
        for c in _subclasses(PocError)
        if c.__module__.startswith("node.")
    }
    undocumented = {name: code for name, code in carried.items() if code not in table}
    assert not undocumented, f"exit codes missing from docs/operator.md section 7: {undocumented}"
    # 0 done, 1 a bug, 2 also click's usage errors, 130 Ctrl-C: the CLI's own
    used = set(carried.values()) | set(EXIT_CODES.values()) | {0, 1, 2, 130}
    assert set(table) == used, f"rows of no error: {set(table) - used}"


def _poc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(POC + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _said(res: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    for word in words:
        assert word in res.stderr, (word, res.stderr)


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job spec compiled by the real command from a file whose model and calibration are
    functions (issue 17 item 12)."""
    work = tmp_path_factory.mktemp("spec")
    (work / "model.py").write_text(MODEL)
    res = _poc(["compile", "model.py", "--out", "spec", "--json"], work)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["batch"] == 4
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    np.save(work / "x.npy", x)
    return work / "spec"


def _broken_copy(spec_dir: Path, tmp_path: Path, edit: str) -> Path:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tensors.safetensors").write_bytes((spec_dir / "tensors.safetensors").read_bytes())
    manifest = json.loads((spec_dir / "manifest.json").read_text())
    if edit == "root":
        manifest["program_root"] = "0x" + "00" * 32
    elif edit == "opcode":
        manifest["ops"][0]["opcode"] = 99
    (bad / "manifest.json").write_text("{not json" if edit == "json" else json.dumps(manifest))
    return bad


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("json", ["manifest.json is not JSON"]),
        ("root", ["program_root does not match the ops"]),
        ("opcode", ["99"]),
    ],
    ids=["bad manifest", "root mismatch", "unknown op"],
)
def test_an_invalid_job_spec_exits_11(
    spec_dir: Path, tmp_path: Path, edit: str, words: list[str]
) -> None:
    bad = _broken_copy(spec_dir, tmp_path, edit)
    res = _poc(["run", str(bad), "--input", str(spec_dir.parent / "x.npy")], tmp_path)
    _said(res, 11, "error: ", *words)


def test_a_model_file_of_functions_compiles_and_runs(spec_dir: Path, tmp_path: Path) -> None:
    res = _poc(
        ["run", str(spec_dir), "--input", str(spec_dir.parent / "x.npy"), "--json"], tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["output"]) == 3  # the input's 3 rows, not the batch's 4


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("weights = 1\n", ["defines none of build, model, calibration", "must define either"]),
        (
            "def model(x):\n    return x\n\ncalibration = [[1.0]]\n",
            ["model() takes arguments; it must take none"],
        ),
        (
            "import torch\nmodel = torch.nn.Linear(3, 2)\n\ndef calibration():\n    return 'x'\n",
            ["the calibration is a str", "not example inputs [N, ...]"],
        ),
        ("def build():\n    raise RuntimeError('no data here')\n", ["build() raised RuntimeError"]),
        (
            "import torch\nmodel = torch.nn.Linear(3, 2)\ncalibration = torch.zeros(4, 3)\nbatch = 0\n",
            ["`batch` is 0"],
        ),
    ],
    ids=["nothing defined", "forward function", "bad calibration", "build raises", "bad batch"],
)
def test_a_model_file_poc_cannot_compile_exits_17_saying_what_it_must_define(
    tmp_path: Path, source: str, words: list[str]
) -> None:
    (tmp_path / "model.py").write_text(source)
    res = _poc(["compile", "model.py", "--out", "spec"], tmp_path)
    _said(res, 17, "error: model.py", *words)


def test_a_second_devnet_up_exits_5(tmp_path: Path) -> None:
    """A devnet recorded in the data dir whose process still runs: `devnet up` refuses."""
    from node.devnet.devnet import DevnetState

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        state = tmp_path / "data" / "devnet" / "devnet.json"
        state.parent.mkdir(parents=True)
        state.write_text(
            json.dumps(
                dataclasses.asdict(
                    DevnetState(
                        anvil_pid=running.pid,
                        rpc_url="http://127.0.0.1:1",
                        chain_id=31337,
                        ipfs_pid=None,
                        ipfs_api=None,
                        config_path=str(tmp_path / "data" / "config.json"),
                        contracts={},
                    )
                )
            )
        )
        res = _poc(["devnet", "up", "--data-dir", str(tmp_path / "data")], tmp_path)
        _said(res, 5, "a devnet is already running", "`poc devnet down` first")
    finally:
        running.kill()
        running.wait()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("x.npy", b"1,2,3\n4,5,6\n", ["is not a .npy file", "numpy.save"]),
        ("x.csv", b"1,2,3\n", ["a .csv file; the input must be .npy or .safetensors"]),
        ("x.npz", None, ["a .npz file"]),
        ("z.npy", b"npz", ["is a zip archive"]),
        ("o.npy", b"objects", ["holds Python objects, not numbers"]),
        ("w.npy", b"wrong shape", ["does not fit this job spec", "expected [B, 10]"]),
        ("t.npy", b"truncated", ["truncated or corrupt"]),
    ],
)
def test_a_bad_input_file_is_a_usage_error_naming_the_file(
    spec_dir: Path, tmp_path: Path, name: str, content: bytes | None, words: list[str]
) -> None:
    path = tmp_path / name
    if content == b"npz" or content is None:
        np.savez(path if content is None else tmp_path / "a.npz", x=np.zeros((3, 10)))
        if content == b"npz":
            path.write_bytes((tmp_path / "a.npz").read_bytes())
        else:
            path = tmp_path / "x.npz"
    elif content == b"objects":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif content == b"wrong shape":
        np.save(path, np.zeros((3, 7), dtype=np.float32))
    elif content == b"truncated":
        np.save(path, np.zeros((3, 10), dtype=np.float32))
        path.write_bytes(path.read_bytes()[:-40])
    else:
        path.write_bytes(content)
    commands = [["run", str(spec_dir)]]
    if name == "x.npy":  # `job post` reads its input the same way, before it needs a chain
        commands.append(["job", "post", str(spec_dir)])
    for command in commands:
        res = _poc([*command, "--input", str(path)], tmp_path)
        _said(res, 2, f"error: input {path}", *words)


def test_out_into_a_missing_folder_is_refused_before_any_download(tmp_path: Path) -> None:
    res = _poc(["job", "result", "1", "--out", str(tmp_path / "no" / "such" / "y.npy")], tmp_path)
    assert res.returncode == 2 and "the folder" in res.stderr and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr
