"""Provider and watchtower daemons driven tick by tick on the embedded chain."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState, RejectCause
from node.game.responder import MoveRecord
from node.roles.client import JobClient
from node.roles.context import RoleContext
from node.roles.examples import tiny_mlp
from node.roles.provider import Provider, ProviderPolicy
from node.roles.records import ProviderStage
from node.roles.watchtower import Watchtower
from node.trace.lazy import provider_for_spec
from poc_lab.adversary import ProviderCheat, cheating_provider, false_challenger, wrong_picker


def _staked_provider(
    make_ctx: Any, cheat: ProviderCheat | None = None, observers: list[Any] | None = None
) -> Provider:
    if cheat is None:
        provider = Provider(make_ctx(2, "provider"), observers=observers)
    else:
        provider = cheating_provider(make_ctx(2, "provider"), cheat, observers=observers)
    provider.stake(ETHER)
    return provider


def _submitted(
    make_ctx: Any, cheat: ProviderCheat | None = None, observers: list[Any] | None = None
) -> tuple[int, Provider, int]:
    """A tiny job posted by account 1, claimed by a staked provider (account 2, cheating by
    `cheat`) whose result is submitted in one tick: (job id, provider, claim id)."""
    job_id = post_tiny(make_ctx(1, "poster"))
    provider = _staked_provider(make_ctx, cheat, observers)
    provider.tick()
    return job_id, provider, provider.ctx.deployment.market.job(job_id).current_claim


def _reopened(ctx: RoleContext) -> RoleContext:
    """A new context of the same account on the same data folder (a restarted daemon)."""
    return RoleContext.build(ctx.w3, ctx.account, ctx.store, ctx.data_dir, ctx.deployment.addresses)


def test_honest_job_finalizes_and_pays(chain: Any, make_ctx: Any) -> None:
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = post_tiny(poster)
    provider = _staked_provider(make_ctx)
    tower = Watchtower(make_ctx(3, "tower"))
    balance = chain.provider.web3.eth.get_balance(provider.ctx.address)

    provider.tick()
    tower.tick()
    assert provider.record(job_id).stage == ProviderStage.SUBMITTED
    assert tower.status()["claims"][1]["stage"] == "correct"
    assert client.status(job_id)["claim"]["state"] == "submitted"

    advance(chain, TERMS.challenge_window + 1)
    drive(
        chain,
        [provider, tower],
        lambda: provider.ctx.deployment.market.job(job_id).state == JobState.FINALIZED,
    )
    provider.tick()  # withdraws the reward
    assert provider.ctx.deployment.market.credits(provider.ctx.address) == 0
    assert chain.provider.web3.eth.get_balance(provider.ctx.address) > balance + TERMS.reward // 2
    assert provider.ctx.deployment.stake.free_stake(provider.ctx.address) == ETHER

    result = client.result(job_id)
    spec, data = tiny_mlp()
    expected = provider_for_spec(spec, data).values(spec.program.output_slot)
    assert np.array_equal(result.output, expected)


def test_fused_provider_claims_and_submits_in_one_transaction(chain: Any, make_ctx: Any) -> None:
    """Policy `claim_and_submit`: executed while Open, then one claimAndSubmit; the finalize
    pays out in the same transaction (finalizeAndWithdraw). A second fused provider, slower,
    finds the job taken and leaves it."""
    poster = make_ctx(1, "poster")
    job_id = post_tiny(poster)
    fused = Provider(make_ctx(2, "provider"), ProviderPolicy(claim_and_submit=True))
    fused.stake(ETHER)
    late = Provider(make_ctx(4, "late"), ProviderPolicy(claim_and_submit=True))
    late.stake(ETHER)
    market = fused.ctx.deployment.market
    fused.tick()
    assert fused.record(job_id).stage == ProviderStage.SUBMITTED
    claim = market.claim(market.job(job_id).current_claim)
    assert claim.state == ClaimState.SUBMITTED and claim.provider == fused.ctx.address
    assert claim.claimed_at == claim.submitted_at  # one transaction
    late.tick()
    assert late.record(job_id).stage == ProviderStage.NEW
    # had it read the job Open and executed before our claim was mined: its dry run reverts
    rec = late.record(job_id)
    job = market.job(job_id)
    assert late._claim_and_submit(job, rec, late.work(job, rec.locator)) == rec
    assert market.claim(market.job(job_id).current_claim).provider == fused.ctx.address
    advance(chain, TERMS.challenge_window + 1)
    fused.tick()
    assert market.job(job_id).state == JobState.FINALIZED
    assert fused.record(job_id).stage == ProviderStage.DONE
    assert market.credits(fused.ctx.address) == 0  # paid out by the finalize itself
    assert fused.ctx.deployment.stake.free_stake(fused.ctx.address) == ETHER


def test_batch_bindings_post_claim_submit_and_pay_many_jobs(chain: Any, make_ctx: Any) -> None:
    """post_many, claim_and_submit_many and finalize_and_withdraw_many (protocol.md §6.2
    batches): two more jobs of a posted job's package, in three transactions."""
    poster = make_ctx(1, "poster")
    first = post_tiny(poster)
    market = poster.deployment.market
    params, locator = market.job(first).params, market.spec_locator(first)
    receipt = poster.send(market.post_many([(params, locator, TERMS.reward)] * 2))
    jobs = [e.job_id for e in market.posted_in(receipt)]
    assert len(jobs) == 2 and all(market.job(j).reward == TERMS.reward for j in jobs)
    provider = _staked_provider(make_ctx)
    ctx = provider.ctx
    results = []
    for j in jobs:
        r = provider.work(market.job(j), locator).claim()
        results.append((j, r.s_n, r.output_root, r.output_proof, f"out{j}"))
    ctx.send(market.claim_and_submit_many(results))
    claims = [market.claim(market.job(j).current_claim) for j in jobs]
    assert all(c.state == ClaimState.SUBMITTED and c.provider == ctx.address for c in claims)
    advance(chain, TERMS.challenge_window + 1)
    ctx.send(market.finalize_and_withdraw_many(jobs))
    assert all(market.job(j).state == JobState.FINALIZED for j in jobs)
    assert market.credits(ctx.address) == 0


