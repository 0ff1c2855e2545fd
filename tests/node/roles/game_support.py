"""One dispute between a liar's trace and an honest one, played by the production solver and
responder against the real contracts: the claim is posted, claimed and submitted by hand (no
daemon, no content store), challenged, and both sides move until the game ends. The dispute
tests of every op family (one op of each opcode, the vision block, the transformer block, a
generation job) share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roles_support import ETHER, TERMS

from node.chain.contracts.job_market import JobParams
from node.game.responder import MoveRecord, Responder
from node.game.rules import GameStatus, Side
from node.game.solver import solve
from node.trace.lazy import TraceProvider


@dataclass
class Played:
    status: GameStatus
    opened: set[tuple[int, int]] = field(default_factory=set)  # (op index, opcode) narrowed to
    moves: list[MoveRecord] = field(default_factory=list)


def post_claim_submit(poster: Any, provider: Any, liar: TraceProvider) -> int:
    """Post `liar`'s program, claim it and submit the liar's S_N; returns the job id."""
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


def play_dispute(
    make_ctx: Any, claimed: TraceProvider, honest: TraceProvider, rounds: int = 80
) -> Played:
    """The claim of `claimed` challenged by a party that recomputes `honest`; both sides move
    (at most `rounds` times each) until the game ends."""
    poster, prov, chal = make_ctx(1, "poster"), make_ctx(2, "provider"), make_ctx(3, "chal")
    job_id = post_claim_submit(poster, prov, claimed)
    d = poster.deployment
    claim_id = d.market.job(job_id).current_claim
    chal.send(d.market.challenge(job_id, claim_id, TERMS.challenger_bond))
    (game_id,) = d.market.games_of_claim(claim_id)
    players = [
        (Side.PROVIDER, claimed, Responder(prov.send, d.game)),
        (Side.CHALLENGER, honest, Responder(chal.send, d.game)),
    ]
    played = Played(GameStatus.ACTIVE)
    for _ in range(rounds):
        view = d.game_view(game_id)
        if not view.active:
            break
        if view.opcode:
            played.opened.add((view.op_index, view.opcode))
        for side, t, responder in players:
            if view.mover == side:
                played.moves += responder.execute(view, side, solve(view, side, t))
    played.status = d.game_view(game_id).status
    return played
