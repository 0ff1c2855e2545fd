"""Transformer generation jobs (issue 16): accuracy of the integer program against the float
model on held-out text, and tokens/s of both on this CPU.

    python -m poc_lab.bench.llm [--no-write] [--windows 8] [--new-tokens 32]
    python -m poc_lab.bench.llm --size gpt2-small [--prompt 128] [--new-tokens 32] [--reps 1]

Accuracy: the tiny GPT (`poc compile --example tiny-gpt`: trained on docs/ except
docs/poster.md, cached under .cache/models) on docs/poster.md, next-token prediction in
windows of 128 bytes, and greedy continuations of a few prompts. Speed: a GPT-2 of the tiny
GPT's shape (random weights, Hugging Face, float with its KV cache) against its integer
generation program on the executor (prefill = the program with one new token; decode = the
extra time of the longer program per extra token). Rewrites the `llm` section of
docs/benchmarks.md. `--size gpt2-small` measures only the speed, of a GPT-2-small-shaped model
(12 layers, width 768, 12 heads, vocabulary 50,257, random weights; issue 16's size target), and
rewrites the `llm-size` section instead."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass

import numpy as np

from node.program.compiler.llm_program import Accuracy
from poc_lab.bench.report import machine, write_section

PROMPTS = ("The provider ", "A challenger ", "The dispute game ")
# GPT2Config arguments: the tiny GPT's shape, and GPT-2 small's (124M parameters)
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 4, "n_embd": 128, "n_head": 4, "vocab_size": 256, "n_positions": 128},
    "gpt2-small": {
        "n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024,
    },
}  # fmt: skip


@dataclass
class Speed:
    prompt: int
    new: int
    float_prefill_s: float
    float_decode_s: float  # per token
    int_prefill_s: float
    int_decode_s: float  # per token, no commitments
    int_prefill_commit_s: float
    int_decode_commit_s: float
    ops: int
    parameters: int = 0
    compile_s: float = 0.0  # the longer program's, calibration excluded


@dataclass
class ModelSource:
    checkpoint: str  # the state dict's path, relative to the repository when inside it
    trained_s: float | None  # seconds `tiny_gpt()` trained it in this run; None: loaded


def accuracy_rows(
    windows: int, new_tokens: int, checkpoint: str | None = None
) -> tuple[Accuracy, list[tuple[str, str, str, int]], ModelSource]:
    from node.compute.llm_service import Tokenizer, calibration_samples
    from node.program.compiler import gpt
    from node.program.compiler.llm_lower import calibrate
    from node.program.compiler.llm_program import accuracy, compile_generation
    from node.program.compiler.transformer import from_tiny_gpt, greedy_float

    if checkpoint is None:
        path = gpt.checkpoint_path()
        cached = path.exists()
        t0 = time.perf_counter()
        model = gpt.tiny_gpt()
        trained = None if cached else time.perf_counter() - t0
        root = gpt.docs_dir().parent
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        source = ModelSource(str(shown), trained)
    else:  # a TinyGPT state dict (torch.save), e.g. one trained on an older docs snapshot
        import torch

        model = gpt.TinyGPT()
        model.load_state_dict(torch.load(checkpoint, weights_only=True))
        model.eval()
        source = ModelSource(checkpoint, None)
    tw = from_tiny_gpt(model)
    tok = Tokenizer("bytes")
    _, held_out = gpt.corpus()
    amax = calibrate(tw, calibration_samples(tw, tok, []))
    acc = accuracy(tw, amax, list(held_out[: 128 * windows + 1]), 128)
    greedy = []
    for p in PROMPTS:
        ids = tok.encode(p)
        got = compile_generation(tw, amax, ids, new_tokens).expected
        want = greedy_float(tw, ids, new_tokens)
        same = next((i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), len(got))
        greedy.append((p, tok.decode(got) or "", tok.decode(want) or "", same))
    return acc, greedy, source


def speed(prompt: int, new: int, reps: int = 3, shape: str = "tiny") -> Speed:
    import torch
    import transformers

    from node.compute.executor import Commit, Executor
    from node.program.compiler.hf_models import from_hf
    from node.program.compiler.llm_lower import calibrate
    from node.program.compiler.llm_program import compile_generation, ids_tensor

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(**SHAPES[shape])
    model = transformers.GPT2LMHeadModel(cfg).eval()
    tw = from_hf(model)
    rng = np.random.default_rng(0)
    vocab = cfg.vocab_size
    amax = calibrate(tw, [rng.integers(0, vocab, 128).tolist() for _ in range(4)])
    ids = rng.integers(0, vocab, prompt).tolist()

    def best(fn: object) -> float:
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return min(times)

    x = torch.tensor([ids])
    with torch.no_grad():
        f_pre = best(lambda: model(x, use_cache=True))
        f_gen = best(
            lambda: model.generate(x, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        )
    runs: dict[tuple[int, Commit], float] = {}
    ops, compile_s = 0, 0.0
    for n in (1, new):
        t0 = time.perf_counter()
        gen = compile_generation(tw, amax, ids, n)
        compile_s = time.perf_counter() - t0
        ops = len(gen.spec.program.ops)
        ex = Executor(gen.spec.program, gen.spec.constants)
        data = {gen.spec.data_slot: ids_tensor(ids)}
        for commit in (Commit.NONE, Commit.STATE):
            runs[(n, commit)] = best(lambda ex=ex, data=data, commit=commit: ex.run(data, commit))
    per = new - 1
    return Speed(
        prompt,
        new,
        f_pre,
        (f_gen - f_pre) / per,
        runs[(1, Commit.NONE)],
        (runs[(new, Commit.NONE)] - runs[(1, Commit.NONE)]) / per,
        runs[(1, Commit.STATE)],
        (runs[(new, Commit.STATE)] - runs[(1, Commit.STATE)]) / per,
        ops,
        sum(p.numel() for p in model.parameters()),
        compile_s,
    )


def render(
    acc: Accuracy,
    greedy: list[tuple[str, str, str, int]],
    sp: Speed,
    new: int,
    source: ModelSource,
    windows: int = 8,
) -> str:
    from node.program.compiler.gpt import GPTTrainConfig

    tc = GPTTrainConfig()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    a = acc
    lines = [
        "## Transformer generation jobs",
        "",
        f"Machine: {machine()} (shared with other jobs: times are the best of 3). Command: "
        f"`python -m poc_lab.bench.llm{'' if windows == 8 else f' --windows {windows}'}`; "
        f"date {when}.",
        "Model: the tiny GPT of `poc compile --example tiny-gpt` (4 layers, width 128, 4 heads, "
        f"context 128, bytes), trained on docs/ without docs/poster.md ({tc.steps} steps of "
        f"{tc.batch} windows of 128 bytes, AdamW, lr {tc.lr:g} with warm-up and cosine decay, "
        "seeded, CPU); integer program: int8 "
        "activations per tensor, int8 weights per channel, calibrated on 16 windows of the "
        "training text (node/program/compiler/llm_lower.py). "
        f"Checkpoint: `{source.checkpoint}`"
        + (
            f", trained by this run in {source.trained_s:.0f} s."
            if source.trained_s is not None
            else " (loaded, not trained by this run)."
        ),
        "",
        "| held-out text (docs/poster.md) | value |",
        "|---|---|",
        f"| next-token predictions compared | {a.tokens} |",
        f"| top-1 agreement, integer vs float | {a.top1_agreement:.2%} |",
        f"| perplexity, float | {a.perplexity_float:.3f} |",
        f"| perplexity, integer | {a.perplexity_int:.3f} ({a.perplexity_ratio - 1:+.2%}) |",
        "",
        f"Greedy continuations ({new} new tokens, integer program vs float model):",
        "",
        "| prompt | integer program | float model | leading tokens equal |",
        "|---|---|---|---|",
    ]
    for p, got, want, same in greedy:
        lines.append(f"| `{p!r}` | `{got!r}` | `{want!r}` | {same} / {new} |")
    lines += [
        "",
        f"Speed, a GPT-2 of the same shape (random weights), prompt {sp.prompt} tokens, "
        f"{sp.new} new tokens ({sp.ops} ops in the integer program):",
        "",
        *speed_lines(sp),
    ]
    return "\n".join(lines)


def speed_lines(sp: Speed) -> list[str]:
    """The speed table (and a warning when the machine's load showed in the figures)."""
    lines = [
        "| | float torch (KV cache) | integer program | integer program + state commitments | price of exactness (int / float) |",
        "|---|---|---|---|---|",
        f"| prefill, tokens/s | {sp.prompt / sp.float_prefill_s:.0f} | "
        f"{sp.prompt / sp.int_prefill_s:.0f} | {sp.prompt / sp.int_prefill_commit_s:.0f} | "
        f"{sp.int_prefill_s / sp.float_prefill_s:.1f}x |",
        f"| decode, tokens/s | {1 / sp.float_decode_s:.1f} | {1 / sp.int_decode_s:.1f} | "
        f"{1 / sp.int_decode_commit_s:.1f} | {sp.int_decode_s / sp.float_decode_s:.1f}x |",
    ]
    if sp.int_decode_commit_s < sp.int_decode_s or sp.int_prefill_commit_s < sp.int_prefill_s:
        lines += [
            "",
            "Noise: a run with commitments came out faster than the same run without, so the "
            "machine's load varied during the measurement; decode figures are differences of "
            "two program runs and suffer most.",
        ]
    return lines


def render_size(sp: Speed, reps: int, rss_mib: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    c = SHAPES["gpt2-small"]
    return "\n".join([
        "## Generation job at GPT-2-small size (issue 16)",
        "",
        f"Machine: {machine()} (times are the best of {reps}). Command: "
        f"`python -m poc_lab.bench.llm --size gpt2-small --prompt {sp.prompt} --new-tokens "
        f"{sp.new} --reps {reps}`; date {when}.",
        f"A GPT-2 of GPT-2 small's shape ({c['n_layer']} layers, width {c['n_embd']}, "
        f"{c['n_head']} heads, vocabulary {c['vocab_size']:,}; {sp.parameters / 1e6:.0f}M "
        "parameters, random weights, Hugging Face) and its integer generation program: prompt "
        f"{sp.prompt} tokens, {sp.new} new tokens, {sp.ops:,} ops, compiled in "
        f"{sp.compile_s:.0f} s; run on the executor (CPU) without and with the state "
        f"commitments (every slot's Merkle root, S_N). Peak RSS of the run {rss_mib:,.0f} MiB.",
        "",
        *speed_lines(sp),
    ])  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--checkpoint", default=None, help="a TinyGPT state dict instead of tiny-gpt")
    ap.add_argument("--size", choices=["gpt2-small"], help="the speed of a larger shape only")
    ap.add_argument("--prompt", type=int, default=128, help="--size: prompt tokens")
    ap.add_argument("--reps", type=int, default=1, help="--size: runs of each, best kept")
    args = ap.parse_args()
    if args.size:
        import resource

        sp = speed(args.prompt, args.new_tokens, args.reps, args.size)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        body = render_size(sp, args.reps, rss)
        print(body)
        if not args.no_write:
            write_section("llm-size", body)
        return
    acc, greedy, source = accuracy_rows(args.windows, args.new_tokens, args.checkpoint)
    print(acc, greedy, flush=True)
    sp = speed(64, args.new_tokens)
    print(sp, flush=True)
    body = render(acc, greedy, sp, args.new_tokens, source, args.windows)
    print(body)
    if not args.no_write:
        write_section("llm", body)


if __name__ == "__main__":
    main()