@pytest.mark.parametrize("mode", ["op", "leaf", "element", "sum", "silent"])
def test_cheating_provider_is_caught_and_slashed(chain: Any, make_ctx: Any, mode: str) -> None:
    moves: list[MoveRecord] = []
    job_id, provider, claim_id = _submitted(make_ctx, ProviderCheat(mode), [moves.append])
    tower = Watchtower(make_ctx(3, "tower"), observers=[moves.append])
    d = provider.ctx.deployment
    w3, burn = chain.provider.web3, d.market.read("BURN")
    tower_before = w3.eth.get_balance(tower.ctx.address)
    burn_before = w3.eth.get_balance(burn)

    # a silent provider is only beaten by its clock: let time run in big steps
    drive(
        chain,
        [provider, tower],
        lambda: d.market.claim(claim_id).state == ClaimState.REJECTED,
        seconds_per_round=TERMS.clock // 2 if mode == "silent" else 1,
    )
    assert d.market.job(job_id).state == JobState.OPEN  # back on the market with its escrow
    # payout rules v2: the claim locked requiredStake (L); the tower's game locked the backing
    # min(requiredStake, free stake left) (R2); the lost game burns L whole (R1) and pays half
    # the backing to the tower, burning the other half (R3)
    lock = TERMS.required_stake
    backing = min(TERMS.required_stake, ETHER - lock)
    bounty = backing * 5000 // 10000  # CHALLENGER_SHARE_BPS = 5000
    (game_id,) = d.market.games_of_claim(claim_id)
    assert d.market.backing_of(game_id) == backing
    rejected = d.market.claim_rejected(claim_id)
    assert rejected is not None and rejected.cause == RejectCause.GAME_LOST
    assert rejected.game_id == game_id and rejected.slashed == lock
    settled = d.market.game_settled(game_id)
    assert settled is not None and not settled.provider_won
    assert (settled.winner, settled.bond) == (tower.ctx.address, TERMS.challenger_bond)
    assert (settled.bounty, settled.burned) == (bounty, backing - bounty)
    assert d.stake.free_stake(provider.ctx.address) == ETHER - lock - backing
    assert w3.eth.get_balance(burn) - burn_before == lock + backing - bounty
    tower.tick()  # settles: withdraws bond and bounty
    assert d.market.credits(tower.ctx.address) == 0
    gained = w3.eth.get_balance(tower.ctx.address) - tower_before
    assert bounty - ETHER // 100 < gained <= bounty  # its bond back and the bounty, less gas
    levels = {m.level for m in moves}
    if mode == "silent":
        assert [m.move for m in moves if m.side == "challenger"][-1] == "timeout"
    else:
        # the step decides, the tower's settle (its own transaction) pays
        assert [m.move for m in moves][-2:] == ["step", "settle"]
        assert moves[-1].side == "challenger" and moves[-1].level == "settle"
        assert "reduction" in levels if mode in ("element", "sum") else "reduction" not in levels


