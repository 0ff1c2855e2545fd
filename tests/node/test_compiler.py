"""The compiler: accuracy on real data (sklearn digits), requant precision, bit-exactness across
batch sizes and runs, fx-traced models, named errors, and the torch-free core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.compiler.config import CompileConfig
from node.program.compiler.errors import UnsupportedLayer
from node.program.compiler.examples import accuracy, build_example, model_input
from node.program.compiler.lower import compile_model
from node.program.compiler.quantize import fixed_point
from node.program.constants import Opcode
from node.program.ops import Op
from node.program.reference import requant_values
from node.program.spec import JobSpec


@pytest.fixture(scope="module", params=["digits-mlp", "digits-cnn", "digits-resnet"])
def example(request: pytest.FixtureRequest) -> tuple[str, JobSpec, nn.Module, object]:
    spec, model, data = build_example(request.param)
    return request.param, spec, model, data


def _run(spec: JobSpec, x: np.ndarray, commit: Commit = Commit.STATE):  # type: ignore[no-untyped-def]
    ex = Executor(spec.program, spec.constants, ComputeConfig(device="cpu"))
    return ex.run(spec.input_values(spec.quantize_input(x)), commit=commit)


def test_int_accuracy_is_within_one_point_of_float(example, capsys) -> None:  # type: ignore[no-untyped-def]
    name, spec, model, data = example
    y = data.y_test.numpy()
    with torch.no_grad():
        f_acc = accuracy(model(data.x_test).numpy(), y)
    res = _run(spec, model_input(name, data.x_test).numpy())
    i_acc = accuracy(spec.output_adapter.dequantize(res.output, len(y)), y)
    with capsys.disabled():
        print(f"\n{name}: float {f_acc:.4f} int {i_acc:.4f} on {len(y)} test digits")
    assert f_acc > 0.9
    assert i_acc >= f_acc - 0.01


def test_top1_agrees_with_float_on_held_out_and_generated_digits(example, capsys) -> None:  # type: ignore[no-untyped-def]
    """Held out: the test split. Generated here: the test digits with pixel noise, and shifted
    by one pixel (inputs the model never saw, some outside the calibration range)."""
    name, spec, model, data = example
    g = torch.Generator().manual_seed(5)
    sets = {
        "held-out": data.x_test,
        "noisy": (data.x_test + 0.15 * torch.randn(data.x_test.shape, generator=g)).clamp(0, 1),
        "shifted": torch.roll(data.x_test, shifts=1, dims=3),
    }
    for what, x in sets.items():
        with torch.no_grad():
            ref = model(x).numpy()
        got = spec.output_adapter.dequantize(
            _run(spec, model_input(name, x).numpy()).output, len(x)
        )
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        with capsys.disabled():
            print(f"\n{name}: top-1 agreement int vs float {agree:.4f} on {len(x)} {what} digits")
        assert agree >= 0.97, (what, agree)


def test_rows_of_a_batch_equal_single_row_runs(example) -> None:  # type: ignore[no-untyped-def]
    name, spec, model, data = example
    x = model_input(name, data.x_test[:5]).numpy()
    calib = model_input(name, data.x_train)
    compiled = nn.Sequential(*list(model.children())[1:]) if name == "digits-mlp" else model
    one = compile_model(compiled, calib, CompileConfig(batch=1))
    five = compile_model(compiled, calib, CompileConfig(batch=5))
    assert one.constants.keys() == five.constants.keys()
    assert all((one.constants[k] == five.constants[k]).all() for k in one.constants)
    batched = _run(five, x).output
    for i in range(5):
        assert (_run(one, x[i : i + 1]).output[0] == batched[i]).all()
    # and the same program twice gives the same claim
    assert _run(five, x).state_root == _run(five, x).state_root


def test_job_spec_round_trips_through_disk(example, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, spec, _, data = example
    spec.save(tmp_path)
    back = JobSpec.load(tmp_path)
    assert back.program == spec.program and back.program.root == spec.program.root
    x = model_input(name, data.x_test).numpy()
    assert _run(back, x).state_root == _run(spec, x).state_root


@settings(max_examples=200, deadline=None)
@given(m=st.floats(1e-6, 1e3), x=st.integers(-(2**31), 2**31 - 1))
def test_requant_is_within_half_an_lsb_of_the_float_reference(m: float, x: int) -> None:
    mult, shift = fixed_point(m)
    op = Op(Opcode.REQUANT, out=1, a=0, mult=int(mult[0]), shift=shift, lo=-128, hi=127, M=1, N=32)
    y = int(requant_values(np.array([x], dtype=np.int64), int(mult[0]), op)[0])
    exact = x * m
    # multiplier rounding adds |x| * 2^-(shift+1) at most
    tol = 0.5 + abs(x) * 2.0 ** -(shift + 1) + 1e-9
    if -128 <= exact <= 127:
        assert abs(y - exact) <= tol
    else:
        assert y == (127 if exact > 0 else -128) or abs(y - exact) <= tol


class _Traced(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 40)
        self.fc2 = nn.Linear(40, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)).sigmoid())


def test_fx_traced_module_with_table_activations_tracks_float() -> None:
    torch.manual_seed(0)
    model = _Traced().eval()
    x = torch.randn(256, 20)
    spec = compile_model(model, x, CompileConfig(batch=256))
    assert {op.opcode for op in spec.program.ops} >= {Opcode.LUT, Opcode.MATMUL, Opcode.REQUANT}
    out = spec.output_adapter.dequantize(_run(spec, x.numpy()).output)
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * x  # a product of activations: no op computes it


def test_unsupported_models_raise_named_errors() -> None:
    with pytest.raises(UnsupportedLayer, match="mul"):
        compile_model(_Gated(), torch.randn(4, 32), CompileConfig())
    with pytest.raises(UnsupportedLayer, match="0 \\(LSTM\\)"):
        compile_model(nn.Sequential(nn.LSTM(4, 4)), torch.randn(4, 4), CompileConfig())


def test_core_modules_do_not_import_torch() -> None:
    code = (
        "import sys; import node.program.ops, node.program.merkle, node.program.reference, "
        "node.program.vectors, node.program.spec, node.program.program, node.program.compiler.builder; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
