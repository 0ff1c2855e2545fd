"""Lowering a decoder-only transformer (transformer.py) to the integer ops of protocol v5.

Quantization (post-training, static): activations int8 symmetric per tensor, scales from the
absolute maxima over calibration text; weights int8 symmetric per output channel (the head per
tensor, so the int32 logits share one scale and their argmax is the float argmax's estimate; V's
projection per head, since it runs as the activation operand of a matmul); biases int32 at the
accumulator scale; requant multipliers fixed-point. Padded dimensions (width, head size,
vocabulary) are zero weight rows and columns; padded vocabulary entries get a very negative
logit bias, so argmax never picks them.

A block, per `docs/protocol.md` section 4 (v5):
- norm: `reduce(moments)` + `rowop(norm | rmsnorm)` to `(x - mean) / std * 2^n` (n chosen from
  calibration); the gain and bias are folded into the matmuls that read it (eps is dropped);
- attention, per head: Q and K projections (`matmul` + `add` bias + `requant`); rotary positions
  as `q*cos + rot(q)*sin` with `rot(q) = (R Wq) x` a second projection and cos/sin int8 tables
  (`mul`, `mul`, `add`, `requant`); V^T = `matmul(Wv, X)` (V's bias moves after attention into
  the output projection's bias: rows of P sum to 1); `write` into the K cache (rows) and the V^T
  cache (columns); scores `matmul(Q, Kcache)` + `requant` (1/sqrt(d) folded in); softmax =
  `reduce(max, MASK)` + `rowop(sub, MASK)` + `lut`(exp) + `reduce(moments)` + `rowop(div)` to
  P at scale 1/128; `matmul(P, VTcache)` + `requant`; the output projection is a sum of per-head
  matmuls (no concatenation);
- residuals `qadd`; MLP `matmul` + `requant` + `lut` (GELU, SiLU), gated: `mul` + `requant`;
- logits `matmul` + `add` (int32), next token `reduce(argmax)`, fed to the next step's `gather`.

A generation program is the prefill of the prompt and one decode step per further token, all
in one op list; the KV caches are tensors rewritten by `write` at each step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from node.program.compiler.builder import ProgramBuilder
from node.program.compiler.errors import UnsupportedLayer
from node.program.compiler.quantize import (
    activation_scale,
    fixed_point,
    pad_to,
    quantize_bias,
    quantize_weights,
)
from node.program.compiler.transformer import (
    F64,
    Layer,
    Norm,
    TransformerWeights,
    activation,
    float_forward,
    rope_tables,
    rotate_half_matrix,
)
from node.program.constants import DType, ReduceKind, RowKind

P_SHIFT = 7  # softmax probabilities are int8 at scale 2^-7 (1.0 saturates at 127/128)
PAD_LOGIT = -(2**30)  # bias of padded vocabulary entries: never the argmax
MAX_NORM_SHIFT = 24
# rowop(sub) clamps a score's distance below its row max at -128 steps, and the exp table
# maps -128 to 0 (masked): lossless only when exp(-128 * scale) * 127 rounds to 0 anyway.
MIN_SCORE_SCALE = math.log(254.0) / 128.0


def score_scale(absmax: float) -> float:
    """The attention scores' int8 scale: the calibrated range, but never so fine that a score
    within reach of its row max falls below -128 steps."""
    return max(activation_scale(absmax), MIN_SCORE_SCALE)


def calibrate(tw: TransformerWeights, samples: Sequence[Sequence[int]]) -> dict[str, float]:
    """The absolute maximum of every value the lowering quantizes, over `samples` (token id
    sequences run through the float model)."""
    amax: dict[str, float] = {}

    def rec(name: str, value: torch.Tensor) -> None:
        amax[name] = max(amax.get(name, 0.0), float(value.abs().max()))

    for ids in samples:
        if len(ids):
            float_forward(tw, list(ids), rec)
    return amax


def norm_shift(absmax: float) -> int:
    """The largest n with absmax * 2^n <= 127: normalized values at scale 2^-n."""
    if absmax <= 0:
        return MAX_NORM_SHIFT
    return max(0, min(MAX_NORM_SHIFT, int(math.floor(math.log2(127.0 / absmax)))))


def _fold_norm(norm: Norm, w: F64, b: F64 | None) -> tuple[F64, F64]:
    """W diag(gain), b + W bias: the norm's affine part in the matmul after it."""
    bias = np.zeros(w.shape[0]) if b is None else b
    if norm.bias is not None:
        bias = bias + w @ norm.bias
    return w * norm.weight[None, :], bias