def test_false_challenger_loses_its_bond(chain: Any, make_ctx: Any) -> None:
    job_id, provider, claim_id = _submitted(make_ctx)
    liar = false_challenger(make_ctx(3, "liar"))
    d = provider.ctx.deployment
    liar.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    drive(chain, [provider, liar], lambda: not d.game_view(game_id).active, seconds_per_round=1)
    assert d.game_view(game_id).status.name == "PROVIDER_WON"
    # reading needs no poster's key: any context shows the job
    shown = JobClient(provider.ctx).status(job_id)["claim"]["games"][game_id]
    assert shown["status"] == "provider_won" and shown["to_move"] is None
    advance(chain, TERMS.challenge_window)
    drive(chain, [provider, liar], lambda: d.market.job(job_id).state == JobState.FINALIZED)
    # the provider earned the reward and the bond
    assert provider.record(job_id).stage == ProviderStage.DONE


def test_wrong_pointing_challenger_loses_against_a_liar_but_an_honest_one_wins(
    chain: Any, make_ctx: Any
) -> None:
    _, provider, claim_id = _submitted(make_ctx, ProviderCheat("op"))
    wrong = wrong_picker(make_ctx(3, "wrong"))
    honest = Watchtower(make_ctx(4, "honest"))
    d = provider.ctx.deployment
    drive(
        chain,
        [provider, wrong, honest],
        lambda: d.market.claim(claim_id).state == ClaimState.REJECTED,
        seconds_per_round=1,
    )
    games = {d.game_view(g).challenger: d.game_view(g) for g in d.market.games_of_claim(claim_id)}
    assert len(games) == 2
    assert games[honest.ctx.address].status.name == "CHALLENGER_WON"
    # the wrong pointer's game: lost, or still running on a rejected claim (bond comes back)
    drive(
        chain,
        [provider, wrong, honest],
        lambda: all(not d.game_view(g).active for g in d.market.games_of_claim(claim_id)),
        seconds_per_round=300,
    )


def test_two_honest_challengers_on_one_claim(chain: Any, make_ctx: Any) -> None:
    _, provider, claim_id = _submitted(make_ctx, ProviderCheat("element"))
    a = Watchtower(make_ctx(3, "a"))
    b = Watchtower(make_ctx(4, "b"))
    d = provider.ctx.deployment
    drive(
        chain,
        [provider, a, b],
        lambda: (
            all(not d.game_view(g).active for g in d.market.games_of_claim(claim_id))
            and len(d.market.games_of_claim(claim_id)) == 2
        ),
        seconds_per_round=60,
    )
    assert d.market.claim(claim_id).state == ClaimState.REJECTED
    for tower in (a, b):
        tower.tick()
        assert d.market.credits(tower.ctx.address) == 0
        assert tower.status()["claims"][claim_id]["stage"] == "done"


