"""Hugging Face causal language models of the GPT-2 and Llama families, loaded from a local
`save_pretrained` directory (never downloaded), as TransformerWeights. `transformers` is the
optional extra `hf` (pyproject.toml): imported only here, and only when a directory is loaded.

Refused with a CompileError naming the setting: other architectures, rotary scaling, GPT-2's
per-layer attention scaling, activations other than GELU (exact or tanh) and SiLU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from node.program.compiler.errors import ModelLoadError, UnsupportedLayer
from node.program.compiler.transformer import F64, Layer, Norm, TransformerWeights, split_qkv

FAMILIES = ("GPT2LMHeadModel", "LlamaForCausalLM")
_GELU = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}


def _arr(p: torch.Tensor | None) -> F64 | None:
    return None if p is None else p.detach().to(torch.float64).numpy().copy()


def _req(p: torch.Tensor) -> F64:
    a = _arr(p)
    assert a is not None
    return a


def load_hf(directory: str | Path) -> tuple[TransformerWeights, Any]:
    """(weights, tokenizer or None) of the model saved in `directory`."""
    d = Path(directory)
    if not (d / "config.json").exists():
        raise ModelLoadError(f"{d} has no config.json: not a save_pretrained directory")
    try:
        import transformers
    except ImportError as exc:
        raise ModelLoadError(
            "loading a Hugging Face model needs the optional extra: pip install -e '.[hf]'"
        ) from exc
    config = transformers.AutoConfig.from_pretrained(d, local_files_only=True)
    arch = (getattr(config, "architectures", None) or [type(config).__name__])[0]
    if arch not in FAMILIES:
        raise UnsupportedLayer(
            f"{d}: architecture {arch} is not supported; supported: {', '.join(FAMILIES)}"
        )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        d, local_files_only=True, torch_dtype=torch.float32
    ).eval()
    tokenizer = None
    if any((d / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
        tokenizer = transformers.AutoTokenizer.from_pretrained(d, local_files_only=True)
    return from_hf(model), tokenizer


def from_hf(model: torch.nn.Module) -> TransformerWeights:
    name = type(model).__name__
    if name == "GPT2LMHeadModel":
        return _from_gpt2(model)
    if name == "LlamaForCausalLM":
        return _from_llama(model)
    raise UnsupportedLayer(f"{name} is not supported; supported: {', '.join(FAMILIES)}")


def _from_gpt2(model: Any) -> TransformerWeights:
    c = model.config
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if getattr(c, flag, False):
            raise UnsupportedLayer(f"GPT-2 with {flag}=True is not supported")
    if not c.scale_attn_weights:
        raise UnsupportedLayer("GPT-2 with scale_attn_weights=False is not supported")
    act = _GELU.get(c.activation_function)
    if act is None:
        raise UnsupportedLayer(
            f"GPT-2 activation {c.activation_function!r}; supported: {', '.join(_GELU)}"
        )
    d, heads = c.n_embd, c.n_head
    tr = model.transformer

    def norm(m: Any) -> Norm:
        return Norm(_req(m.weight), _arr(m.bias), float(m.eps))

    layers = []
    for blk in tr.h:
        # Conv1D stores [in, out] (y = x W + b): transpose to Linear's [out, in].
        w = _req(blk.attn.c_attn.weight).T
        b = _req(blk.attn.c_attn.bias)
        layers.append(
            Layer(
                norm(blk.ln_1),
                *split_qkv(w, b, d),
                _req(blk.attn.c_proj.weight).T.copy(),
                _arr(blk.attn.c_proj.bias),
                norm(blk.ln_2),
                _req(blk.mlp.c_fc.weight).T.copy(),
                _arr(blk.mlp.c_fc.bias),
                None,
                None,
                _req(blk.mlp.c_proj.weight).T.copy(),
                _arr(blk.mlp.c_proj.bias),
            )
        )
    return TransformerWeights(
        "gpt2",
        c.vocab_size,
        d,
        heads,
        heads,
        d // heads,
        c.n_positions,
        act,
        _req(tr.wte.weight),
        _req(tr.wpe.weight),
        None,
        tuple(layers),
        norm(tr.ln_f),
        _req(model.lm_head.weight),
        None,
    )


def _from_llama(model: Any) -> TransformerWeights:
    c = model.config
    if getattr(c, "rope_scaling", None):
        raise UnsupportedLayer(f"Llama with rope_scaling={c.rope_scaling} is not supported")
    if c.hidden_act != "silu":
        raise UnsupportedLayer(f"Llama activation {c.hidden_act!r}; supported: silu")
    heads, kv = c.num_attention_heads, c.num_key_value_heads
    hd = getattr(c, "head_dim", None) or c.hidden_size // heads
    m = model.model

    def norm(n: Any) -> Norm:
        return Norm(_req(n.weight), None, float(n.variance_epsilon), rms=True)

    def bias(lin: Any) -> F64 | None:
        return _arr(lin.bias) if lin.bias is not None else None

    layers = []
    for blk in m.layers:
        a, mlp = blk.self_attn, blk.mlp
        layers.append(
            Layer(
                norm(blk.input_layernorm),
                _req(a.q_proj.weight),
                _req(a.k_proj.weight),
                _req(a.v_proj.weight),
                bias(a.q_proj),
                bias(a.k_proj),
                bias(a.v_proj),
                _req(a.o_proj.weight),
                bias(a.o_proj),
                norm(blk.post_attention_layernorm),
                _req(mlp.up_proj.weight),
                bias(mlp.up_proj),
                _req(mlp.gate_proj.weight),
                bias(mlp.gate_proj),
                _req(mlp.down_proj.weight),
                bias(mlp.down_proj),
            )
        )
    theta = float(getattr(c, "rope_theta", 10000.0))
    return TransformerWeights(
        "llama",
        c.vocab_size,
        c.hidden_size,
        heads,
        kv,
        hd,
        c.max_position_embeddings,
        "silu",
        _req(m.embed_tokens.weight),
        None,
        theta,
        tuple(layers),
        norm(m.norm),
        _req(model.lm_head.weight),
        None,
    )


def hf_logits(model: torch.nn.Module, ids: list[int]) -> np.ndarray:
    """The Hugging Face model's own logits [T, vocab] (float32), for tests."""
    with torch.no_grad():
        out = model(torch.tensor([ids]))
    return out.logits[0].to(torch.float64).numpy()
