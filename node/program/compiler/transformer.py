"""A decoder-only transformer as plain weights, whatever model it came from: the project's
TinyGPT, a Hugging Face GPT-2 or a Llama (hf_models.py). The integer lowering works on this one
description, not on a traced graph: a generation program is prefill plus N decode steps over a
KV cache, which no single forward trace contains, and Hugging Face's forward goes through cache
objects, mask builders and attention dispatch that torch.fx cannot trace as data flow. Each
family maps to the same block: norm, attention (optional rotary positions and grouped KV heads),
residual, norm, MLP (optionally gated), residual.

`float_forward` is the float reference the integer program is measured against; tests check it
against each source model's own logits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

F64 = npt.NDArray[np.float64]

ACTIVATIONS = ("gelu_tanh", "gelu", "silu")


@dataclass(frozen=True)
class Norm:
    """LayerNorm (bias given, mean subtracted) or RMSNorm (`bias` None, no mean)."""

    weight: F64
    bias: F64 | None
    eps: float
    rms: bool = False


@dataclass(frozen=True)
class Layer:
    norm1: Norm
    wq: F64  # [heads*head_dim, width]; rows of head h are h*head_dim ..
    wk: F64  # [kv_heads*head_dim, width]
    wv: F64
    bq: F64 | None
    bk: F64 | None
    bv: F64 | None
    wo: F64  # [width, heads*head_dim]
    bo: F64 | None
    norm2: Norm
    w_up: F64  # [ffn, width]
    b_up: F64 | None
    w_gate: F64 | None  # gated MLP: act(gate x) * (up x)
    b_gate: F64 | None
    w_down: F64  # [width, ffn]
    b_down: F64 | None


@dataclass(frozen=True)
class TransformerWeights:
    family: str  # "tiny-gpt", "gpt2", "llama": for messages and the job's metadata
    vocab: int
    width: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int  # the longest sequence the model takes
    activation: str  # one of ACTIVATIONS
    wte: F64  # [vocab, width]
    wpe: F64 | None  # learned positions [context, width], or None with rotary
    rope_theta: float | None
    layers: tuple[Layer, ...]
    norm_f: Norm
    head: F64  # [vocab, width]
    head_b: F64 | None


def rope_tables(theta: float, head_dim: int, positions: int) -> tuple[F64, F64]:
    """(cos, sin) [positions, head_dim] of the rotate-half convention (GPT-NeoX, Llama)."""
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    ang = np.arange(positions, dtype=np.float64)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=1)
    return np.cos(ang), np.sin(ang)


def rotate_half_matrix(head_dim: int) -> F64:
    """R with R @ q = rotate_half(q) = concat(-q[half:], q[:half]): a signed permutation, so
    rot(q) = (R Wq) x is one more projection, quantized like Wq."""
    h = head_dim // 2
    r = np.zeros((head_dim, head_dim))
    r[np.arange(h), np.arange(h) + h] = -1.0
    r[np.arange(h) + h, np.arange(h)] = 1.0
    return r


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu(x)
    if name == "silu":
        return F.silu(x)
    raise ValueError(f"unknown activation {name!r}: {', '.join(ACTIVATIONS)}")


def _t(a: F64 | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))


Recorder = Callable[[str, torch.Tensor], None]


def _skip(name: str, value: torch.Tensor) -> None:
    pass


def _norm(n: Norm, x: torch.Tensor, rec: Recorder = _skip, name: str = "") -> torch.Tensor:
    w = _t(n.weight)
    assert w is not None
    if n.rms:
        y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + n.eps)
    else:
        mu = x.mean(-1, keepdim=True)
        y = (x - mu) * torch.rsqrt(((x - mu) ** 2).mean(-1, keepdim=True) + n.eps)
    rec(name, y)  # normalized, before the gain (which the next matmul absorbs)
    y = y * w
    b = _t(n.bias)
    return y if b is None else y + b


def _lin(x: torch.Tensor, w: F64, b: F64 | None) -> torch.Tensor:
    return F.linear(x, torch.from_numpy(np.asarray(w, dtype=np.float64)), _t(b))


@torch.no_grad()
def float_forward(
    tw: TransformerWeights, ids: list[int] | npt.NDArray[np.int64], rec: Recorder = _skip
) -> F64:
    """Logits [T, vocab] of token ids [T] in float64 (the float reference). `rec(name, value)`
    sees the intermediate values the integer lowering quantizes (calibration, llm_quant.py)."""
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    t = len(ids_t)
    if t > tw.context:
        raise ValueError(f"{t} tokens exceed the model's context of {tw.context}")
    x = _t(tw.wte)[ids_t]  # type: ignore[index]
    rec("tok", x)
    if tw.wpe is not None:
        rec("pos", _t(tw.wpe)[:t])  # type: ignore[index]
        x = x + _t(tw.wpe)[:t]  # type: ignore[index]
    rec("emb", x)
    cos = sin = None
    if tw.rope_theta is not None:
        c, s = rope_tables(tw.rope_theta, tw.head_dim, t)
        cos, sin = torch.from_numpy(c), torch.from_numpy(s)
    hd, group = tw.head_dim, tw.heads // tw.kv_heads
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for i, ly in enumerate(tw.layers):
        h = _norm(ly.norm1, x, rec, f"{i}.n1")
        q = _lin(h, ly.wq, ly.bq).view(t, tw.heads, hd).transpose(0, 1)
        k = _lin(h, ly.wk, ly.bk).view(t, tw.kv_heads, hd).transpose(0, 1)
        v_nb = _lin(h, ly.wv, None).view(t, tw.kv_heads, hd).transpose(0, 1)
        v = v_nb if ly.bv is None else v_nb + _t(ly.bv).view(tw.kv_heads, 1, hd)  # type: ignore[union-attr]
        if cos is not None and sin is not None:
            rec(f"{i}.qr", q)
            rec(f"{i}.kr", k)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        rec(f"{i}.q", q)
        rec(f"{i}.k", k)
        rec(f"{i}.v", v_nb)  # the lowering adds v's bias after attention (rows of P sum to 1)
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        v_nb = v_nb.repeat_interleave(group, dim=0)
        att = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        rec(f"{i}.att", att.masked_fill(~mask, 0.0))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        rec(f"{i}.o", att @ v_nb)
        o = (att @ v).transpose(0, 1).reshape(t, tw.heads * hd)
        a = _lin(o, ly.wo, ly.bo)
        rec(f"{i}.a", a)
        x = x + a
        rec(f"{i}.mid", x)
        h = _norm(ly.norm2, x, rec, f"{i}.n2")
        up = _lin(h, ly.w_up, ly.b_up)
        rec(f"{i}.up", up)
        if ly.w_gate is not None:
            gate = _lin(h, ly.w_gate, ly.b_gate)
            rec(f"{i}.gate", gate)
            mid = activation(tw.activation, gate) * up
        else:
            mid = activation(tw.activation, up)
        rec(f"{i}.h", mid)
        dn = _lin(mid, ly.w_down, ly.b_down)
        rec(f"{i}.d", dn)
        x = x + dn
        rec(f"{i}.out", x)
    return _lin(_norm(tw.norm_f, x, rec, "nf"), tw.head, tw.head_b).numpy()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def greedy_float(tw: TransformerWeights, prompt: list[int], new_tokens: int) -> list[int]:
    """The float model's greedy continuation (recomputes the prefix each step: a reference)."""
    ids = list(prompt)
    for _ in range(new_tokens):
        ids.append(int(float_forward(tw, ids)[-1].argmax()))
    return ids[len(prompt) :]


