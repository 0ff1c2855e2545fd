"""The solver and responder against the real DisputeGame and TensorStep, for a one-op program
of every opcode (lut tables, im2col padding, matmul chunks, padding leaves): no roles, no
content store, just the game."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from roles_support import ETHER, TERMS

from node.chain.contracts.job_market import JobParams
from node.game.responder import Responder
from node.game.rules import GameStatus, Side
from node.game.solver import solve
from node.program.constants import Opcode
from node.program.samples import random_op
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat


def _post_claim_submit(poster: Any, provider: Any, liar: TraceProvider) -> int:
    d = poster.deployment
    prog = liar.program
    n = len(prog.ops)
    params = JobParams(
        prog.root, liar.state_root(0), prog.n_inputs, n, prog.output_slot,
        TERMS.required_stake, TERMS.challenger_bond, d.now() + 3600, TERMS.execute_within,
        TERMS.challenge_window, TERMS.clock,
    )  # fmt: skip
    poster.send(d.market.post(params, "none", TERMS.reward))
    job_id = d.market.job_count()
    provider.send(d.stake.deposit(ETHER))
    provider.send(d.market.claim_job(job_id))
    claim_id = d.market.job(job_id).current_claim
    out = prog.output_slot
    provider.send(
        d.market.submit_result(
            job_id, claim_id, liar.state_root(n), liar.root(out), liar.state_proof(n, out), "none"
        )
    )
    return job_id


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("lie", [True, False])
def test_every_opcode_is_decided_on_chain(make_ctx: Any, opcode: Opcode, lie: bool) -> None:
    sample = random_op(np.random.default_rng(11), opcode)
    inputs = dict(enumerate(sample.values))
    honest = TraceProvider(sample.program, inputs)
    trace = honest
    if lie:
        numel = sample.program.spec(sample.program.n_inputs).numel
        mode = "element" if opcode == Opcode.MATMUL else "op"
        trace = CorruptedTrace(
            sample.program, inputs, ProviderCheat(mode, element=numel - 1, delta=5)
        )
    poster, prov, chal = make_ctx(1, "poster"), make_ctx(2, "provider"), make_ctx(3, "chal")
    job_id = _post_claim_submit(poster, prov, trace)
    d = poster.deployment
    claim_id = d.market.job(job_id).current_claim
    chal.send(d.market.challenge(job_id, claim_id, TERMS.challenger_bond))
    (game_id,) = d.market.games_of_claim(claim_id)
    players = [
        (Side.PROVIDER, trace, Responder(prov.send, d.game)),
        (Side.CHALLENGER, honest, Responder(chal.send, d.game)),
    ]
    for _ in range(40):
        view = d.game_view(game_id)
        if not view.active:
            break
        for side, t, responder in players:
            if view.mover == side:
                responder.execute(view, side, solve(view, side, t))
    want = GameStatus.CHALLENGER_WON if lie else GameStatus.PROVIDER_WON
    assert d.game_view(game_id).status == want
