"""Generation jobs and the accuracy of the integer model.

A generation program takes the prompt's token ids (the data slot, int32 [T0, 32], id in
column 0), runs the prefill and then one decode step per further token over KV caches, and
outputs the generated ids (int32 [N, 32], id in column 0). It is lowered once with an
EagerBuilder, so compiling also yields the tokens the program computes (`expected`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from node.program.compiler.eager import EagerBuilder
from node.program.compiler.errors import CompileError
from node.program.compiler.llm_lower import TransformerLowering
from node.program.compiler.transformer import TransformerWeights, float_forward
from node.program.constants import DType, Opcode, ReduceKind, RowKind
from node.program.program import Program
from node.program.spec import JobSpec

PROMPT_INPUT = "ids"


def ids_tensor(ids: Sequence[int]) -> npt.NDArray[np.int32]:
    """Token ids as the int32 [T, 32] layout the gather op reads (id in column 0)."""
    arr = np.zeros((len(ids), 32), dtype=np.int32)
    arr[:, 0] = np.asarray(ids, dtype=np.int64)
    return arr


@dataclass
class Generation:
    spec: JobSpec
    prompt: list[int]
    expected: list[int]  # the tokens the program generates (computed while lowering)
    meta: dict[str, Any] = field(default_factory=dict)


def compile_generation(
    tw: TransformerWeights,
    amax: dict[str, float],
    prompt: Sequence[int],
    new_tokens: int,
    meta: dict[str, Any] | None = None,
) -> Generation:
    """The program of prefill(prompt) + (new_tokens - 1) greedy decode steps."""
    t0 = len(prompt)
    if t0 < 1 or new_tokens < 1:
        raise CompileError("a generation needs a prompt of >= 1 token and >= 1 new token")
    if any(not 0 <= int(i) < tw.vocab for i in prompt):
        raise CompileError(f"prompt token ids must be in 0 .. {tw.vocab - 1}")
    positions = t0 + new_tokens - 1  # the last new token is never fed back
    if positions > tw.context:
        raise CompileError(
            f"{t0} prompt tokens + {new_tokens} new tokens exceed the model's context of "
            f"{tw.context} (at most {tw.context - t0 + 1} new tokens)"
        )
    b = EagerBuilder()
    low = TransformerLowering(tw, amax, b, positions)
    ids = b.data_input(PROMPT_INPUT, t0, 32, DType.INT32)
    b.set_data(PROMPT_INPUT, ids_tensor(prompt))
    caches = low.new_caches()
    out = low.const("tokens0", np.zeros((new_tokens, 32)), DType.INT32)
    logits, _ = low.forward(ids, t0, 0, caches, last_only=True)
    nxt = b.reduce(logits, ReduceKind.ARGMAX)
    out = b.write(out, nxt, pos=0, count=1)
    for step in range(1, new_tokens):
        logits, _ = low.forward(nxt, 1, t0 + step - 1, caches, last_only=True)
        nxt = b.reduce(logits, ReduceKind.ARGMAX)
        out = b.write(out, nxt, pos=step, count=1)
    expected = [int(v) for v in b.value(out)[:, 0]]
    prog, consts = b.finish(out)
    info = {
        "compiler": "poc compile",
        "kind": "generation",
        "model": tw.family,
        "prompt_tokens": t0,
        "max_new_tokens": new_tokens,
        "layers": len(tw.layers),
        "width": tw.width,
        "heads": tw.heads,
        "vocab": tw.vocab,
        **(meta or {}),
    }
    data_slot = next(i for i, s in enumerate(prog.inputs) if s.name == PROMPT_INPUT)
    spec = JobSpec(prog, consts, 1, data_slot, None, None, info)
    return Generation(spec, list(prompt), expected, info)


def softmax_ops(program: Program, step: int) -> list[int]:
    """The op indices of decode step `step`'s softmax divisions (the rowop that divides by
    the row sum: one per layer and attention head, layer by layer, head by head). Step 0 is
    the prefill, step s >= 1 runs after the s-th argmax; where to look at one head's
    attention in a generation program (a watchtower's report, the demo)."""
    ops = program.ops
    argmaxes = [
        i for i, op in enumerate(ops) if op.opcode == Opcode.REDUCE and op.kind == ReduceKind.ARGMAX
    ]
    if not 0 <= step < len(argmaxes):
        raise CompileError(f"step {step}: this program has steps 0 .. {len(argmaxes) - 1}")
    lo = argmaxes[step - 1] if step else -1
    return [
        i
        for i in range(lo + 1, argmaxes[step])
        if ops[i].opcode == Opcode.ROWOP and ops[i].kind == RowKind.DIV
    ]


@dataclass(frozen=True)
class Accuracy:
    """Next-token prediction on held-out text, integer program against the float model."""

    tokens: int
    top1_agreement: float
    perplexity_float: float
    perplexity_int: float

    @property
    def perplexity_ratio(self) -> float:
        return self.perplexity_int / self.perplexity_float


def int_logits(tw: TransformerWeights, amax: dict[str, float], ids: Sequence[int]) -> np.ndarray:
    """Dequantized logits [T, vocab] of the integer prefill of `ids` (every row)."""
    b = EagerBuilder()
    low = TransformerLowering(tw, amax, b, len(ids))
    ref = b.data_input(PROMPT_INPUT, len(ids), 32, DType.INT32)
    b.set_data(PROMPT_INPUT, ids_tensor(ids))
    logits, scale = low.forward(ref, len(ids), 0, low.new_caches(), last_only=False)
    return b.value(logits)[:, : tw.vocab].astype(np.float64) * scale


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(targets)), targets].sum())


def accuracy(
    tw: TransformerWeights, amax: dict[str, float], text: Sequence[int], window: int
) -> Accuracy:
    """Over consecutive windows of `text`: how often the integer model's next-token argmax is
    the float model's, and both perplexities."""
    agree = count = 0
    nll_i = nll_f = 0.0
    for s in range(0, len(text) - 1, window):
        ids = list(text[s : s + window + 1])
        x, y = ids[:-1], np.asarray(ids[1:])
        li, lf = int_logits(tw, amax, x), float_forward(tw, x)
        agree += int((li.argmax(axis=1) == lf.argmax(axis=1)).sum())
        count += len(y)
        nll_i += _nll(li, y)
        nll_f += _nll(lf, y)
    return Accuracy(count, agree / count, math.exp(nll_f / count), math.exp(nll_i / count))
