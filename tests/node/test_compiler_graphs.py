"""The compiler on graphs, not chains: BatchNorm folding (the folded float model equals the
original), residual adds (qadd), fan-out, max/average/global pooling (gmax, gsum, chained past
MAX_GROUP), and the errors that name the layer the compiler cannot lower. The integer program
runs on the executor and is compared with the float model it came from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from node.compute.config import ComputeConfig
from node.compute.executor import Commit, Executor
from node.program.compiler.config import CompileConfig
from node.program.compiler.errors import UnsupportedLayer
from node.program.compiler.graph import fold_batchnorm
from node.program.compiler.lower import compile_model
from node.program.constants import MAX_GROUP, Opcode
from node.program.spec import JobSpec


def _int_output(spec: JobSpec, x: torch.Tensor) -> np.ndarray:
    ex = Executor(spec.program, spec.constants, ComputeConfig(device="cpu"))
    res = ex.run(spec.input_values(spec.quantize_input(x.numpy())), commit=Commit.NONE)
    assert spec.output_adapter is not None
    return spec.output_adapter.dequantize(res.output, len(x))


def _compare(
    model: nn.Module, calib: torch.Tensor, x: torch.Tensor
) -> tuple[JobSpec, float, float]:
    """(spec, top-1 agreement, max |int - float| / max |float|) on held-out `x`."""
    spec = compile_model(model, calib, CompileConfig(batch=len(x)))
    got = _int_output(spec, x)
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    return spec, agree, float(np.abs(got - ref).max() / np.abs(ref).max())


def _opcodes(spec: JobSpec) -> list[Opcode]:
    return [Opcode(op.opcode) for op in spec.program.ops]


def _randomize_bn(model: nn.Module, g: torch.Generator) -> nn.Module:
    """Running statistics and affine parameters far from the identity, as after training."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


# ---- the user report: BatchNorm2d after a conv and a MaxPool2d ----


class _SmallBNCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn(self.conv(x))))
        return self.fc(x.view(x.size(0), -1))


def test_small_cnn_with_batchnorm_and_maxpool_compiles_and_tracks_float() -> None:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = _randomize_bn(_SmallBNCNN(), g)
    calib, x = torch.randn(256, 3, 8, 8, generator=g), torch.randn(64, 3, 8, 8, generator=g)
    spec, agree, err = _compare(model, calib, x)
    ops = _opcodes(spec)
    assert Opcode.GMAX in ops and ops.count(Opcode.MATMUL) == 2  # BN left no op of its own
    assert agree >= 0.95 and err < 0.05, (agree, err)


# ---- folding ----


@settings(max_examples=40, deadline=None)
@given(
    conv=st.booleans(),
    cin=st.integers(1, 12),
    cout=st.integers(1, 12),
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_folded_model_equals_the_original(
    conv: bool, cin: int, cout: int, k: int, stride: int, bias: bool, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    layer: nn.Module
    if conv:
        layer = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
        norm: nn.Module = nn.BatchNorm2d(cout)
        x = torch.randn(8, cin, 6, 6, generator=g)
    else:
        layer, norm = nn.Linear(cin, cout, bias=bias), nn.BatchNorm1d(cout)
        x = torch.randn(8, cin, generator=g)
    model = _randomize_bn(nn.Sequential(layer, norm, nn.ReLU()), g)
    before = layer.weight.detach().clone()
    folded = fold_batchnorm(model)
    called = [
        folded.get_submodule(str(n.target)) for n in folded.graph.nodes if n.op == "call_module"
    ]
    assert not any(isinstance(m, type(norm)) for m in called)
    with torch.no_grad():
        want, got = model(x), folded(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), float((got - want).abs().max())
    assert torch.equal(layer.weight, before)  # the caller's model is not touched


class _NormFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


class _NormOfShared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.bn(y) + y  # folding would change the other reader of conv's output


@pytest.mark.parametrize(
    ("model", "where", "why"),
    [
        (_NormFirst(), "norm (BatchNorm2d)", "the model input"),
        (
            nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8)),
            "2 (BatchNorm2d)",
            "(ReLU)",
        ),
        (_NormOfShared(), "bn (BatchNorm2d)", "whose output 2 nodes read"),
    ],
)
def test_batchnorm_that_cannot_fold_is_named(model: nn.Module, where: str, why: str) -> None:
    with pytest.raises(UnsupportedLayer) as err:
        compile_model(model, torch.randn(4, 3, 8, 8), CompileConfig())
    msg = str(err.value)
    assert where in msg and why in msg and "fold" in msg, msg


# ---- unsupported layers: one message, the module path and what is supported ----


class _Bottleneck(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 1)
        self.conv3 = nn.ConvTranspose2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.relu(self.conv1(x))) + x


class _Deep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer2 = nn.Sequential(_Bottleneck())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.stem(x))


def test_unsupported_layer_is_named_by_its_module_path() -> None:
    with pytest.raises(UnsupportedLayer) as err:
        compile_model(_Deep(), torch.randn(4, 3, 8, 8), CompileConfig())
    msg = str(err.value)
    assert "layer2.0.conv3 (ConvTranspose2d)" in msg, msg
    assert "supported:" in msg and "MaxPool2d" in msg and "BatchNorm2d" in msg, msg
    assert "not torch.fx-traceable" not in msg


class _SpatialView(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), x.size(1), -1)  # [B, C, H*W]: not a flatten


def test_a_view_that_is_not_a_flatten_is_refused() -> None:
    with pytest.raises(UnsupportedLayer, match="only flattening to \\[batch, features\\]"):
        compile_model(_SpatialView(), torch.randn(4, 3, 8, 8), CompileConfig())