# ---- the project's TinyGPT ----


def split_qkv(w: F64, b: F64, d: int) -> tuple[F64, F64, F64, F64, F64, F64]:
    """A fused [3d, d] query-key-value projection and its [3d] bias, as Layer's wq, wk, wv, bq,
    bk, bv (GPT-2's c_attn and TinyGPT's qkv are both laid out q, k, v)."""
    return w[:d], w[d : 2 * d], w[2 * d :], b[:d], b[d : 2 * d], b[2 * d :]


def from_tiny_gpt(model: torch.nn.Module) -> TransformerWeights:
    from node.program.compiler.gpt import Block, TinyGPT

    assert isinstance(model, TinyGPT)
    cfg = model.cfg
    d, hd = cfg.width, cfg.width // cfg.heads

    def arr(p: Any) -> F64:
        return np.asarray(p.detach().to(torch.float64).numpy(), dtype=np.float64).copy()

    def norm(m: torch.nn.LayerNorm) -> Norm:
        return Norm(arr(m.weight), arr(m.bias), float(m.eps))

    layers = []
    for blk in model.blocks:
        assert isinstance(blk, Block)
        w = arr(blk.attn.qkv.weight)
        b = arr(blk.attn.qkv.bias)
        layers.append(
            Layer(
                norm(blk.ln1),
                *split_qkv(w, b, d),
                arr(blk.attn.proj.weight),
                arr(blk.attn.proj.bias),
                norm(blk.ln2),
                arr(blk.mlp.fc.weight),
                arr(blk.mlp.fc.bias),
                None,
                None,
                arr(blk.mlp.out.weight),
                arr(blk.mlp.out.bias),
            )
        )
    return TransformerWeights(
        "tiny-gpt",
        cfg.vocab,
        d,
        cfg.heads,
        cfg.heads,
        hd,
        cfg.context,
        "gelu_tanh",
        arr(model.wte.weight),
        arr(model.wpe.weight),
        None,
        tuple(layers),
        norm(model.ln_f),
        arr(model.head.weight),
        None,
    )
