"""The generation-job options `poc compile` and `poc job post` share (--hf, --prompt,
--prompt-ids, --max-new-tokens): one parser, one set of checks and one summary of what was
compiled, so the two commands cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from node.compute.llm_service import GenerationReport

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NEW_TOKENS = 16
LLM_EXAMPLE = "tiny-gpt"


def generation_options(f: F) -> F:
    """--hf, --prompt, --prompt-ids and --max-new-tokens (default None: "not given", so that
    a non-generation job can refuse it; DEFAULT_NEW_TOKENS when a generation job omits it)."""
    options = [
        click.option(
            "--hf",
            "hf_dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="a Hugging Face GPT-2 or Llama causal LM saved with save_pretrained "
            "(a generation job)",
        ),
        click.option(
            "--prompt", default=None, help="generation: the prompt text (model's tokenizer)"
        ),
        click.option(
            "--prompt-ids",
            default=None,
            help="generation: the prompt as token ids, comma-separated",
        ),
        click.option(
            "--max-new-tokens",
            type=click.IntRange(min=1),
            default=None,
            help=f"generation: tokens to generate (prefill + this many - 1 decode steps) "
            f"[default: {DEFAULT_NEW_TOKENS}]",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@dataclass(frozen=True)
class GenerationArgs:
    """A checked generation request: the model (example or Hugging Face dir) and the prompt
    as text or as ids."""

    example: str | None
    hf_dir: Path | None
    prompt: str | None
    prompt_ids: list[int] | None
    max_new_tokens: int

    def compile(self, out: Path) -> GenerationReport:
        """Compile the generation program into `out` (spec + the prompt's ids as inputs.npy)."""
        from node.compute.llm_service import compile_llm

        return compile_llm(
            self.example, self.hf_dir, out, self.prompt, self.prompt_ids, self.max_new_tokens
        )


def parse_ids(text: str) -> list[int]:
    try:
        ids = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: token ids are comma-separated integers", param_hint="'--prompt-ids'"
        ) from None
    if not ids:
        raise click.BadParameter("no token id given", param_hint="'--prompt-ids'")
    return ids


def generation_args(
    example: str | None,
    hf_dir: Path | None,
    prompt: str | None,
    prompt_ids: str | None,
    max_new_tokens: int | None,
    other_source: str | None = None,
) -> GenerationArgs | None:
    """The generation request the options make, or None when the job is not one (no
    --example tiny-gpt, no --hf). `other_source` names the job given instead (a MODEL file,
    a SPEC_DIR, another example), so that a prompt given with it is refused by name."""
    given = [
        name
        for name, value in (
            ("--prompt", prompt),
            ("--prompt-ids", prompt_ids),
            ("--max-new-tokens", max_new_tokens),
        )
        if value is not None
    ]
    if example != LLM_EXAMPLE and hf_dir is None:
        if given:
            what = other_source or (f"--example {example}" if example else "this job")
            raise click.UsageError(
                f"{', '.join(given)}: only for a generation job compiled from its model "
                f"(--example {LLM_EXAMPLE} or --hf DIR), not for {what}"
            )
        return None
    if prompt is not None and prompt_ids is not None:
        raise click.UsageError("give --prompt TEXT or --prompt-ids IDS, not both")
    if prompt is None and prompt_ids is None:
        raise click.UsageError("a generation job needs --prompt TEXT or --prompt-ids IDS")
    if prompt is not None and not prompt:
        raise click.BadParameter("an empty prompt", param_hint="'--prompt'")
    ids = parse_ids(prompt_ids) if prompt_ids is not None else None
    new_tokens = DEFAULT_NEW_TOKENS if max_new_tokens is None else max_new_tokens
    return GenerationArgs(example, hf_dir, prompt, ids, new_tokens)


def compiled_lines(rep: GenerationReport) -> list[str]:
    """What a generation program is: model, prompt and new tokens, its size and root."""
    return [
        f"{rep.model}: {rep.prompt_tokens} prompt tokens, {rep.max_new_tokens} new tokens; "
        f"{rep.ops} ops, {rep.slots} slots: "
        + ", ".join(f"{k} {v}" for k, v in rep.op_counts.items()),
        f"program root {rep.program_root}",
    ]
