"""Payout rules v2, R3: every game settles on its own, whatever its claim's state.

A provider whose result is correct but who does not publish its output on demand loses its
claim by `outputTimeout` (R4: the claim lock is burned). A griefer's game opened against that
claim goes on: the provider daemon must keep defending it after the rejection, win it, and get
back the backing the game locked (R2) together with the griefer's bond. A daemon that gave up
on the rejected claim would let the griefer win by timeout and take half its backing."""

from __future__ import annotations

from typing import Any

from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState, RejectCause
from node.game.rules import GameStatus
from node.roles.client import JobClient
from node.roles.records import ProviderStage
from poc_lab.adversary import HidingProvider, false_challenger

POSTER, PROVIDER, GRIEFER = 1, 2, 3
REASON_BOND = 3  # JobMarket.REASON_BOND


def test_a_rejected_claims_open_game_is_still_defended_and_won(chain: Any, make_ctx: Any) -> None:
    client = JobClient(make_ctx(POSTER, "poster"))
    job_id = post_tiny(client.ctx)
    hider = HidingProvider(make_ctx(PROVIDER, "hider"), withhold=True)  # honest result
    hider.stake(ETHER)
    hider.tick()  # claims, executes, submits
    d = client.ctx.deployment
    me = hider.ctx.address
    claim_id = d.market.job(job_id).current_claim
    lock = d.market.claim(claim_id).lock
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED and lock == TERMS.required_stake

    due = client.demand_output(job_id)
    hider.tick()  # withholds
    # the griefer challenges the correct result just before the window closes, so that its
    # game is still being played when the demand falls due
    advance(chain, d.market.window_end(job_id) - d.now() - 10)
    griefer = false_challenger(make_ctx(GRIEFER, "griefer"))
    griefer.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    backing = min(TERMS.required_stake, ETHER - lock)  # R2: of the free stake left
    assert d.market.backing_of(game_id) == backing
    assert d.stake.free_stake(me) == ETHER - lock - backing
    hider.tick()  # its first move; still no publication

    advance(chain, max(0, due - d.now()) + 1)
    assert client.output_timeout(job_id) == claim_id
    rejected = d.market.claim_rejected(claim_id)
    assert rejected is not None and rejected.cause == RejectCause.OUTPUT_WITHHELD
    assert rejected.slashed == lock
    assert d.market.job(job_id).state == JobState.OPEN
    assert d.game_view(game_id).active  # the rejection ended the claim, not its game
    moves_at_rejection = len(hider.ctx.state.moves(game_id))

    # 20 s a round: an abandoned game is lost by clock within the rounds, a defended one not.
    # Until settled: the winner settles its decided game (the loser only after its clock)
    drive(
        chain,
        [hider, griefer],
        lambda: not d.game_view(game_id).open,
        seconds_per_round=20,
    )
    assert d.game_view(game_id).status == GameStatus.PROVIDER_WON
    assert len(hider.ctx.state.moves(game_id)) > moves_at_rejection  # played after it
    settled = d.market.game_settled(game_id)
    assert settled is not None and settled.provider_won and settled.winner == me
    assert (settled.bond, settled.backing) == (TERMS.challenger_bond, backing)
    assert (settled.bounty, settled.burned) == (0, 0)
    # the backing is free stake again; only the claim lock is gone (R1)
    assert d.stake.free_stake(me) == ETHER - lock
    bonds = [c.amount for c in _credited(d, me) if c.reason == REASON_BOND]
    assert bonds == [TERMS.challenger_bond]

    hider.tick()  # no game left: the job is closed as lost, for the withheld output
    rec = hider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.LOST
    assert "not published in time" in (rec.reason or "")


def _credited(d: Any, account: str) -> list[Any]:
    from node.chain.contracts.job_market import Credited

    return [Credited.from_log(e) for e in d.market.latest_logs("Credited", {"account": account})]
