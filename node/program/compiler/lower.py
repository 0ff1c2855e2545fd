"""Lowering a float torch.nn model to an integer program: post-training static quantization.

Scheme: activations int8 symmetric (zero point 0) per tensor, scale from calibration; weights
int8 symmetric per output channel; bias int32 at the accumulator scale; requant per channel
with fixed-point multipliers (one shift). Feature and channel dimensions are zero-padded to
multiples of 32 (protocol.md section 2); images run in NHWC. The model is a dataflow graph
(graph.py: torch.fx, BatchNorm folded): each node gets one slot, whoever reads it; the sum of
two activations is a `qadd` that rescales both branches to the sum's scale; max pooling is
im2col (padding -128) + `gmax`; average pooling is im2col + `gsum` + `requant`, in stages when
the window exceeds MAX_GROUP. Supported layers: graph.SUPPORTED."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import _pair

from node.program.compiler.builder import ProgramBuilder
from node.program.compiler.config import CompileConfig
from node.program.compiler.errors import UnsupportedLayer
from node.program.compiler.graph import TABLE_FUNCS, GraphNode, ModelGraph, build_graph
from node.program.compiler.quantize import (
    activation_scale,
    fixed_point,
    pad_to,
    quantize_bias,
    quantize_weights,
)
from node.program.constants import MAX_GROUP, DType
from node.program.spec import InputAdapter, JobSpec, OutputAdapter

_ALIASES = ("flatten", "skip")  # nodes that reuse their input's slot


@dataclass(frozen=True)
class _Act:
    """A quantized activation: builder handle, scale(s), layout and padded shape."""

    ref: str
    dtype: DType
    scale: np.ndarray  # per column ([cols]); int8 activations have one value repeated
    layout: str  # "rows" ([B, F]), "nhwc" ([B*H*W, C]) or "patches" (first conv's im2col)
    rows: int
    cols: int  # padded
    real: int  # real features (rows) or channels (nhwc)
    hw: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class _Window:
    """A pooling window over an NHWC activation (stride and padding equal on both axes)."""

    kh: int
    kw: int
    stride: int
    pad: int
    is_global: bool = False


class _Lowering:
    def __init__(self, graph: ModelGraph, config: CompileConfig) -> None:
        self.g = graph
        self.cfg = config
        self.b = ProgramBuilder()
        self.env: dict[str, _Act] = {}
        self.fused: set[str] = set()  # ReLUs folded into the requant before them
        # Constants are declared as nodes are lowered (inputs must precede ops); ops are
        # recorded here and emitted once all constants exist.
        self.plan: list[Callable[[], str]] = []

    def absmax(self, t: torch.Tensor) -> float:
        a = t.detach().abs().reshape(-1).to(torch.float64)
        if self.cfg.calibration_quantile >= 1.0:
            return float(a.max())
        return float(np.quantile(a.numpy(), self.cfg.calibration_quantile))

    def scale_of(self, name: str) -> float:
        return activation_scale(self.absmax(self.g.values[name]))

    # ---- entry ----

    def run(self) -> JobSpec:
        inp = self.g.nodes[0]
        assert inp.kind == "input"
        x = self.g.values[inp.name]
        act, adapter = self.lower_input(inp, x)
        self.env[inp.name] = act
        for i, n in enumerate(self.g.nodes[1:], start=1):
            if n.name not in self.fused:
                self.env[n.name] = self.lower_node(i, n)
        for k, emit in enumerate(self.plan):
            if emit() != f"%{k}":
                raise AssertionError("compiler emitted ops out of order")
        act = self.env[self.g.output]
        prog, consts = self.b.finish(act.ref)
        out = OutputAdapter(
            tuple(float(v) for v in act.scale), act.real if act.layout == "rows" else act.cols
        )
        return JobSpec(
            prog,
            consts,
            self.cfg.batch,
            0,
            adapter,
            out,
            {
                "compiler": "poc compile",
                "steps": [n.kind for n in self.g.nodes[1:]],
                "calibration_rows": int(x.shape[0]),
            },
        )

    def lower_input(self, inp: GraphNode, x: torch.Tensor) -> tuple[_Act, InputAdapter]:
        B = self.cfg.batch
        sx = activation_scale(self.absmax(x))
        users = self.g.users(inp.name)
        first = users[0] if len(users) == 1 else None
        if x.dim() == 4 and first is not None and _patch_input(first, int(x.shape[1])):
            # The first convolution's im2col runs in the input adapter (see InputAdapter).
            assert isinstance(first.module, nn.Conv2d)
            _, c, h, w = x.shape
            kh, kw = first.module.kernel_size
            st, pd = int(first.module.stride[0]), int(first.module.padding[0])  # type: ignore[index, arg-type]
            oh, ow = (h + 2 * pd - kh) // st + 1, (w + 2 * pd - kw) // st + 1
            kp = pad_to(kh * kw * c)
            self.b.data_input("x", B * oh * ow, kp)
            act = _Act("x", DType.INT8, np.full(kp, sx), "patches", B * oh * ow, kp, c, (h, w))
            return act, InputAdapter(sx, 0, "patches", (c, h, w), (kh, kw, st, pd))
        if x.dim() == 4:
            _, c, h, w = x.shape
            cp = pad_to(c)
            self.b.data_input("x", B * h * w, cp)
            act = _Act("x", DType.INT8, np.full(cp, sx), "nhwc", B * h * w, cp, c, (h, w))
            return act, InputAdapter(sx, 0, "nchw", (c, h, w))
        if x.dim() == 2:
            f = x.shape[1]
            fp = pad_to(f)
            self.b.data_input("x", B, fp)
            return _Act("x", DType.INT8, np.full(fp, sx), "rows", B, fp, f), InputAdapter(
                sx, 0, "rows", (f,)
            )
        raise UnsupportedLayer(
            f"calibration input of rank {x.dim()}: expected [B, F] or [B, C, H, W]"
        )

    # ---- nodes ----

    def lower_node(self, i: int, n: GraphNode) -> _Act:
        k = n.kind
        act = self.env[n.inputs[0]]
        if k in _ALIASES:
            return act
        if k in ("linear", "conv"):
            return self.lower_affine(i, n, act)
        if k == "add":
            return self.lower_add(n, act, self.env[n.inputs[1]])
        self._need_int8(act, n)
        if k == "relu":
            return replace(act, ref=self._op(self.b.relu, act.ref, act.rows, act.cols))
        if k in TABLE_FUNCS:
            return self.lower_table(i, act, TABLE_FUNCS[k])
        if k in ("maxpool", "avgpool", "mean"):
            return self.lower_pool(n, act)
        raise UnsupportedLayer(f"cannot lower {n.where} (kind {k})")

    def _need_int8(self, act: _Act, n: GraphNode) -> None:
        if act.dtype != DType.INT8:
            raise UnsupportedLayer(f"{n.where} after an int32 output is not supported")
        if act.layout == "patches":
            raise UnsupportedLayer(f"{n.where} cannot read the input adapter's patch rows")

    def _op(self, fn: Callable[..., str], *args: Any, **kwargs: Any) -> str:
        # Handles are "%index" in plan order; run() checks the builder agrees.
        self.plan.append(functools.partial(fn, *args, **kwargs))
        return f"%{len(self.plan) - 1}"

    def _final(self, name: str) -> bool:
        """The node's value is the model's output (through flatten/identity only)."""
        if name == self.g.output:
            return True
        users = self.g.users(name)
        return len(users) == 1 and users[0].kind in _ALIASES and self._final(users[0].name)

    def lower_table(self, i: int, act: _Act, fn: Callable[[torch.Tensor], torch.Tensor]) -> _Act:
        s_in = float(act.scale[0])
        q = torch.arange(-128, 128, dtype=torch.float64)
        with torch.no_grad():
            y = fn(q * s_in)
        s_out = activation_scale(float(y.abs().max()))
        table = np.clip(np.round(y.numpy() / s_out), -128, 127)
        name = self.b.constant(f"lut{i}", table.reshape(1, 256), DType.INT8)
        ref = self._op(self.b.lut, act.ref, name, act.rows, act.cols)
        return replace(act, ref=ref, scale=np.full(act.cols, s_out))

    def lower_add(self, n: GraphNode, a: _Act, b: _Act) -> _Act:
        """y = x_a * s_a / s_y + x_b * s_b / s_y in one qadd: both multipliers share a shift."""
        self._need_int8(a, n)
        self._need_int8(b, n)
        if (a.layout, a.rows, a.cols, a.hw) != (b.layout, b.rows, b.cols, b.hw):
            raise UnsupportedLayer(
                f"{n.where} at node {n.name}: adds tensors of different shapes "
                f"({a.rows}x{a.cols} and {b.rows}x{b.cols}; broadcasting is not supported)"
            )
        s_y = self.scale_of(n.name)
        mults, shift = fixed_point([float(a.scale[0]) / s_y, float(b.scale[0]) / s_y])
        ref = self._op(
            self.b.qadd,
            a.ref,
            b.ref,
            mult=int(mults[0]),
            mult2=int(mults[1]),
            shift=shift,
        )
        return replace(a, ref=ref, scale=np.full(a.cols, s_y), real=max(a.real, b.real))

    # ---- pooling ----

    def lower_pool(self, n: GraphNode, act: _Act) -> _Act:
        if act.layout != "nhwc":
            raise UnsupportedLayer(f"{n.where} needs an image input [B, C, H, W]")
        win = self._window(n, act.hw)
        B = self.cfg.batch
        h, w = act.hw
        if win.is_global:  # [B*H*W, C] is [B, H*W*C]: the groups are the positions, no im2col
            src, m, hw = act.ref, B, (1, 1)
        else:
            pad_value = -128 if n.kind == "maxpool" else 0
            oh = (h + 2 * win.pad - win.kh) // win.stride + 1
            ow = (w + 2 * win.pad - win.kw) // win.stride + 1
            src = self._op(
                self.b.im2col,
                act.ref,
                B,
                h,
                w,
                act.cols,
                win.kh,
                win.kw,
                win.stride,
                win.pad,
                pad_value,
            )
            m, hw = B * oh * ow, (oh, ow)
        stages = _stages(win.kh * win.kw, n)
        if n.kind == "maxpool":  # max commutes with the (monotone) quantization: same scale
            ref = src
            rest = win.kh * win.kw
            for f in stages:
                rest //= f
                ref = self._op(self.b.gmax, ref, groups=f, M=m * rest, N=act.cols)
            return replace(act, ref=ref, rows=m, hw=hw)
        s_in = float(act.scale[0])
        s_out = self.scale_of(n.name)
        ref, rest = src, win.kh * win.kw
        for t, f in enumerate(stages):
            rest //= f
            total = self._op(self.b.gsum, ref, groups=f, M=m * rest, N=act.cols)
            # A partial mean stays within the input's range: keep its scale until the last.
            real = 1.0 / f if t < len(stages) - 1 else s_in / (f * s_out)
            mult, shift = fixed_point(real)
            ref = self._op(self.b.requant, total, m * rest, act.cols, shift, mult=int(mult[0]))
        return replace(act, ref=ref, rows=m, hw=hw, scale=np.full(act.cols, s_out))

    def _window(self, n: GraphNode, hw: tuple[int, int]) -> _Window:
        h, w = hw
        mod = n.module
        if n.kind == "mean":
            dims = n.args[0]
            dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
            if sorted(d % 4 for d in dims) != [2, 3]:
                raise UnsupportedLayer(f"{n.where}: only the mean over dims (2, 3) is supported")
            return _Window(h, w, 1, 0, True)
        if isinstance(mod, nn.AdaptiveAvgPool2d):
            size = _pair(mod.output_size)
            if tuple(size) != (1, 1):
                raise UnsupportedLayer(f"{n.where}: only AdaptiveAvgPool2d(1) is supported")
            return _Window(h, w, 1, 0, True)
        assert isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d))
        kh, kw = _pair(mod.kernel_size)
        sh, sw = _pair(mod.stride if mod.stride is not None else mod.kernel_size)
        ph, pw = _pair(mod.padding)
        bad = sh != sw or ph != pw or mod.ceil_mode
        if isinstance(mod, nn.MaxPool2d):
            bad = bad or _pair(mod.dilation) != (1, 1) or mod.return_indices
        else:
            bad = bad or mod.divisor_override is not None or (not mod.count_include_pad and ph)
        if bad:
            raise UnsupportedLayer(
                f"{n.where}: pooling needs equal strides and paddings on both axes, "
                "no ceil_mode, dilation, return_indices or divisor_override, and padding "
                "counted in the average (count_include_pad=True)"
            )
        return _Window(int(kh), int(kw), int(sh), int(ph), (kh, kw, ph) == (h, w, 0))

    # ---- Linear and Conv2d ----

    def lower_affine(self, i: int, n: GraphNode, act: _Act) -> _Act:
        if act.dtype != DType.INT8:
            raise UnsupportedLayer(f"{n.where} after an int32 output is not supported")
        mod = n.module
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
        if n.kind == "conv":
            assert isinstance(mod, nn.Conv2d)
            if act.layout not in ("nhwc", "patches"):
                raise UnsupportedLayer(f"{n.where} needs an image input [B, C, H, W]")
            if mod.groups != 1 or tuple(mod.dilation) != (1, 1) or isinstance(mod.padding, str):
                raise UnsupportedLayer(f"{n.where}: groups, dilation or string padding")
            kh, kw = mod.kernel_size
            sh, sw = mod.stride
            ph, pw = mod.padding
            if sh != sw or ph != pw or mod.padding_mode != "zeros":
                raise UnsupportedLayer(
                    f"{n.where} needs equal strides and zero padding on both axes"
                )
            h, wd = act.hw
            oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * ph - kw) // sh + 1
            if act.layout == "patches":  # the input already holds this conv's patch rows
                wmat = np.zeros((n_pad, act.cols))
                wmat[:n_out, : kh * kw * w.shape[1]] = w.transpose(0, 2, 3, 1).reshape(n_out, -1)
                a_ref, m, kdim = act.ref, act.rows, act.cols
            elif (kh, kw, ph) == (1, 1, 0) and sh == 1:  # a 1x1 conv reads the rows as they are
                wmat = np.zeros((n_pad, act.cols))
                wmat[:n_out, : w.shape[1]] = w.reshape(n_out, -1)
                a_ref, m, kdim = act.ref, act.rows, act.cols
            else:
                cin_pad = act.cols
                # [out, cin, kh, kw] -> [out, kh, kw, cin_pad] -> [n_pad, kh*kw*cin_pad]
                wk = np.zeros((n_pad, kh, kw, cin_pad))
                wk[:n_out, :, :, : w.shape[1]] = w.transpose(0, 2, 3, 1)
                wmat = wk.reshape(n_pad, -1)
                a_ref = self._op(self.b.im2col, act.ref, B, h, wd, cin_pad, kh, kw, sh, ph, 0)
                m, kdim = B * oh * ow, kh * kw * cin_pad
            hw = (oh, ow)
        else:
            if act.layout == "nhwc":  # Linear after Flatten: torch flattens NCHW, we hold NHWC
                h, wd = act.hw
                c = act.real
                if w.shape[1] != c * h * wd:
                    raise UnsupportedLayer(
                        f"{n.where} expects {w.shape[1]} inputs, got {c * h * wd}"
                    )
                wk = np.zeros((n_pad, h, wd, act.cols))
                wk[:n_out, :, :, :c] = w.reshape(n_out, c, h, wd).transpose(0, 2, 3, 1)
                wmat = wk.reshape(n_pad, -1)
                kdim = h * wd * act.cols
            elif act.layout == "rows":
                if w.shape[1] != act.real:
                    raise UnsupportedLayer(f"{n.where} expects {w.shape[1]} inputs, got {act.real}")
                wmat = np.zeros((n_pad, act.cols))
                wmat[:n_out, : w.shape[1]] = w
                kdim = act.cols
            else:
                raise UnsupportedLayer(f"{n.where} cannot read the input adapter's patch rows")
            a_ref, m, hw = act.ref, B, (1, 1)
        qw, sw_ = quantize_weights(wmat)
        s_in = float(act.scale[0])
        acc_scale = s_in * sw_
        bpad = np.zeros(n_pad)
        bpad[:n_out] = bias
        wname = self.b.constant(f"w{i}", qw, DType.INT8)
        bname = self.b.constant(f"b{i}", quantize_bias(bpad, acc_scale), DType.INT32)
        mm = self._op(self.b.matmul, a_ref, wname, m, kdim, n_pad)
        acc = self._op(self.b.add, mm, bname, m, n_pad, broadcast=True)
        layout = "nhwc" if n.kind == "conv" else "rows"
        users = self.g.users(n.name)
        relu = self.cfg.fuse_relu and len(users) == 1 and users[0].kind == "relu"
        if not relu and self._final(n.name):
            # Last layer: the int32 accumulator is the output, one scale per column.
            return _Act(acc, DType.INT32, acc_scale, layout, m, n_pad, n_out, hw)
        after = users[0].name if relu else n.name
        s_out = self.scale_of(after)
        mult, shift = fixed_point(acc_scale / s_out)
        mname = self.b.constant(f"m{i}", mult.astype(np.int32), DType.INT32)
        ref = self._op(
            self.b.requant, acc, m, n_pad, shift, mults=mname, lo=0 if relu else -128, hi=127
        )
        out = _Act(ref, DType.INT8, np.full(n_pad, s_out), layout, m, n_pad, n_out, hw)
        if relu:  # the ReLU node reads this requant's output: same slot
            self.fused.add(after)
            self.env[after] = out
        return out


def _patch_input(node: GraphNode, channels: int) -> bool:
    m = node.module
    if node.kind != "conv" or not isinstance(m, nn.Conv2d) or isinstance(m.padding, str):
        return False
    kh, kw = m.kernel_size
    return pad_to(kh * kw * channels) < kh * kw * pad_to(channels)


def _stages(window: int, n: GraphNode) -> list[int]:
    """`window` as a product of group counts of at most MAX_GROUP (one reduction each)."""
    out: list[int] = []
    while window > MAX_GROUP:
        f = next((d for d in range(MAX_GROUP, 1, -1) if window % d == 0), None)
        if f is None:
            raise UnsupportedLayer(
                f"{n.where}: a pooling window of {window} positions cannot be split into "
                f"reductions of at most {MAX_GROUP} (it has a prime factor above {MAX_GROUP})"
            )
        out.append(f)
        window //= f
    return out + [window]


def compile_model(model: nn.Module, calibration: torch.Tensor, config: CompileConfig) -> JobSpec:
    """Quantize `model` with `calibration` (float inputs, [N, F] or [N, C, H, W]) into a job
    spec for batches of `config.batch` items."""
    return _Lowering(build_graph(model, calibration), config).run()