def test_roles_restarted_mid_game_resume_and_finish(chain: Any, make_ctx: Any) -> None:
    _, provider, claim_id = _submitted(make_ctx, ProviderCheat("sum"))
    tower = Watchtower(make_ctx(3, "tower"))
    d = provider.ctx.deployment
    tower.tick()
    tower.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    provider.tick()
    assert d.game_view(game_id).phase > 1
    # "crash": new role objects on the same data folders, nothing kept in memory
    tower = Watchtower(_reopened(tower.ctx))
    provider = cheating_provider(_reopened(provider.ctx), ProviderCheat("sum"))
    drive(chain, [provider, tower], lambda: d.market.claim(claim_id).state == ClaimState.REJECTED)
    assert tower.status()["claims"][claim_id]["stage"] in ("playing", "done")


class _Killed(BaseException):
    """The daemon's process dies (nothing in the daemon catches a BaseException)."""


@pytest.mark.parametrize("resumer", ["tower", "provider"])
def test_a_tower_killed_between_its_step_and_the_settle_is_paid_on_resume(
    chain: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, resumer: str
) -> None:
    """The tower's step decides the game and the tower dies before its settle is sent: the
    game is decided and unpaid, and it holds the claim (still Submitted, backing locked, no
    credit). The restarted tower settles it on its next tick; or, once the tower has let the
    decided game's clock run out, the provider's daemon does (it lost, so it leaves the settle
    to the winner first, but its claim must not stay held forever). Either way the tower is
    paid its bond and bounty."""
    from node.game.actions import Settle
    from node.game.responder import Responder

    job_id, provider, claim_id = _submitted(make_ctx, ProviderCheat("op"))
    tower = Watchtower(make_ctx(3, "tower"))
    d = provider.ctx.deployment
    real_send = Responder._send

    def dies_at_settle(self: Responder, view: Any, side: Any, action: Any) -> Any:
        if isinstance(action, Settle):
            raise _Killed()
        return real_send(self, view, side, action)

    monkeypatch.setattr(Responder, "_send", dies_at_settle)
    with pytest.raises(_Killed):
        drive(chain, [provider, tower], lambda: False, seconds_per_round=1, rounds=200)
    monkeypatch.setattr(Responder, "_send", real_send)
    (game_id,) = d.market.games_of_claim(claim_id)
    view = d.game_view(game_id)
    assert view.unsettled and view.status.name == "CHALLENGER_WON"
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED
    assert d.market.claim(claim_id).active_games == 1
    assert d.market.credits(tower.ctx.address) == 0

    if resumer == "tower":
        tower = Watchtower(_reopened(tower.ctx))
        tower.tick()
    else:
        # past the window: a provider that counted the settled game as over would try finalize
        advance(chain, TERMS.challenge_window + 1)
        provider = cheating_provider(_reopened(provider.ctx), ProviderCheat("op"))
        assert view.deadline < chain.provider.web3.eth.get_block("latest")["timestamp"]
        provider.tick()
        provider.tick()
        rec = provider.record(job_id)
        assert rec.stage == ProviderStage.LOST and rec.failures == 0, rec
    assert d.game_view(game_id).settled
    assert d.market.claim(claim_id).state == ClaimState.REJECTED
    settled = d.market.game_settled(game_id)
    assert settled is not None and settled.winner == tower.ctx.address and not settled.provider_won
    assert settled.bounty == d.market.backing_of(game_id) // 2 > 0
    tower = Watchtower(_reopened(tower.ctx))
    drive(chain, [provider, tower], lambda: tower.status()["claims"][claim_id]["stage"] == "done")
    assert d.market.credits(tower.ctx.address) == 0  # withdrawn: bond and bounty


