"""The project's own GPT: a small nanoGPT-style causal language model over bytes (vocabulary
256, no tokenizer to ship), trained in seconds on the project's docs (`poc compile --example
tiny-gpt`). Pre-norm blocks: LayerNorm, causal multi-head attention, residual; LayerNorm, MLP
with tanh-approximated GELU, residual; learned token and position embeddings; a final
LayerNorm and an untied projection to the vocabulary."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from node.compute import determinism

TRAINING_VERSION = "1"  # bump when the model or training code changes: a new cache key
HELD_OUT_DOC = "poster.md"  # the docs file the tiny GPT never trains on: its held-out text
GENERATED_DOCS = ("benchmarks.md", "reliability.md")  # rewritten by tools: not training text


@dataclass(frozen=True)
class GPTConfig:
    vocab: int = 256
    context: int = 128
    layers: int = 4
    width: int = 128
    heads: int = 4
    mlp_ratio: int = 4
    norm_eps: float = 1e-5


class CausalSelfAttention(nn.Module):
    mask: torch.Tensor

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)
        mask = torch.tril(torch.ones(cfg.context, cfg.context, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        hd = d // self.heads
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.width, cfg.mlp_ratio * cfg.width)
        self.out = nn.Linear(cfg.mlp_ratio * cfg.width, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """forward(ids [B, T] int64) -> logits [B, T, vocab]."""

    def __init__(self, cfg: GPTConfig = GPTConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab, cfg.width)
        self.wpe = nn.Embedding(cfg.context, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.width, cfg.vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.cfg.context:
            raise ValueError(f"{t} tokens exceed the context of {self.cfg.context}")
        x = self.wte(ids) + self.wpe(torch.arange(t))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


# ---- the byte tokenizer ----


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def decode(ids: list[int]) -> str:
    return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


# ---- training on the docs ----


@dataclass(frozen=True)
class GPTTrainConfig:
    """400 steps of 4 windows: 205k tokens, under a pass over the training text. More, smaller
    steps learn more per token than fewer large ones this early in training: the former recipe
    (300 steps of 8 at lr 3e-3, 307k tokens) reached the same held-out perplexity (14.6 against
    14.8) for 1.5x the compute."""

    seed: int = 0
    steps: int = 400
    batch: int = 4
    lr: float = 5e-3
    warmup: int = 20


def docs_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "docs"


def corpus(docs: Path | None = None) -> tuple[bytes, bytes]:
    """(training text, held-out text): every docs/*.md but HELD_OUT_DOC and the generated
    ones, and HELD_OUT_DOC."""
    d = docs or docs_dir()
    skip = {HELD_OUT_DOC, *GENERATED_DOCS}
    files = sorted(p for p in d.glob("*.md") if p.name not in skip)
    if not files or not (d / HELD_OUT_DOC).exists():
        raise FileNotFoundError(f"{d} lacks the docs the tiny GPT trains on ({HELD_OUT_DOC})")
    train = b"\n\n".join(p.read_bytes() for p in files)
    return train, (d / HELD_OUT_DOC).read_bytes()


def train_gpt(
    text: bytes, cfg: GPTConfig = GPTConfig(), tcfg: GPTTrainConfig = GPTTrainConfig()
) -> TinyGPT:
    """Seeded AdamW on random windows of `text`, linear warm-up then cosine decay; CPU."""
    determinism.configure(seed=tcfg.seed)
    torch.manual_seed(tcfg.seed)
    model = TinyGPT(cfg)
    data = torch.tensor(list(text), dtype=torch.int64)
    g = torch.Generator().manual_seed(tcfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=0.01)
    model.train()
    for step in range(tcfg.steps):
        lr = tcfg.lr * min(1.0, (step + 1) / tcfg.warmup)
        lr *= 0.5 * (1 + math.cos(math.pi * step / tcfg.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(data) - cfg.context - 1, (tcfg.batch,), generator=g)
        x = torch.stack([data[s : s + cfg.context] for s in starts.tolist()])
        y = torch.stack([data[s + 1 : s + cfg.context + 1] for s in starts.tolist()])
        loss = F.cross_entropy(model(x).reshape(-1, cfg.vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def cache_dir() -> Path:
    return Path(__file__).resolve().parents[3] / ".cache" / "models"


def checkpoint_path(
    cfg: GPTConfig = GPTConfig(),
    tcfg: GPTTrainConfig = GPTTrainConfig(),
    cache: Path | None = None,
    train: bytes | None = None,
) -> Path:
    """Where `tiny_gpt` keeps the model trained on `train` (default: the docs' training text)
    with these configs: the key hashes them, the text, TRAINING_VERSION and torch's version."""
    text = corpus()[0] if train is None else train
    key = hashlib.sha256(
        repr((asdict(cfg), asdict(tcfg))).encode()
        + text
        + TRAINING_VERSION.encode()
        + torch.__version__.encode()
    ).hexdigest()[:16]
    return (cache or cache_dir()) / f"tiny-gpt-{key}.pt"


def tiny_gpt(
    cfg: GPTConfig = GPTConfig(),
    tcfg: GPTTrainConfig = GPTTrainConfig(),
    cache: Path | None = None,
) -> TinyGPT:
    """The trained tiny GPT, from the cache when the docs, configs and code are unchanged
    (the key hashes them and TRAINING_VERSION), else trained now and saved there."""
    train, _ = corpus()
    path = checkpoint_path(cfg, tcfg, cache, train)
    if path.exists():
        model = TinyGPT(cfg)
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = train_gpt(train, cfg, tcfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return model


@torch.no_grad()
def evaluate(model: nn.Module, text: bytes, context: int) -> tuple[float, float]:
    """(mean next-token cross entropy in nats, perplexity) over non-overlapping windows."""
    data = torch.tensor(list(text), dtype=torch.int64)
    total, count = 0.0, 0
    for s in range(0, len(data) - 1, context):
        x = data[s : s + context]
        y = data[s + 1 : s + context + 1]
        x = x[: len(y)]
        logits = model(x.unsqueeze(0))[0]
        total += float(F.cross_entropy(logits, y, reduction="sum"))
        count += len(y)
    ce = total / count
    return ce, math.exp(ce)
