"""Generation jobs (issue 16) on the embedded chain: a small GPT-2-style program (prefill of
the prompt, then greedy decode steps over KV caches) posted with its prompt's token ids, run by
the provider daemon, agreed by a watchtower and read back by the poster; and a dispute on the
real DisputeGame and TensorStep with the provider lying in the softmax of one decode step's
attention (the rowop that divides by the row sum): the honest challenger wins, by the one-step
check of that very op; against an honest provider the same challenger loses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from game_support import play_dispute
from roles_support import ETHER, TERMS, advance, drive

from node.chain.contracts.job_market import JobState
from node.game.rules import GameStatus
from node.program.compiler.errors import CompileError
from node.program.compiler.llm_lower import calibrate
from node.program.compiler.llm_program import (
    Generation,
    compile_generation,
    ids_tensor,
    softmax_ops,
)
from node.program.compiler.transformer import Layer, Norm, TransformerWeights
from node.program.constants import Opcode, RowKind
from node.roles.client import JobClient
from node.roles.provider import Provider
from node.roles.watchtower import Watchtower
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat

PROMPT = [3, 14, 15, 9]
NEW_TOKENS = 3


def _tiny_gpt2(seed: int = 5, width: int = 32, vocab: int = 40) -> TransformerWeights:
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 1 / np.sqrt(shape[-1]), shape)

    def norm() -> Norm:
        return Norm(1 + 0.1 * rng.normal(size=width), 0.1 * rng.normal(size=width), 1e-5)

    layer = Layer(
        norm(), w(width, width), w(width, width), w(width, width), None, None, None,
        w(width, width), None, norm(), w(2 * width, width), None, None, None,
        w(width, 2 * width), None,
    )  # fmt: skip
    return TransformerWeights(
        "gpt2", vocab, width, 1, 1, width, 16, "gelu_tanh", rng.normal(0, 1, (vocab, width)),
        rng.normal(0, 0.3, (16, width)), None, (layer,), norm(), rng.normal(0, 1, (vocab, width)),
        None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def generation() -> tuple[Generation, dict[int, Any]]:
    tw = _tiny_gpt2()
    amax = calibrate(tw, [list(range(12)), list(range(39, 27, -1))])
    gen = compile_generation(tw, amax, PROMPT, NEW_TOKENS)
    inputs = dict(gen.spec.constants)
    inputs[gen.spec.data_slot] = ids_tensor(PROMPT)
    return gen, inputs


def test_softmax_ops_finds_each_steps_softmax(
    generation: tuple[Generation, dict[int, Any]],
) -> None:
    """One division per step (one layer, one head), each inside its own step, in step order;
    a step the program does not have is named."""
    prog = generation[0].spec.program
    found = [softmax_ops(prog, s) for s in range(NEW_TOKENS)]
    assert all(len(f) == 1 for f in found), found
    divs = [
        i for i, op in enumerate(prog.ops) if op.opcode == Opcode.ROWOP and op.kind == RowKind.DIV
    ]
    assert [f[0] for f in found] == divs
    with pytest.raises(CompileError, match=f"step {NEW_TOKENS}: this program has steps 0 .. 2"):
        softmax_ops(prog, NEW_TOKENS)


@pytest.mark.parametrize("lie", [True, False])
def test_generation_dispute_is_won_by_the_honest_side(
    make_ctx: Any, generation: tuple[Generation, dict[int, Any]], lie: bool
) -> None:
    gen, inputs = generation
    prog = gen.spec.program
    honest = TraceProvider(prog, inputs)
    n = len(prog.ops)
    assert [int(v) for v in honest.values(prog.output_slot).reshape(-1, 32)[:, 0]] == gen.expected
    op_index = softmax_ops(gen.spec.program, 2)[0]
    trace = honest
    if lie:  # one attention weight of the second decode step off by 3, the rest follows
        row = prog.spec(prog.n_inputs + op_index)
        trace = CorruptedTrace(prog, inputs, ProviderCheat("op", op_index, row.numel // 2, 3))
        assert trace.state_root(n) != honest.state_root(n)
    played = play_dispute(make_ctx, trace, honest)
    assert played.status == (GameStatus.CHALLENGER_WON if lie else GameStatus.PROVIDER_WON)
    if lie:
        assert played.opened == {(op_index, int(Opcode.ROWOP))}, played.opened


def test_generation_job_is_posted_run_and_read_back(
    chain: Any, make_ctx: Any, generation: tuple[Generation, dict[int, Any]]
) -> None:
    gen, _ = generation
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = client.post(gen.spec, ids_tensor(PROMPT), TERMS)
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    tower = Watchtower(make_ctx(3, "tower"))
    provider.tick()
    tower.tick()
    assert tower.status()["claims"][1]["stage"] == "correct"
    advance(chain, TERMS.challenge_window + 1)
    market = provider.ctx.deployment.market
    drive(chain, [provider, tower], lambda: market.job(job_id).state == JobState.FINALIZED)
    result = client.result(job_id)
    assert [int(v) for v in result.output[:, 0]] == gen.expected
