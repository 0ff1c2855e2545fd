"""The solver and responder against the real DisputeGame and TensorStep, for a one-op program
of every opcode (lut tables, im2col padding, matmul chunks, padding leaves): no roles, no
content store, just the game."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from roles_support import ETHER, TERMS

from node.game.responder import Responder
from node.game.solver import solve
from node.game.view import GameStatus, Side
from node.program.constants import Opcode
from node.program.samples import random_op
from node.trace.provider import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat


def _post_claim_submit(poster: Any, provider: Any, liar: TraceProvider) -> int:
    p = poster.protocol
    prog = liar.program
    n = len(prog.ops)
    params = (
        prog.root, liar.state_root(0), prog.n_inputs, n, prog.output_slot,
        TERMS.required_stake, TERMS.challenger_bond, p.now() + 3600, TERMS.execute_within,
        TERMS.challenge_window, TERMS.clock,
    )  # fmt: skip
    poster.send(p.market.functions.post(params, "none"), value=TERMS.reward)
    job_id = p.job_count()
    provider.send(p.stake.functions.deposit(), value=ETHER)
    provider.send(p.market.functions.claim(job_id))
    out = prog.output_slot
    provider.send(
        p.market.functions.submitResult(
            job_id, liar.state_root(n), liar.root(out), liar.state_proof(n, out), "none"
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
    p = poster.protocol
    chal.send(p.market.functions.challenge(job_id), value=TERMS.challenger_bond)
    (game_id,) = p.games_of_claim(p.job(job_id).current_claim)
    players = [
        (Side.PROVIDER, trace, Responder(prov.sender, p.game)),
        (Side.CHALLENGER, honest, Responder(chal.sender, p.game)),
    ]
    for _ in range(40):
        view = p.game_view(game_id)
        if not view.active:
            break
        for side, t, responder in players:
            if view.mover == side:
                responder.execute(view, side, solve(view, side, t))
    want = GameStatus.CHALLENGER_WON if lie else GameStatus.PROVIDER_WON
    assert p.game_view(game_id).status == want