def test_a_move_sent_twice_is_sent_once(chain: Any, make_ctx: Any) -> None:
    from node.game.rules import Side
    from node.game.solver import solve

    job_id, provider, claim_id = _submitted(make_ctx, ProviderCheat("op"))
    tower = Watchtower(make_ctx(3, "tower"))
    d = provider.ctx.deployment
    tower.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    view = d.game_view(game_id)
    trace = provider._work[job_id].trace
    w3 = chain.provider.web3
    first = provider.responder.execute(view, Side.PROVIDER, solve(view, Side.PROVIDER, trace))
    nonce = w3.eth.get_transaction_count(provider.ctx.address)
    # the same intent again (a restart that re-read a stale view): resumed, not re-sent
    again = provider.responder.execute(view, Side.PROVIDER, solve(view, Side.PROVIDER, trace))
    assert w3.eth.get_transaction_count(provider.ctx.address) == nonce
    assert again[0].tx_hash == first[0].tx_hash
    assert [m["tx_hash"] for m in provider.ctx.state.moves(game_id)] == [first[0].tx_hash]


def test_job_client_cancel_refunds(chain: Any, make_ctx: Any) -> None:
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = post_tiny(poster)
    client.cancel(job_id)
    assert client.status(job_id)["state"] == "cancelled"
    assert client.withdraw() == TERMS.reward
    from node.roles.errors import JobNotReady

    with pytest.raises(JobNotReady):
        client.result(job_id)


def test_stale_claim_is_expired_and_the_job_taken_over(chain: Any, make_ctx: Any) -> None:
    poster = make_ctx(1, "poster")
    job_id = post_tiny(poster)
    lazy = Provider(make_ctx(4, "lazy"))
    lazy.stake(ETHER)
    d = lazy.ctx.deployment
    lazy.ctx.send(d.market.claim_job(job_id))  # claims, then never executes
    worker = _staked_provider(make_ctx)
    worker.tick()
    assert worker.record(job_id).stage == ProviderStage.NEW  # waits: the claim is still live
    advance(chain, TERMS.execute_within + 1)
    worker.tick()
    assert d.market.claim(1).state == ClaimState.EXPIRED
    # R5: the job is back on the market, claimable MIN_CLOCK seconds after the expiry
    (expiry,) = d.market.latest_logs("ClaimExpired", {"claimId": 1})
    expired_at = int(chain.provider.web3.eth.get_block(expiry["blockNumber"])["timestamp"])
    job = d.market.job(job_id)
    assert job.state == JobState.OPEN and job.reopens_at == expired_at + d.market.min_clock()
    worker.tick()
    assert worker.record(job_id).stage == ProviderStage.NEW  # cooling down: not yet
    advance(chain, job.reopens_at - d.now() + 1)
    worker.tick()
    assert (
        d.market.job(job_id).current_claim == 2 and d.market.claim(2).provider == worker.ctx.address
    )
    assert d.market.credits(poster.address) == TERMS.required_stake // 10  # compensation


def test_a_claim_recorded_by_no_one_is_adopted_after_a_crash(chain: Any, make_ctx: Any) -> None:
    poster = make_ctx(1, "poster")
    job_id = post_tiny(poster)
    provider = _staked_provider(make_ctx)
    d = provider.ctx.deployment
    provider.scanner.scan(provider.on_event)
    # the claim was mined, then the daemon died before saving its decision
    provider.ctx.send(d.market.claim_job(job_id))
    provider.tick()
    assert provider.record(job_id).stage == ProviderStage.SUBMITTED  # adopted and submitted
    assert d.market.claim(d.market.job(job_id).current_claim).state == ClaimState.SUBMITTED


