"""Lowering a float torch.nn model to an integer program: post-training static quantization.

Scheme: activations int8 symmetric (zero point 0) per tensor, scale from calibration; weights
int8 symmetric per output channel; bias int32 at the accumulator scale; requant per channel
with fixed-point multipliers (one shift). Feature and channel dimensions are zero-padded to
multiples of 32 (protocol.md section 2); images run in NHWC. Supported: Linear, Conv2d
(groups 1, dilation 1), ReLU, Flatten, GELU/SiLU/Sigmoid/Tanh (as 256-entry tables), Identity,
Dropout; as nn.Sequential or any torch.fx-traceable module whose graph is a chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from node.program.compiler.builder import ProgramBuilder
from node.program.compiler.config import CompileConfig
from node.program.compiler.errors import UnsupportedLayer
from node.program.compiler.quantize import (
    activation_scale,
    fixed_point,
    pad_to,
    quantize_bias,
    quantize_weights,
)
from node.program.constants import DType
from node.program.spec import InputAdapter, JobSpec, OutputAdapter

# Elementwise float functions compiled to lookup tables.
TABLE_FUNCS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
_MODULE_KINDS: dict[type[nn.Module], str] = {
    nn.Linear: "linear",
    nn.Conv2d: "conv",
    nn.ReLU: "relu",
    nn.Flatten: "flatten",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Identity: "skip",
    nn.Dropout: "skip",
}
_FUNC_KINDS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    torch.flatten: "flatten",
    F.gelu: "gelu",
    F.silu: "silu",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
}
_METHOD_KINDS = {
    "relu": "relu",
    "flatten": "flatten",
    "view": "flatten",
    "reshape": "flatten",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
}


@dataclass(frozen=True)
class ModelStage:
    """One module or function of a sequential model, in the order the compiler lowers them."""

    kind: str
    module: nn.Module | None
    run: Callable[[torch.Tensor], torch.Tensor]


def chain_of(model: nn.Module) -> list[ModelStage]:
    """The model as a list of steps, each applied to the previous one's output."""
    if isinstance(model, nn.Sequential):
        steps: list[ModelStage] = []
        for m in model:
            steps.extend(chain_of(m) if isinstance(m, nn.Sequential) else [_module_step(m)])
        return steps
    if type(model) in _MODULE_KINDS:
        return [_module_step(model)]
    return _fx_chain(model)


def _module_step(m: nn.Module) -> ModelStage:
    kind = _MODULE_KINDS.get(type(m))
    if kind is None:
        raise UnsupportedLayer(f"cannot compile module {type(m).__name__}")
    if kind == "flatten":
        return ModelStage(kind, m, lambda x: torch.flatten(x, 1))
    return ModelStage(kind, m, m)


def _fx_chain(model: nn.Module) -> list[ModelStage]:
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds; all mean "not traceable"
        raise UnsupportedLayer(f"{type(model).__name__} is not torch.fx-traceable: {exc}") from exc
    steps: list[ModelStage] = []
    prev: torch.fx.Node | None = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                raise UnsupportedLayer("models with more than one input are not supported")
            prev = node
            continue
        if node.op == "output":
            if node.args[0] is not prev:
                raise UnsupportedLayer("the graph's output is not its last node")
            break
        if (
            not node.args
            or node.args[0] is not prev
            or any(
                isinstance(a, torch.fx.Node)
                for a in list(node.args[1:]) + list(node.kwargs.values())
            )
        ):
            raise UnsupportedLayer(f"graph is not a chain at node {node.name} ({node.target})")
        if node.op == "call_module":
            sub = gm.get_submodule(str(node.target))
            steps.extend(chain_of(sub))
        elif node.op == "call_function" and node.target in _FUNC_KINDS:
            kind = _FUNC_KINDS[node.target]
            steps.append(ModelStage(kind, None, _fn_step(kind)))
        elif node.op == "call_method" and node.target in _METHOD_KINDS:
            kind = _METHOD_KINDS[str(node.target)]
            steps.append(ModelStage(kind, None, _fn_step(kind)))
        else:
            raise UnsupportedLayer(f"cannot compile {node.op} {node.target}")
        prev = node
    return steps