class _ScaledSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.add(x, x, alpha=2)


def test_sums_other_than_two_activations_are_refused() -> None:
    for model in (_ScaledSum(), _PlusConstant()):
        with pytest.raises(UnsupportedLayer, match="sum of two activations"):
            compile_model(model, torch.randn(4, 32), CompileConfig())


class _PlusConstant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1.0


# ---- DAGs: residual adds, fan-out, shared input ----


class _Residual(nn.Module):
    """conv-bn-relu, then conv-bn plus a shortcut of the same activation (fan-out), relu,
    a pooling, a linear head. Variants: shortcut identity or 1x1 conv + BN; the model input
    itself as the shortcut; x + x."""

    def __init__(self, cin: int, c: int, shortcut: str, pool: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.proj = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.shortcut, self.pool = shortcut, pool
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AvgPool2d(3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.LazyLinear(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(a))
        if self.shortcut == "identity":
            y = y + a
        elif self.shortcut == "conv":
            y += self.proj(a)
        elif self.shortcut == "input":
            y = torch.add(y, x)
        else:  # "self": the same tensor on both sides
            y = y + y
        y = F.relu(y)
        if self.pool == "max":
            y = self.maxpool(y)
        elif self.pool == "avg":
            y = self.avgpool(y)
        elif self.pool == "gap":
            y = self.gap(y)
        else:
            y = y.mean((2, 3))
        return self.fc(torch.flatten(y, 1))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    c=st.sampled_from([8, 40]),
    hw=st.integers(4, 7),
    shortcut=st.sampled_from(["identity", "conv", "input", "self"]),
    pool=st.sampled_from(["max", "avg", "gap", "mean"]),
    seed=st.integers(0, 2**16),
)
def test_residual_graphs_agree_with_the_float_model(
    c: int, hw: int, shortcut: str, pool: str, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cin = c if shortcut == "input" else 3
    model = _Residual(cin, c, shortcut, pool)
    calib = torch.randn(128, cin, hw, hw, generator=g)
    model(calib[:2])  # materializes the lazy head
    model = _randomize_bn(model, g)
    x = torch.randn(64, cin, hw, hw, generator=g)
    spec, agree, err = _compare(model, calib, x)
    ops = _opcodes(spec)
    assert Opcode.QADD in ops
    assert (Opcode.GMAX in ops) == (pool == "max")
    assert (Opcode.GSUM in ops) == (pool != "max")
    # random weights leave some logits near ties: a few top-1 flips are rounding, not bugs
    assert agree >= 0.85 and err < 0.08, (agree, err)


def test_a_tensor_read_twice_is_one_slot() -> None:
    torch.manual_seed(1)
    model = _Residual(3, 8, "identity", "gap")
    model(torch.randn(2, 3, 6, 6))
    model = _randomize_bn(model, torch.Generator().manual_seed(1))
    spec = compile_model(model, torch.randn(32, 3, 6, 6), CompileConfig(batch=2))
    ops = spec.program.ops
    shortcut = next(op for op in ops if op.opcode == Opcode.QADD).b  # relu(bn1(conv1(x)))
    readers = [op.name for op in ops if shortcut in (op.a, op.b)]
    assert len(readers) == 2, readers  # conv2's im2col and the qadd read the same slot


# ---- pooling past MAX_GROUP ----


class _Pool(nn.Module):
    def __init__(self, c: int, pool: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.pool = pool
        self.fc = nn.LazyLinear(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


@pytest.mark.parametrize(
    ("pool", "hw", "op", "stages"),
    [
        (nn.AdaptiveAvgPool2d(1), (10, 10), Opcode.GSUM, 2),  # 100 = 50 * 2
        (nn.MaxPool2d(9), (9, 9), Opcode.GMAX, 2),  # 81 = 27 * 3
        (nn.AdaptiveAvgPool2d(1), (4, 4), Opcode.GSUM, 1),
        (nn.AvgPool2d(3, stride=2, padding=1), (7, 7), Opcode.GSUM, 1),
        (nn.AvgPool2d(2), (6, 6), Opcode.GSUM, 1),
    ],
)
def test_pooling_agrees_with_float_in_one_or_more_stages(
    pool: nn.Module, hw: tuple[int, int], op: Opcode, stages: int
) -> None:
    assert MAX_GROUP < 81  # the first two cases chain reductions
    torch.manual_seed(2)
    model = _Pool(8, pool)
    calib = torch.randn(128, 3, *hw)
    model(calib[:2])
    spec, agree, err = _compare(model.eval(), calib, torch.randn(64, 3, *hw))
    assert _opcodes(spec).count(op) == stages
    assert agree >= 0.9 and err < 0.08, (agree, err)


@pytest.mark.parametrize(
    ("pool", "hw", "match"),
    [
        (nn.AdaptiveAvgPool2d(1), (1, 67), "67 positions"),
        (nn.AvgPool2d(3, padding=1, count_include_pad=False), (6, 6), "count_include_pad"),
        (nn.MaxPool2d(2, ceil_mode=True), (5, 5), "ceil_mode"),
        (nn.AdaptiveAvgPool2d(2), (4, 4), "AdaptiveAvgPool2d\\(1\\)"),
    ],
)
def test_unsupported_pooling_says_why(pool: nn.Module, hw: tuple[int, int], match: str) -> None:
    model = _Pool(8, pool)
    calib = torch.randn(8, 3, *hw)
    model(calib[:2])
    with pytest.raises(UnsupportedLayer, match=match):
        compile_model(model.eval(), calib, CompileConfig())