def test_a_submission_recorded_by_no_one_is_adopted_after_a_crash(
    chain: Any, make_ctx: Any
) -> None:
    job_id, provider, _ = _submitted(make_ctx)
    d = provider.ctx.deployment
    rec = provider.record(job_id)
    provider.save(dataclasses.replace(rec, stage=ProviderStage.CLAIMED))  # as if the save was lost
    provider.tick()
    assert provider.record(job_id).stage == ProviderStage.SUBMITTED
    advance(chain, TERMS.challenge_window + 1)
    provider.tick()
    assert d.market.job(job_id).state == JobState.FINALIZED


def test_a_challenger_that_stalls_loses_by_timeout(chain: Any, make_ctx: Any) -> None:
    job_id, provider, claim_id = _submitted(make_ctx)
    d = provider.ctx.deployment
    griefer = make_ctx(3, "griefer")
    griefer.send(d.market.challenge(job_id, claim_id, TERMS.challenger_bond))
    (game_id,) = d.market.games_of_claim(claim_id)
    provider.tick()  # answers the first reveal, then the challenger never moves
    assert d.game_view(game_id).phase == 2
    advance(chain, TERMS.clock + 1)
    provider.tick()  # claims the timeout
    assert d.game_view(game_id).status.name == "PROVIDER_WON"
    advance(chain, TERMS.challenge_window)
    drive(chain, [provider], lambda: d.market.job(job_id).state == JobState.FINALIZED)
    moves = provider.ctx.state.moves(game_id)
    assert [m["kind"] for m in moves] == ["revealStates", "timeout"]


def test_unstake_waits_for_the_unbonding_delay(chain: Any, make_ctx: Any) -> None:
    provider = _staked_provider(make_ctx)
    d, me = provider.ctx.deployment, provider.ctx.address
    provider.unstake(ETHER // 4)
    assert d.stake.free_stake(me) == ETHER * 3 // 4
    assert provider.withdraw_all() == {"credits": 0, "stake": 0}  # delay not over
    advance(chain, 36 * 86400 + 1)
    before = chain.provider.web3.eth.get_balance(me)
    assert provider.withdraw_all()["stake"] == ETHER // 4
    assert chain.provider.web3.eth.get_balance(me) > before + ETHER // 5


def test_amounts_parse_with_units() -> None:
    from node.roles.amounts import BadAmount, parse_amount

    assert parse_amount("0.5") == ETHER // 2
    assert parse_amount("1.5eth") == 3 * ETHER // 2
    assert parse_amount("3gwei") == 3 * 10**9
    assert parse_amount("1000 wei") == 1000
    for bad in ("-1", "0.5wei", "ten"):
        with pytest.raises(BadAmount):
            parse_amount(bad)


def test_log_lookups_work_in_small_windows(
    chain: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public endpoints bound eth_getLogs ranges: reveals are found window by window."""
    import node.chain.contracts._binding as binding

    monkeypatch.setattr(binding, "LOG_WINDOW", 2)
    _, provider, claim_id = _submitted(make_ctx, ProviderCheat("sum"))
    tower = Watchtower(make_ctx(3, "tower"))
    d = provider.ctx.deployment
    for _ in range(5):
        advance(chain, 1)  # empty blocks between the job and the game
    drive(chain, [provider, tower], lambda: d.market.claim(claim_id).state == ClaimState.REJECTED)


def test_a_job_waiting_for_stake_is_logged_once(
    chain: Any, make_ctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 17 item 10: the "free stake < required" warning is logged when it starts (and when
    it changes), not on every tick of the wait; the note stays on the record."""
    import logging

    job_id = post_tiny(make_ctx(1, "poster"))
    provider = Provider(make_ctx(2, "unstaked"))
    with caplog.at_level(logging.WARNING, logger="node.roles.provider"):
        for _ in range(4):
            provider.tick()
    waits = [r for r in caplog.records if "free stake 0 < required" in r.getMessage()]
    assert len(waits) == 1
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.NEW and "poc provider stake" in rec.note