def _fn_step(kind: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if kind == "flatten":
        return lambda x: torch.flatten(x, 1)
    if kind == "relu":
        return torch.relu
    return TABLE_FUNCS[kind]


@dataclass(frozen=True)
class _Act:
    """A quantized activation: builder handle, scale(s), layout and padded shape."""

    ref: str
    dtype: DType
    scale: np.ndarray  # per column ([cols]); int8 activations have one value repeated
    layout: str  # "rows" ([B, F]) or "nhwc" ([B*H*W, C])
    rows: int
    cols: int  # padded
    real: int  # real features (rows) or channels (nhwc)
    hw: tuple[int, int] = (1, 1)


class _Lowering:
    def __init__(self, steps: list[ModelStage], calib: torch.Tensor, config: CompileConfig) -> None:
        self.steps = [s for s in steps if s.kind != "skip"]
        self.cfg = config
        self.b = ProgramBuilder()
        with torch.no_grad():
            acts = [calib.to(torch.float32)]
            for s in self.steps:
                acts.append(s.run(acts[-1]))
        self.acts = acts  # acts[i] is the input of step i; acts[-1] the model output
        self.consts: list[tuple[str, Any, DType]] = []

    def absmax(self, t: torch.Tensor) -> float:
        a = t.detach().abs().reshape(-1).to(torch.float64)
        if self.cfg.calibration_quantile >= 1.0:
            return float(a.max())
        return float(np.quantile(a.numpy(), self.cfg.calibration_quantile))

    # ---- entry ----

    def run(self) -> JobSpec:
        x = self.acts[0]
        B = self.cfg.batch
        sx = activation_scale(self.absmax(x))
        first = self.steps[0] if self.steps else None
        if x.dim() == 4 and first is not None and self._patch_input(first, int(x.shape[1])):
            # The first convolution's im2col runs in the input adapter (see InputAdapter).
            assert isinstance(first.module, nn.Conv2d)
            _, c, h, w = x.shape
            kh, kw = first.module.kernel_size
            st, pd = int(first.module.stride[0]), int(first.module.padding[0])  # type: ignore[index, arg-type]
            oh, ow = (h + 2 * pd - kh) // st + 1, (w + 2 * pd - kw) // st + 1
            kp = pad_to(kh * kw * c)
            self.b.data_input("x", B * oh * ow, kp)
            act = _Act("x", DType.INT8, np.full(kp, sx), "patches", B * oh * ow, kp, c, (h, w))
            adapter = InputAdapter(sx, 0, "patches", (c, h, w), (kh, kw, st, pd))
        elif x.dim() == 4:
            _, c, h, w = x.shape
            cp = pad_to(c)
            self.b.data_input("x", B * h * w, cp)
            act = _Act("x", DType.INT8, np.full(cp, sx), "nhwc", B * h * w, cp, c, (h, w))
            adapter = InputAdapter(sx, 0, "nchw", (c, h, w))
        elif x.dim() == 2:
            f = x.shape[1]
            fp = pad_to(f)
            self.b.data_input("x", B, fp)
            act = _Act("x", DType.INT8, np.full(fp, sx), "rows", B, fp, f)
            adapter = InputAdapter(sx, 0, "rows", (f,))
        else:
            raise UnsupportedLayer(
                f"calibration input of rank {x.dim()}: expected [B, F] or [B, C, H, W]"
            )
        # First pass declares constants (inputs must precede ops); ops are recorded as
        # closures and emitted once all constants exist.
        self.plan: list[Callable[[], None]] = []
        i = 0
        while i < len(self.steps):
            act, i = self.lower_step(i, act)
        for fn in self.plan:
            fn()
        prog, consts = self.b.finish(act.ref)
        out = OutputAdapter(
            tuple(float(v) for v in act.scale), act.real if act.layout == "rows" else act.cols
        )
        return JobSpec(
            prog,
            consts,
            B,
            0,
            adapter,
            out,
            {
                "compiler": "poc compile",
                "steps": [s.kind for s in self.steps],
                "calibration_rows": int(x.shape[0]),
            },
        )

    # ---- steps ----

    @staticmethod
    def _patch_input(step: ModelStage, channels: int) -> bool:
        m = step.module
        if step.kind != "conv" or not isinstance(m, nn.Conv2d) or isinstance(m.padding, str):
            return False
        kh, kw = m.kernel_size
        return pad_to(kh * kw * channels) < kh * kw * pad_to(channels)

    def lower_step(self, i: int, act: _Act) -> tuple[_Act, int]:
        step = self.steps[i]
        k = step.kind
        if k == "flatten":
            return act, i + 1
        if k in ("linear", "conv"):
            return self.lower_affine(i, act)
        if k == "relu":
            self._need_int8(act, "relu")
            ref = self._op(lambda: self.b.relu(act.ref, act.rows, act.cols))
            return replace(act, ref=ref), i + 1
        if k in TABLE_FUNCS:
            return self.lower_table(i, act, TABLE_FUNCS[k]), i + 1
        raise UnsupportedLayer(f"cannot compile step {k}")

    def _need_int8(self, act: _Act, what: str) -> None:
        if act.dtype != DType.INT8:
            raise UnsupportedLayer(f"{what} after an int32 output is not supported")

    def _op(self, emit: Callable[[], str]) -> str:
        # Ops are emitted in order after all constants; handles are "%index" in plan order.
        idx = len(self.plan)
        self.plan.append(lambda: None if emit() == f"%{idx}" else _order_error())
        return f"%{idx}"

    def _const(self, name: str, values: Any, dtype: DType) -> str:
        return self.b.constant(name, values, dtype)

    def lower_table(self, i: int, act: _Act, fn: Callable[[torch.Tensor], torch.Tensor]) -> _Act:
        self._need_int8(act, self.steps[i].kind)
        s_in = float(act.scale[0])
        q = torch.arange(-128, 128, dtype=torch.float64)
        with torch.no_grad():
            y = fn(q * s_in)
        s_out = activation_scale(float(y.abs().max()))
        table = np.clip(np.round(y.numpy() / s_out), -128, 127)
        name = self._const(f"lut{i}", table.reshape(1, 256), DType.INT8)
        ref = self._op(lambda: self.b.lut(act.ref, name, act.rows, act.cols))
        return replace(act, ref=ref, scale=np.full(act.cols, s_out))

    def lower_affine(self, i: int, act: _Act) -> tuple[_Act, int]:
        step = self.steps[i]
        self._need_int8(act, step.kind)
        mod = step.module
        assert isinstance(mod, (nn.Linear, nn.Conv2d))
        w = mod.weight.detach().to(torch.float64).numpy()
        bias = (
            mod.bias.detach().to(torch.float64).numpy()
            if mod.bias is not None
            else np.zeros(w.shape[0])
        )
        n_out = w.shape[0]
        n_pad = pad_to(n_out)
        B = self.cfg.batch
        if step.kind == "conv":
            assert isinstance(mod, nn.Conv2d)
            if act.layout not in ("nhwc", "patches"):
                raise UnsupportedLayer("Conv2d needs an image input [B, C, H, W]")
            if mod.groups != 1 or tuple(mod.dilation) != (1, 1) or isinstance(mod.padding, str):
                raise UnsupportedLayer("Conv2d with groups, dilation or string padding")
            kh, kw = mod.kernel_size
            sh, sw = mod.stride
            ph, pw = mod.padding
            if sh != sw or ph != pw or mod.padding_mode != "zeros":
                raise UnsupportedLayer("Conv2d needs equal strides and zero padding on both axes")
            h, wd = act.hw
            oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * ph - kw) // sh + 1
            if act.layout == "patches":  # the input already holds this conv's patch rows
                wmat = np.zeros((n_pad, act.cols))
                wmat[:n_out, : kh * kw * w.shape[1]] = w.transpose(0, 2, 3, 1).reshape(n_out, -1)
                a_ref, m, kdim, hw = act.ref, act.rows, act.cols, (oh, ow)
            else:
                cin_pad = act.cols
                # [out, cin, kh, kw] -> [out, kh, kw, cin_pad] -> [n_pad, kh*kw*cin_pad]
                wk = np.zeros((n_pad, kh, kw, cin_pad))
                wk[:n_out, :, :, : w.shape[1]] = w.transpose(0, 2, 3, 1)
                wmat = wk.reshape(n_pad, -1)
                col = self._op(lambda: self.b.im2col(act.ref, B, h, wd, cin_pad, kh, kw, sh, ph, 0))
                a_ref, m, kdim, hw = col, B * oh * ow, kh * kw * cin_pad, (oh, ow)
        else:
            if act.layout == "nhwc":  # Linear after Flatten: torch flattens NCHW, we hold NHWC
                h, wd = act.hw
                c = act.real
                if w.shape[1] != c * h * wd:
                    raise UnsupportedLayer(f"Linear expects {w.shape[1]} inputs, got {c * h * wd}")
                wk = np.zeros((n_pad, h, wd, act.cols))
                wk[:n_out, :, :, :c] = w.reshape(n_out, c, h, wd).transpose(0, 2, 3, 1)
                wmat = wk.reshape(n_pad, -1)
                kdim = h * wd * act.cols
            else:
                if w.shape[1] != act.real:
                    raise UnsupportedLayer(f"Linear expects {w.shape[1]} inputs, got {act.real}")
                wmat = np.zeros((n_pad, act.cols))
                wmat[:n_out, : w.shape[1]] = w
                kdim = act.cols
            a_ref, m, hw = act.ref, B, (1, 1)
        qw, sw_ = quantize_weights(wmat)
        s_in = float(act.scale[0])
        acc_scale = s_in * sw_
        bpad = np.zeros(n_pad)
        bpad[:n_out] = bias
        wname = self._const(f"w{i}", qw, DType.INT8)
        bname = self._const(f"b{i}", quantize_bias(bpad, acc_scale), DType.INT32)
        mm = self._op(lambda: self.b.matmul(a_ref, wname, m, kdim, n_pad))
        acc = self._op(lambda: self.b.add(mm, bname, m, n_pad, broadcast=True))
        layout = "nhwc" if step.kind == "conv" else "rows"
        nxt = i + 1
        relu = nxt < len(self.steps) and self.steps[nxt].kind == "relu" and self.cfg.fuse_relu
        rest = [s.kind for s in self.steps[nxt + (1 if relu else 0) :] if s.kind != "flatten"]
        if not rest and not relu:
            # Last layer: the int32 accumulator is the output, one scale per column.
            return _Act(acc, DType.INT32, acc_scale, layout, m, n_pad, n_out, hw), nxt
        calib = self.acts[nxt + 1] if relu else self.acts[nxt]
        s_out = activation_scale(self.absmax(calib))
        mult, shift = fixed_point(acc_scale / s_out)
        mname = self._const(f"m{i}", mult.astype(np.int32), DType.INT32)
        ref = self._op(
            lambda: self.b.requant(
                acc, m, n_pad, shift, mults=mname, lo=0 if relu else -128, hi=127
            )
        )
        out = _Act(ref, DType.INT8, np.full(n_pad, s_out), layout, m, n_pad, n_out, hw)
        return out, nxt + (1 if relu else 0)


def _order_error() -> None:
    raise AssertionError("compiler emitted ops out of order")


def compile_model(model: nn.Module, calibration: torch.Tensor, config: CompileConfig) -> JobSpec:
    """Quantize `model` with `calibration` (float inputs, [N, F] or [N, C, H, W]) into a job
    spec for batches of `config.batch` items."""
    model = model.eval()
    return _Lowering(chain_of(model), calibration, config).run()
