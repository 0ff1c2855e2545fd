"""What `poc compile` and `poc run` do, as functions (the CLI only parses and prints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.constants import DType
from node.program.spec import JobSpec

EXAMPLE_INPUTS = "inputs.npy"
EXAMPLE_LABELS = "labels.npy"


@dataclass
class CompileReport:
    out_dir: str
    program_root: str
    ops: int
    slots: int
    batch: int
    op_counts: dict[str, int]
    float_accuracy: float | None = None
    int_accuracy: float | None = None
    top1_agreement: float | None = None  # int program's class == float model's class
    example_inputs: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _report(spec: JobSpec, out: Path) -> CompileReport:
    counts: dict[str, int] = {}
    for op in spec.program.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return CompileReport(
        str(out),
        "0x" + spec.program.root.hex(),
        len(spec.program.ops),
        spec.program.n_slots,
        spec.batch,
        counts,
    )


def compile_example(name: str, out: Path, batch: int | None = None) -> CompileReport:
    """Train and compile a built-in example; also writes its test inputs and labels, and
    reports float vs int accuracy on them."""
    import torch

    from node.program.compiler.examples import accuracy, build_example, model_input

    spec, model, data = build_example(name, batch)
    spec.save(out)
    x = model_input(name, data.x_test).numpy()
    y = data.y_test.numpy()
    rows = min(len(y), spec.batch)
    np.save(out / EXAMPLE_INPUTS, x[:rows])
    np.save(out / EXAMPLE_LABELS, y[:rows])
    rep = _report(spec, out)
    with torch.no_grad():
        logits = model(data.x_test[:rows]).numpy()
    rep.float_accuracy = accuracy(logits, y[:rows])
    res = run_spec(out, out / EXAMPLE_INPUTS, "cpu", commit=Commit.NONE)
    assert res.output is not None
    rep.int_accuracy = accuracy(np.asarray(res.output), y[:rows])
    rep.top1_agreement = accuracy(np.asarray(res.output), logits.argmax(axis=1))
    rep.example_inputs = str(out / EXAMPLE_INPUTS)
    return rep


def compile_file(ref: str, out: Path, batch: int | None = None) -> CompileReport:
    import torch

    from node.program.compiler.config import CompileConfig
    from node.program.compiler.loader import load_model
    from node.program.compiler.lower import compile_model

    model, calib, file_batch = load_model(ref)
    calib_t = torch.as_tensor(np.asarray(calib) if not isinstance(calib, torch.Tensor) else calib)
    spec = compile_model(model, calib_t, CompileConfig(batch=batch or file_batch or 1))
    spec.meta["source"] = ref
    spec.save(out)
    return _report(spec, out)


@dataclass
class RunReport:
    rows: int
    device: str
    program_root: str
    output_slot: int
    output_root: str | None
    state_root: str | None
    output_proof: list[str] | None
    output_int: list[list[int]]
    output: list[list[float]] | None
    seconds: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_input(spec: JobSpec, path: Path) -> tuple[npt.NDArray[Any], int]:
    """(data slot, number of real rows) from a .npy or .safetensors file: an int8 array of
    the slot's exact shape is used as is; token ids fill an int32 slot (generation programs);
    anything else goes through the input adapter.
    InputFileError (a usage error naming the file) when it does not fit."""
    from node.compute.input_file import InputFileError, read_array
    from node.program.errors import ProgramError

    arr = read_array(path)
    ds = spec.data_spec
    if arr.dtype == np.int8 and arr.shape == (ds.rows, ds.cols):
        return arr, spec.batch
    if ds.dtype == DType.INT32:  # a generation program: token ids [T, 32] (id in column 0)
        ids = arr[:, 0] if arr.ndim == 2 else arr
        if arr.dtype.kind not in "iu" or ids.ndim != 1 or len(ids) != ds.rows:
            raise InputFileError(
                f"input {path}: this program takes {ds.rows} prompt token ids (int [T] or "
                f"[T, 32] with the id in column 0), not {arr.dtype}{list(arr.shape)}"
            )
        out = np.zeros((ds.rows, ds.cols), dtype=np.int32)
        out[:, 0] = ids
        return out, spec.batch
    try:
        return spec.quantize_input(arr), int(arr.shape[0])
    except ProgramError as exc:
        raise InputFileError(f"input {path} does not fit this job spec: {exc}") from None


def run_spec(
    spec_dir: Path,
    input_path: Path,
    device: str = "auto",
    labels: Path | None = None,
    commit: Commit = Commit.STATE,
) -> RunReport:
    spec = JobSpec.load(spec_dir)
    data, rows = load_input(spec, input_path)
    ex = Executor(spec.program, spec.constants, ComputeConfig(device=device))
    res = ex.run(spec.input_values(data), commit=commit)
    out_rows = rows * (spec.program.spec(spec.program.output_slot).rows // spec.batch)
    # a training job's output (weights and losses) is whole, whatever its input's rows
    q = res.output if "training" in spec.meta else res.output[:out_rows]
    deq = spec.output_adapter.dequantize(q) if spec.output_adapter else None
    rep = RunReport(
        rows,
        str(ex.device),
        "0x" + spec.program.root.hex(),
        spec.program.output_slot,
        "0x" + res.output_root.hex() if res.output_root else None,
        "0x" + res.state_root.hex() if res.state_root else None,
        ["0x" + s.hex() for s in res.output_proof] if res.output_proof else None,
        q.astype(np.int64).tolist(),
        deq.tolist() if deq is not None else None,
        res.seconds,
    )
    if labels is not None and deq is not None:
        y = np.load(labels)
        rep.accuracy = float((deq.argmax(axis=1) == y[:rows]).mean())
    return rep
