"""What `poc compile --example tiny-gpt` and `poc compile --hf DIR` do: load or train the model,
calibrate it, compile a generation program for one prompt and a number of new tokens, and say
what it generates (integer program) and what the float model generates.

Tokenizers: the tiny GPT reads bytes (UTF-8); a Hugging Face directory's own tokenizer when it
has one, else the prompt must be given as ids (`--prompt-ids`). The spec's meta records which,
so that `poc job result` can print the text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.program.compiler.errors import CompileError
from node.program.compiler.transformer import TransformerWeights, greedy_float

LLM_EXAMPLES = ("tiny-gpt",)
CALIBRATION_WINDOWS = 16
PROMPT_INPUTS = "inputs.npy"  # the prompt's ids, int32 [T, 32]: `poc job post SPEC_DIR` reads it


@dataclass
class GenerationReport:
    out_dir: str
    program_root: str
    ops: int
    slots: int
    op_counts: dict[str, int]
    model: str
    prompt_tokens: int
    max_new_tokens: int
    generated_ids: list[int]
    generated_text: str | None
    float_ids: list[int]
    float_match: int  # leading generated tokens equal to the float model's greedy ones
    inputs: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Tokenizer:
    """encode/decode for bytes ("bytes") or a Hugging Face tokenizer ("hf")."""

    def __init__(self, kind: str, hf: Any = None, source: str | None = None) -> None:
        self.kind, self.hf, self.source = kind, hf, source

    def encode(self, text: str) -> list[int]:
        if self.kind == "bytes":
            return list(text.encode("utf-8"))
        if self.hf is None:
            raise CompileError("this model directory has no tokenizer: give --prompt-ids")
        return [int(i) for i in self.hf.encode(text)]

    def decode(self, ids: list[int]) -> str | None:
        if self.kind == "bytes":
            return bytes(int(i) % 256 for i in ids).decode("utf-8", errors="replace")
        return None if self.hf is None else str(self.hf.decode(ids))

    def meta(self) -> dict[str, Any]:
        return {"tokenizer": self.kind, "tokenizer_source": self.source}


def load_llm(example: str | None, hf_dir: Path | None) -> tuple[TransformerWeights, Tokenizer]:
    from node.program.compiler.transformer import from_tiny_gpt

    if example == "tiny-gpt":
        from node.program.compiler.gpt import tiny_gpt

        return from_tiny_gpt(tiny_gpt()), Tokenizer("bytes")
    if hf_dir is not None:
        from node.program.compiler.hf_models import load_hf

        tw, tok = load_hf(hf_dir)
        return tw, Tokenizer("hf", tok, str(Path(hf_dir).resolve()) if tok is not None else None)
    raise CompileError(f"unknown LLM example {example!r}: {', '.join(LLM_EXAMPLES)}")


def calibration_samples(
    tw: TransformerWeights, tok: Tokenizer, prompt: list[int], seed: int = 0
) -> list[list[int]]:
    """Windows of the project's docs (through the model's tokenizer), or seeded random ids when
    the model has none; and the prompt."""
    from node.program.compiler.gpt import corpus

    window = min(tw.context, 128)
    rng = np.random.default_rng(seed)
    out: list[list[int]] = []
    if tok.kind == "bytes" or tok.hf is not None:
        ids = tok.encode(corpus()[0].decode("utf-8", errors="replace"))
        starts = rng.integers(0, max(1, len(ids) - window), CALIBRATION_WINDOWS)
        out = [ids[s : s + window] for s in starts.tolist()]
    else:
        out = [rng.integers(0, tw.vocab, window).tolist() for _ in range(CALIBRATION_WINDOWS)]
    return [*out, prompt] if prompt else out


def compile_llm(
    example: str | None,
    hf_dir: Path | None,
    out: Path,
    prompt: str | None,
    prompt_ids: list[int] | None,
    new_tokens: int,
) -> GenerationReport:
    from node.program.compiler.llm_lower import calibrate
    from node.program.compiler.llm_program import compile_generation, ids_tensor

    if (prompt is None) == (prompt_ids is None):
        raise CompileError("give exactly one of --prompt TEXT or --prompt-ids IDS")
    tw, tok = load_llm(example, hf_dir)
    ids = prompt_ids if prompt_ids is not None else tok.encode(prompt or "")
    amax = calibrate(tw, calibration_samples(tw, tok, ids))
    source = example or str(hf_dir)
    gen = compile_generation(tw, amax, ids, new_tokens, {"source": source, **tok.meta()})
    gen.spec.save(out)
    np.save(out / PROMPT_INPUTS, ids_tensor(ids))
    floats = greedy_float(tw, ids, new_tokens)
    match = next(
        (i for i, (a, b) in enumerate(zip(gen.expected, floats, strict=True)) if a != b), new_tokens
    )
    counts: dict[str, int] = {}
    for op in gen.spec.program.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return GenerationReport(
        str(out),
        "0x" + gen.spec.program.root.hex(),
        len(gen.spec.program.ops),
        gen.spec.program.n_slots,
        counts,
        tw.family,
        len(ids),
        new_tokens,
        gen.expected,
        tok.decode(gen.expected),
        floats,
        match,
        str(out / PROMPT_INPUTS),
        gen.meta,
    )


def decode_output(meta: dict[str, Any], ids: list[int]) -> str | None:
    """The text of generated ids by the tokenizer the spec's meta names (None if unavailable)."""
    kind = meta.get("tokenizer")
    if kind == "bytes":
        return Tokenizer("bytes").decode(ids)
    src = meta.get("tokenizer_source")
    if kind == "hf" and isinstance(src, str) and Path(src).is_dir():
        try:
            import transformers

            hf = transformers.AutoTokenizer.from_pretrained(src, local_files_only=True)
        except (ImportError, OSError, ValueError):
            return None
        return str(hf.decode(ids))
    return None