@dataclass
class KVCache:
    """One KV head's caches: keys by rows [tmax, dhp], values transposed [dhp, tmax]."""

    k: str
    vt: str


class TransformerLowering:
    """Emits the ops of prefill and decode steps into `b` (a ProgramBuilder, or an
    EagerBuilder to compute the values too). Constants are declared on first use."""

    def __init__(
        self, tw: TransformerWeights, amax: dict[str, float], b: ProgramBuilder, tmax: int
    ) -> None:
        if tw.heads % tw.kv_heads:
            raise UnsupportedLayer(f"{tw.heads} heads are not a multiple of {tw.kv_heads} KV heads")
        if tw.rope_theta is not None and tw.head_dim % 2:
            raise UnsupportedLayer(f"rotary positions need an even head size, not {tw.head_dim}")
        self.tw, self.amax, self.b = tw, amax, b
        self.tmax = pad_to(tmax)
        if tmax > tw.context:
            raise UnsupportedLayer(f"{tmax} positions exceed the model's context of {tw.context}")
        self.dp = pad_to(tw.width)
        self.dhp = pad_to(tw.head_dim)
        self.vp = pad_to(tw.vocab)
        self._consts: dict[str, str] = {}

    # ---- scales and constants ----

    def s(self, name: str) -> float:
        if name not in self.amax:
            raise KeyError(f"no calibration value for {name!r}")
        return activation_scale(self.amax[name])

    def const(self, name: str, values: npt.ArrayLike, dtype: DType) -> str:
        if name not in self._consts:
            self._consts[name] = self.b.constant(name, values, dtype)
        return self._consts[name]

    def ids_const(self, name: str, ids: Sequence[int]) -> str:
        arr = np.zeros((len(ids), 32), dtype=np.int32)
        arr[:, 0] = ids
        return self.const(name, arr, DType.INT32)

    def _pad(self, w: F64, rows: int, cols: int) -> F64:
        out = np.zeros((rows, cols))
        out[: w.shape[0], : w.shape[1]] = w
        return out

    def linear(
        self,
        x: str,
        rows: int,
        w: F64,
        b: F64 | None,
        s_in: float,
        s_out: float | None,
        name: str,
        n_pad: int | None = None,
    ) -> str:
        """int8 [rows, n_pad] at s_out (int32 accumulator at s_in*s_w when s_out is None) of
        x [rows, K padded] at s_in; w [N, K] float, per-channel int8."""
        k_pad = self.b._spec(x).cols
        n_pad = n_pad or pad_to(w.shape[0])
        qw, sw = quantize_weights(self._pad(w, n_pad, k_pad))
        acc_scale = s_in * sw
        bias = np.zeros(n_pad)
        if b is not None:
            bias[: len(b)] = b
        wref = self.const(f"{name}.w", qw, DType.INT8)
        bref = self.const(f"{name}.b", quantize_bias(bias, acc_scale), DType.INT32)
        acc = self.b.add(self.b.matmul(x, wref, rows, k_pad, n_pad), bref, rows, n_pad, True)
        if s_out is None:
            return acc
        mult, shift = fixed_point(acc_scale / s_out)
        mref = self.const(f"{name}.m", mult.astype(np.int32), DType.INT32)
        return self.b.requant(acc, rows, n_pad, shift, mults=mref)

    def requant_to(self, x: str, real: float) -> str:
        spec = self.b._spec(x)
        mult, shift = fixed_point(real)
        return self.b.requant(x, spec.rows, spec.cols, shift, mult=int(mult[0]))

    def table(self, name: str, fn: torch.Tensor, s_out: float) -> str:
        t = np.clip(np.round(fn.numpy() / s_out), -128, 127).reshape(1, 256)
        return self.const(name, t, DType.INT8)

    # ---- pieces ----

    def norm(self, x: str, norm: Norm, name: str) -> tuple[str, float]:
        """(normalized int8 at 2^-n, its scale 2^-n)."""
        n = norm_shift(self.amax[name])
        stats = self.b.reduce(x, ReduceKind.MOMENTS)
        kind = RowKind.RMSNORM if norm.rms else RowKind.NORM
        return self.b.rowop(x, stats, kind, shift=n, d=self.tw.width), 2.0**-n

    def embed(self, ids: str, t: int, pos: int) -> tuple[str, float]:
        tw = self.tw
        s_tok = self.s("tok")
        wte = self.const("wte", self._quant(tw.wte, s_tok, tw.vocab, self.dp), DType.INT8)
        tok = self.b.gather(wte, ids)
        if tw.wpe is None:
            return tok, s_tok
        s_pos = self.s("pos")
        wpe = self.const("wpe", self._quant(tw.wpe, s_pos, len(tw.wpe), self.dp), DType.INT8)
        pe = self.b.gather(wpe, self.ids_const(f"pos{pos}x{t}", range(pos, pos + t)))
        s_emb = self.s("emb")
        mults, shift = fixed_point([s_tok / s_emb, s_pos / s_emb])
        return self.b.qadd(tok, pe, mult=int(mults[0]), mult2=int(mults[1]), shift=shift), s_emb

    def _quant(self, w: F64, s: float, rows: int, cols: int) -> npt.NDArray[np.int8]:
        return np.clip(np.round(self._pad(w, rows, cols) / s), -127, 127).astype(np.int8)

    def new_caches(self) -> list[list[KVCache]]:
        k0 = self.const("kcache0", np.zeros((self.tmax, self.dhp)), DType.INT8)
        vt0 = self.const("vtcache0", np.zeros((self.dhp, self.tmax)), DType.INT8)
        return [[KVCache(k0, vt0) for _ in range(self.tw.kv_heads)] for _ in self.tw.layers]

    def block(
        self, i: int, ly: Layer, x: str, s_x: float, t: int, pos: int, caches: list[KVCache]
    ) -> tuple[str, float]:
        tw, hd, dhp = self.tw, self.tw.head_dim, self.dhp
        y, s_y = self.norm(x, ly.norm1, f"{i}.n1")
        wq, bq = _fold_norm(ly.norm1, ly.wq, ly.bq)
        wk, bk = _fold_norm(ly.norm1, ly.wk, ly.bk)
        wv, bv = _fold_norm(ly.norm1, ly.wv, ly.bv)
        s_q, s_k, s_v = (self.s(f"{i}.{n}") for n in ("q", "k", "v"))
        s_att = score_scale(self.amax[f"{i}.att"])
        s_o = self.s(f"{i}.o")
        # V^T = Wv X needs X's rows padded to 32 (they are the matmul's N): repeat the last row.
        t32 = pad_to(t)
        y32 = y
        if t32 != t:
            y32 = self.b.gather(y, self.ids_const(f"rows{t}", [min(r, t - 1) for r in range(t32)]))
        exp_table = self._exp_table(i, s_att)
        group = tw.heads // tw.kv_heads
        for g in range(tw.kv_heads):
            sl = slice(g * hd, (g + 1) * hd)
            k = self._rope_proj(i, "k", y, t, pos, wk[sl], bk[sl], s_y, s_k, g)
            swv = max(float(np.abs(wv[sl]).max()), 1e-12) / 127.0
            wvq = np.clip(np.round(self._pad(wv[sl], dhp, self.dp) / swv), -127, 127)
            wvref = self.const(f"{i}.v{g}.w", wvq.astype(np.int8), DType.INT8)
            vt = self.b.matmul(wvref, y32, dhp, self.dp, t32)
            vt = self.requant_to(vt, swv * s_y / s_v)
            c = caches[g]
            caches[g] = KVCache(
                self.b.write(c.k, k, pos=pos, count=t),
                self.b.write(c.vt, vt, pos=pos, count=t, columns=True),
            )
        # the output projection as a sum over heads; V's bias joins its bias
        bv_all = np.repeat(bv.reshape(tw.kv_heads, hd), group, axis=0).reshape(-1)
        bo = (np.zeros(tw.width) if ly.bo is None else ly.bo) + ly.wo @ bv_all
        wo_pad = np.zeros((self.dp, tw.heads * dhp))
        for h in range(tw.heads):
            wo_pad[: tw.width, h * dhp : h * dhp + hd] = ly.wo[:, h * hd : (h + 1) * hd]
        qwo, swo = quantize_weights(wo_pad)
        acc: str | None = None
        for h in range(tw.heads):
            g = h // group
            sl = slice(h * hd, (h + 1) * hd)
            q = self._rope_proj(i, "q", y, t, pos, wq[sl], bq[sl], s_y, s_q, h)
            kc, vtc = caches[g].k, caches[g].vt
            sc = self.b.matmul(q, kc, t, dhp, self.tmax)
            sc = self.requant_to(sc, s_q * s_k / (math.sqrt(hd) * s_att))
            p = self.softmax(sc, exp_table, t, pos)
            o = self.b.matmul(p, vtc, t, self.tmax, dhp)
            o = self.requant_to(o, s_v * 2.0**-P_SHIFT / s_o)
            wref = self.const(f"{i}.o{h}.w", qwo[:, h * dhp : (h + 1) * dhp].copy(), DType.INT8)
            part = self.b.matmul(o, wref, t, dhp, self.dp)
            acc = part if acc is None else self.b.add(acc, part, t, self.dp, False)
        assert acc is not None
        acc_scale = s_o * swo
        bo_pad = np.zeros(self.dp)
        bo_pad[: tw.width] = bo
        acc = self.b.add(
            acc,
            self.const(f"{i}.o.b", quantize_bias(bo_pad, acc_scale), DType.INT32),
            t,
            self.dp,
            True,
        )
        s_a, s_mid = self.s(f"{i}.a"), self.s(f"{i}.mid")
        mult, shift = fixed_point(acc_scale / s_a)
        a = self.b.requant(
            acc, t, self.dp, shift, mults=self.const(f"{i}.o.m", mult.astype(np.int32), DType.INT32)
        )
        x, s_x = self._residual(x, s_x, a, s_a, s_mid), s_mid
        # MLP
        y, s_y = self.norm(x, ly.norm2, f"{i}.n2")
        w_up, b_up = _fold_norm(ly.norm2, ly.w_up, ly.b_up)
        s_up, s_h = self.s(f"{i}.up"), self.s(f"{i}.h")
        up = self.linear(y, t, w_up, b_up, s_y, s_up, f"{i}.up")
        q_in = torch.arange(-128, 128, dtype=torch.float64)
        if ly.w_gate is not None:
            w_g, b_g = _fold_norm(ly.norm2, ly.w_gate, ly.b_gate)
            s_g = self.s(f"{i}.gate")
            gate = self.linear(y, t, w_g, b_g, s_y, s_g, f"{i}.gate")
            act = activation(tw.activation, q_in * s_g)
            s_act = activation_scale(float(act.abs().max()))
            gate = self.b.lut(gate, self.table(f"{i}.act", act, s_act), t, self.b._spec(gate).cols)
            hid = self.requant_to(self.b.mul(gate, up), s_act * s_up / s_h)
        else:
            act = activation(tw.activation, q_in * s_up)
            hid = self.b.lut(up, self.table(f"{i}.act", act, s_h), t, self.b._spec(up).cols)
        s_d, s_out = self.s(f"{i}.d"), self.s(f"{i}.out")
        d = self.linear(hid, t, ly.w_down, ly.b_down, s_h, s_d, f"{i}.down", self.dp)
        return self._residual(x, s_x, d, s_d, s_out), s_out

    def softmax(self, scores: str, exp_table: str, t: int, pos: int) -> str:
        """Causal softmax of int8 scores [t, cols] (row m at position pos + m) to int8
        probabilities at scale 2^-P_SHIFT."""
        cols = self.b._spec(scores).cols
        mask = (pos, t)
        mx = self.b.reduce(scores, ReduceKind.MAX, mask=mask)
        e = self.b.rowop(scores, mx, RowKind.SUB, lo=-128, hi=0, mask=mask)
        e = self.b.lut(e, exp_table, t, cols)
        sums = self.b.reduce(e, ReduceKind.MOMENTS)
        return self.b.rowop(e, sums, RowKind.DIV, shift=P_SHIFT, lo=0)

    def _exp_table(self, i: int, s_att: float) -> str:
        """exp(x * s_att) * 127 for x <= 0 (the scores minus their row max), 0 at -128."""
        x = torch.arange(-128, 128, dtype=torch.float64)
        e = torch.where(x <= 0, torch.exp(torch.clamp(x, max=0) * s_att) * 127, torch.zeros(()))
        e[0] = 0.0
        return self.table(f"{i}.exp", e, 1.0)

    def _residual(self, x: str, s_x: float, a: str, s_a: float, s_y: float) -> str:
        mults, shift = fixed_point([s_x / s_y, s_a / s_y])
        return self.b.qadd(x, a, mult=int(mults[0]), mult2=int(mults[1]), shift=shift)

    def _rope_proj(
        self,
        i: int,
        which: str,
        y: str,
        t: int,
        pos: int,
        w: F64,
        b: F64 | None,
        s_y: float,
        s_out: float,
        head: int,
    ) -> str:
        """Q or K of one head [t, dhp] int8 at s_out, rotated when the model is rotary."""
        name = f"{i}.{which}{head}"
        if self.tw.rope_theta is None:
            return self.linear(y, t, w, b, s_y, s_out, name, self.dhp)
        s_r = self.s(f"{i}.{which}r")
        r = rotate_half_matrix(self.tw.head_dim)
        raw = self.linear(y, t, w, b, s_y, s_r, name, self.dhp)
        rot = self.linear(
            y, t, r @ w, None if b is None else r @ b, s_y, s_r, f"{name}.rot", self.dhp
        )
        cos, sin = rope_tables(self.tw.rope_theta, self.tw.head_dim, pos + t)
        cq = self.const(f"cos{pos}x{t}", self._quant(cos[pos:], 1 / 127, t, self.dhp), DType.INT8)
        sq = self.const(f"sin{pos}x{t}", self._quant(sin[pos:], 1 / 127, t, self.dhp), DType.INT8)
        acc = self.b.add(self.b.mul(raw, cq), self.b.mul(rot, sq), t, self.dhp, False)
        return self.requant_to(acc, s_r / 127 / s_out)

    def logits(self, x: str, t: int, last_only: bool) -> tuple[str, float]:
        """int32 logits [1 or t, vocab padded] and their one scale."""
        tw = self.tw
        y, s_y = self.norm(x, tw.norm_f, "nf")
        rows = t
        if last_only and t > 1:
            y = self.b.gather(y, self.ids_const(f"last{t}", [t - 1]))
            rows = 1
        w, b = _fold_norm(tw.norm_f, tw.head, tw.head_b)
        wp = self._pad(w, self.vp, self.dp)
        s_w = max(float(np.abs(wp).max()), 1e-12) / 127.0
        qw = np.clip(np.round(wp / s_w), -127, 127).astype(np.int8)
        bias = np.full(self.vp, float(PAD_LOGIT))
        bias[: tw.vocab] = np.round(b / (s_y * s_w))
        wref = self.const("head.w", qw, DType.INT8)
        bref = self.const("head.b", bias.astype(np.int32), DType.INT32)
        mm = self.b.matmul(y, wref, rows, self.dp, self.vp)
        return self.b.add(mm, bref, rows, self.vp, True), s_y * s_w

    def forward(
        self, ids: str, t: int, pos: int, caches: list[list[KVCache]], last_only: bool
    ) -> tuple[str, float]:
        """Logits of `t` tokens at positions pos.. (caches updated in place)."""
        x, s_x = self.embed(ids, t, pos)
        for i, ly in enumerate(self.tw.layers):
            x, s_x = self.block(i, ly, x, s_x, t, pos, caches[i])
        return self.logits(x, t, last_only)
