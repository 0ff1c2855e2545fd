"""Payout rules v2 (docs/protocol.md 6.5, issue 11): the attacks replayed, and the properties
that defeat them.

- F1 / P1 / P2: a lying provider challenges its own claim from puppet accounts, in the same
  transaction as `submitResult` (through `contracts/test/Puppeteer.sol`), from several accounts
  and in every order; an honest challenger that wins game g is still paid bond + backing_g / 2,
  and the liar loses at least its whole lock.
- F4 / P5: `expire` + `claim` in one transaction reverts `JobCoolingDown`; the poster can cancel
  during the cooldown and cancel a claim that is Active past its deadline.
- P6: output demand, publication (checked against the claimed root), timeout."""

from __future__ import annotations

import itertools
import os

import ape
import numpy as np
import pytest
from conftest import (
    BOND,
    CLOCK,
    EXECUTE,
    FUZZ,
    REWARD,
    STAKE,
    WINDOW,
    balances_ok,
    post_job,
    submit,
)
from contracts_trace import Challenger, Provider, Trace, play, play_traces, sample_program
from fuzz_counts import record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from puppets import Attacker, GameVia, revert_of

from node.game.rules import GameStatus
from node.program.constants import DType
from node.program.merkle import tensor_tree

L = STAKE  # the claim lock (requiredStake)
BASE = 2**128  # JobMarket.GAME_LOCK_BASE
BURN = "0x000000000000000000000000000000000000dEaD"
JOB_OPEN, JOB_CLAIMED, JOB_CANCELLED = 1, 2, 4
CLAIM_ACTIVE, CLAIM_SUBMITTED, CLAIM_ACCEPTED, CLAIM_REJECTED, CLAIM_EXPIRED = 1, 2, 3, 4, 5
GAME_LOST, OUTPUT_WITHHELD = 1, 2


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def burned(chain) -> int:  # noqa: ANN001
    return int(chain.provider.get_balance(BURN))


def liar_of(trace: Trace) -> Trace:
    return Trace(trace.program, trace.values, corrupt=(3, 7, 1))


def wealth(system, who) -> int:  # noqa: ANN001
    """What `who` holds in the two contracts (free stake, unbonding, credits; locks are counted
    once they are released)."""
    addr = getattr(who, "address", who)
    return int(
        system.stake.freeStake(addr) + system.stake.unbonding(addr)[0] + system.market.credits(addr)
    )


def settled(receipt, market) -> dict[int, object]:  # noqa: ANN001
    return {int(e.gameId): e for e in receipt.events.filter(market.GameSettled)}


def open_claim(system, poster, provider, trace: Trace, chain, free: int) -> tuple[int, int]:  # noqa: ANN001
    """A job claimed and `trace`'s result submitted by `provider`, with `free` stake left free
    after the claim lock: (job id, claim id)."""
    job = post_job(system.market, poster, trace, chain)
    system.stake.deposit(value=L + free, sender=provider)
    system.market.claim(job, sender=provider)
    submit(system.market, provider, job, trace)
    return job, int(system.market.claimCount())


def challenge(system, job: int, who) -> int:  # noqa: ANN001
    system.market.challenge(job, value=BOND, sender=who)
    return int(system.game.gameCount())


# ---------------------------------------------------------------------------------- F1: P1, P2


@pytest.fixture
def attacker(project, deployer) -> Attacker:  # noqa: ANN001
    return Attacker.deploy(project, deployer, 3)


def test_f1_puppets_challenge_in_the_submit_transaction_and_the_honest_bounty_stands(
    system, poster, challenger, anyone, attacker, chain, honest_trace
):  # noqa: ANN001
    """The liar (puppet 0) submits and two of its puppets challenge in the same transaction; an
    honest watchtower challenges next. The liar loses puppet 1's game first (by the step, which
    rejects the claim), the watchtower's by timeout, then puppet 2's. Every game is paid from its
    own backing: the watchtower gets bond + L/2 whatever the puppets did."""
    m, s, atk = system.market, system.stake, attacker
    liar = liar_of(honest_trace)
    job = post_job(m, poster, honest_trace, chain)
    p0, p1, p2 = atk.puppets
    spent = 4 * L + 2 * BOND  # the attacker's stake and its puppets' bonds
    atk.run(atk.call(0, s, "deposit", value=4 * L))
    atk.run(atk.call(0, m, "claim", job))
    claim_id = int(m.claimCount())
    prog = liar.program
    result = (
        liar.states[-1],
        liar.slot_root(prog.output_slot),
        liar.output_proof(prog.output_slot),
    )
    tx = atk.run(
        atk.call(0, m, "submitResult", job, *result, "ipfs://lie"),
        atk.call(1, m, "challenge", job, value=BOND),
        atk.call(2, m, "challenge", job, value=BOND),
    )
    g1, g2 = (int(e.gameId) for e in tx.events.filter(m.Challenged))
    assert [int(e.backing) for e in tx.events.filter(m.Challenged)] == [L, L]
    g3 = challenge(system, job, challenger)
    assert m.backingOfGame(g3) == L and s.freeStake(p0.address) == 0
    burn0 = burned(chain)
    via = GameVia(system.game, atk)

    r1 = play(via, g1, Provider(liar, 16), Challenger(honest_trace, 16), (p0, p1, anyone), chain)
    assert r1.status == GameStatus.CHALLENGER_WON and not r1.reverts
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and m.getJob(job).state == JOB_OPEN
    r3 = play(
        via,
        g3,
        Provider(liar, 16, refuse_at=0),
        Challenger(honest_trace, 16),
        (p0, challenger, anyone),
        chain,
    )
    assert r3.status == GameStatus.CHALLENGER_WON
    r2 = play(via, g2, Provider(liar, 16), Challenger(honest_trace, 16), (p0, p2, anyone), chain)
    assert r2.status == GameStatus.CHALLENGER_WON

    assert m.credits(challenger) == BOND + L // 2  # P1
    assert m.credits(p1.address) == m.credits(p2.address) == BOND + L // 2
    # P2: the attacker got back its bonds and half of its puppets' backings: it lost the lock L,
    # the honest game's backing L and half of each puppet game's backing
    received = sum(wealth(system, p.address) for p in atk.puppets)
    assert spent - received == L + L + 2 * (L - L // 2) >= L
    assert burned(chain) - burn0 == L + 3 * (L - L // 2)
    assert m.totalBonds() == 0 and s.totalLocked() == 0
    balances_ok(system)


def test_f1_whole_puppet_game_inside_the_submit_transaction(
    system, poster, challenger, anyone, attacker, chain, honest_trace
):  # noqa: ANN001
    """The issue's strongest form: the provider contract submits, its puppet challenges AND plays
    the whole game to its end and settles it in the same transaction (clocks charge no time
    within it). The
    claim is rejected inside that transaction: the liar loses its whole lock plus half the game's
    backing, the puppet gets only its bond and half of the liar's own backing, and the job reopens
    (after the cooldown) for an honest provider; no honest challenger was needed."""
    m, s, atk = system.market, system.stake, attacker
    liar = liar_of(honest_trace)
    job = post_job(m, poster, honest_trace, chain)
    p0, p1, _ = atk.puppets
    spent = 2 * L + BOND
    atk.run(atk.call(0, s, "deposit", value=2 * L))
    atk.run(atk.call(0, m, "claim", job))
    claim_id = int(m.claimCount())
    prog = liar.program
    result = (
        liar.states[-1],
        liar.slot_root(prog.output_slot),
        liar.output_proof(prog.output_slot),
    )
    calls = [
        atk.call(0, m, "submitResult", job, *result, "ipfs://lie"),
        atk.call(1, m, "challenge", job, value=BOND),
    ]
    # record the game's moves on a snapshot, then replay everything in one transaction
    snap = chain.snapshot()
    atk.run(*calls)
    gid = int(system.game.gameCount())
    moves: list = []
    r = play(
        GameVia(system.game, atk, moves),
        gid,
        Provider(liar, 16),
        Challenger(honest_trace, 16),
        (p0, p1, anyone),
        chain,
    )
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts and len(moves) >= 4
    moves.append(atk.call(1, system.game, "settle", gid))  # the step pays nothing: settle too
    chain.restore(snap)

    burn0 = burned(chain)
    tx = atk.run(*calls, *moves)
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and m.getJob(job).state == JOB_OPEN
    (ch,) = tx.events.filter(m.Challenged)
    assert int(ch.backing) == L
    (gs,) = tx.events.filter(m.GameSettled)
    assert (gs.winner, bool(gs.providerWon), gs.bounty, gs.burned) == (
        p1.address,
        False,
        L // 2,
        L - L // 2,
    )
    (rej,) = tx.events.filter(m.ClaimRejected)
    assert (rej.claimId, rej.gameId, rej.cause, rej.slashed) == (claim_id, gid, GAME_LOST, L)
    (reopened,) = tx.events.filter(m.JobReopened)
    assert reopened.reopensAt == m.getJob(job).reopensAt > 0
    assert m.credits(p1.address) == BOND + L // 2
    # P2: the attacker lost the lock and half the game's backing (its bond came back)
    received = sum(wealth(system, p.address) for p in atk.puppets)
    assert spent - received == L + (L - L // 2)
    assert burned(chain) - burn0 == L + L - L // 2
    # nothing is left to challenge: the claim is gone, the job reopens after the cooldown
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_OPEN, want=JOB_CLAIMED):
        m.challenge(job, value=BOND, sender=challenger)
    balances_ok(system)


ORDERS = list(itertools.permutations(("p1", "p2", "honest")))


def test_f1_every_opening_and_settling_order_of_two_puppets_and_an_honest_challenger(
    system, poster, provider, challenger, accounts, chain, honest_trace
):  # noqa: ANN001
    """Two puppet accounts and one honest challenger open games in each of the 6 orders, and the
    games settle (the liar never moves: every challenger wins by timeout) in each of the 6
    orders: here 6 pairs in which every opening order and every settling order occurs once
    (about 3 s a pair on the embedded chain), all 36 in the slow campaign below."""
    pairs = [(o, ORDERS[(i + 1) % len(ORDERS)]) for i, o in enumerate(ORDERS)]
    _orders(system, poster, provider, challenger, accounts, chain, honest_trace, pairs)


@pytest.mark.slow
def test_fuzz_f1_all_36_orders(system, poster, provider, challenger, accounts, chain, honest_trace):  # noqa: ANN001
    pairs = list(itertools.product(ORDERS, ORDERS))
    _orders(system, poster, provider, challenger, accounts, chain, honest_trace, pairs)
    record("payouts-orders", {"opening x settling orders, all as expected": len(pairs)})


def _orders(system, poster, provider, challenger, accounts, chain, honest_trace, pairs) -> None:  # noqa: ANN001
    """The liar keeps 3L free, so every game is backed with L: the honest challenger gets bond +
    L/2 every time, each puppet likewise from its own game's backing; the liar loses its lock
    and the three backings (4L), of which its puppets' halves come back to its side."""
    m, s = system.market, system.stake
    liar = liar_of(honest_trace)
    who = {"p1": accounts[5], "p2": accounts[6], "honest": challenger}
    for opening, settling in pairs:
        snap = chain.snapshot()
        before = {k: wealth(system, a) for k, a in who.items()} | {"liar": wealth(system, provider)}
        job, claim_id = open_claim(system, poster, provider, liar, chain, free=3 * L)
        burn0 = burned(chain)
        gid = {k: challenge(system, job, who[k]) for k in opening}
        assert all(m.backingOfGame(g) == L for g in gid.values())
        chain.pending_timestamp = max(int(system.game.deadline(g)) for g in gid.values()) + 1
        for k in settling:
            system.game.timeout(gid[k], sender=accounts[4])
        gain = {k: wealth(system, a) - before[k] for k, a in who.items()}
        paid = BOND + L // 2  # bond back + bounty, from the game's own backing
        assert gain == {"p1": paid, "p2": paid, "honest": paid}, (opening, settling)
        # P2: the liar's 4L deposit is gone (lock and backings); its puppets got L back
        assert wealth(system, provider) - before["liar"] == 0 and s.totalLocked() == 0
        assert 4 * L + 2 * BOND - gain["p1"] - gain["p2"] >= L
        assert burned(chain) - burn0 == L + 3 * (L - L // 2)
        assert m.getClaim(claim_id).state == CLAIM_REJECTED
        balances_ok(system)
        chain.restore(snap)


def test_provider_without_free_stake_is_challengeable_and_loses_its_lock(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    """The stated limit: no free stake, so the game is unbacked (backing 0, never refused). The
    honest challenger wins it by the step and gets its bond back only; the lock is burned whole."""
    m, s = system.market, system.stake
    provider, challenger, _ = players
    liar = liar_of(honest_trace)
    job, claim_id = open_claim(system, poster, provider, liar, chain, free=0)
    tx = m.challenge(job, value=BOND, sender=challenger)
    gid = int(system.game.gameCount())
    assert tx.events.filter(m.Challenged)[0].backing == 0 and m.backingOfGame(gid) == 0
    assert s.lockOf(BASE + gid).provider == "0x" + "00" * 20  # no lock for an unbacked game
    burn0 = burned(chain)
    r = play_traces(system.game, gid, liar, honest_trace, players, chain)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts
    assert m.credits(challenger) == BOND
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and burned(chain) - burn0 == L
    assert s.freeStake(provider) == 0 and s.totalLocked() == 0
    balances_ok(system)


@pytest.mark.parametrize("griefer_plays", [True, False], ids=["griefer-plays", "griefer-idles"])
def test_honest_provider_against_a_griefer_gets_its_backing_back_and_the_bond(
    system, poster, players, chain, honest_trace, griefer_plays
):  # noqa: ANN001
    m, s = system.market, system.stake
    provider, griefer, anyone = players
    job, claim_id = open_claim(system, poster, provider, honest_trace, chain, free=L)
    gid = challenge(system, job, griefer)
    assert m.backingOfGame(gid) == L and s.freeStake(provider) == 0  # locked while the game runs
    chal_kw = None if griefer_plays else {"refuse_at": 0}
    r = play_traces(system.game, gid, honest_trace, honest_trace, players, chain, chal_kw=chal_kw)
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts
    assert s.freeStake(provider) == L and m.credits(provider) == BOND and m.credits(griefer) == 0
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    assert m.credits(provider) == BOND + REWARD and s.freeStake(provider) == 2 * L
    assert m.getClaim(claim_id).state == CLAIM_ACCEPTED
    balances_ok(system)


GAME_KINDS = ("honest", "puppet_loses", "puppet_wins")


P1_P2_ARGS = {
    "kinds": st.lists(st.sampled_from(GAME_KINDS), min_size=1, max_size=4).filter(
        lambda k: "honest" in k
    ),
    "free_halves": st.integers(0, 7),
    "data": st.data(),
}
P1_P2_COUNTS: dict[str, int] = {}


def _p1_p2_settings(n: int, derandomize: bool):  # noqa: ANN202
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=derandomize,
        database=None,
    )


def _p1_p2(system, poster, provider, accounts, chain, honest_trace, kinds, free_halves, data):  # noqa: ANN001
    """P1: every honest challenger that wins game g gets bond + backing_g / 2, with backing_g =
    min(L, the liar's free stake when g opened). P2: the liar's side (provider and puppets)
    loses at least L. Games open in the drawn order (the liar's own puppets included, winning or
    losing theirs) and settle in a random order; the free stake is a random number of L/2."""
    m, s, g = system.market, system.stake, system.game
    liar = liar_of(honest_trace)
    chals = [accounts[i] for i in (3, 5, 6, 7)][: len(kinds)]
    snap = chain.snapshot()
    try:
        side = [provider] + [c for c, k in zip(chals, kinds, strict=True) if k != "honest"]
        side0 = sum(wealth(system, a) for a in side)
        before = {c.address: wealth(system, c) for c in chals}
        free0 = free_halves * L // 2
        job, claim_id = open_claim(system, poster, provider, liar, chain, free=free0)
        burn0 = burned(chain)
        games = []
        for c, kind in zip(chals, kinds, strict=True):
            free = s.freeStake(provider)
            gid = challenge(system, job, c)
            assert m.backingOfGame(gid) == min(L, free)  # R2
            games.append((gid, c, kind, min(L, free)))
            if kind == "puppet_wins":  # the liar moves once; its puppet then lets its clock run out
                _provider_reveals(g, gid, liar, provider, chain)
        order = data.draw(st.permutations(range(len(games))))
        chain.pending_timestamp = max(int(g.deadline(gid)) for gid, *_ in games) + 1
        for i in order:
            gid, c, kind, backing = games[i]
            g.timeout(gid, sender=accounts[4])
            paid = 0 if kind == "puppet_wins" else BOND + backing // 2
            assert wealth(system, c) - before[c.address] == paid, (kinds, order, i)  # P1
        # P2: the liar's side paid its stake and its puppets' bonds, and lost at least L of it
        spent = L + free0 + BOND * (len(side) - 1)
        received = sum(wealth(system, a) for a in side) - side0
        assert spent - received >= L, (kinds, order, free0)
        burned_expect = L + sum(b - b // 2 for _, _, k, b in games if k != "puppet_wins")
        assert burned(chain) - burn0 == burned_expect
        assert m.getClaim(claim_id).state == CLAIM_REJECTED and s.totalLocked() == 0
        assert m.totalBonds() == 0
        balances_ok(system)
        for kind in kinds:
            P1_P2_COUNTS[f"games: {kind}"] = P1_P2_COUNTS.get(f"games: {kind}", 0) + 1
        unbacked = sum(1 for *_, b in games if b == 0)
        P1_P2_COUNTS["games unbacked"] = P1_P2_COUNTS.get("games unbacked", 0) + unbacked
        P1_P2_COUNTS["claims (examples)"] = P1_P2_COUNTS.get("claims (examples)", 0) + 1
    finally:
        chain.restore(snap)


test_p1_p2_over_random_orders_and_counts_of_puppet_and_honest_games = _p1_p2_settings(4, True)(
    given(**P1_P2_ARGS)(_p1_p2)
)


@pytest.mark.slow
def test_fuzz_p1_p2_campaign(system, poster, provider, accounts, chain, honest_trace):  # noqa: ANN001
    """make fuzz: POC_FUZZ_PAYOUTS examples (default 200) of the P1/P2 property, counted in
    docs/fuzz-contracts.md."""
    P1_P2_COUNTS.clear()
    n = int(os.environ.get("POC_FUZZ_PAYOUTS", "200")) if FUZZ else 4
    run = _p1_p2_settings(n, not FUZZ)(given(**P1_P2_ARGS)(_p1_p2))
    run(system, poster, provider, accounts, chain, honest_trace)
    record("payouts-p1p2", dict(P1_P2_COUNTS))


def _provider_reveals(game, gid: int, trace: Trace, provider, chain) -> None:  # noqa: ANN001
    """The provider's first move in game `gid` (the execution-level reveal), as the solver plays it."""
    from contracts_trace import Match

    match = Match(game, gid, Provider(trace, 16), Challenger(trace, 16), (provider, provider))
    match.move(match.view(chain.pending_timestamp))


# ---------------------------------------------------------------------------------- F4: P5


def test_f4_expire_and_claim_in_one_transaction_reverts_and_the_poster_cancels(
    system, poster, attacker, chain, honest_trace
):  # noqa: ANN001
    """The hostage attack: a griefer claims, never submits, and at the deadline expires its own
    claim and claims again in one transaction. Now that transaction reverts JobCoolingDown, and
    the poster cancels in the cooldown."""
    m, s, atk = system.market, system.stake, attacker
    job = post_job(m, poster, honest_trace, chain)
    atk.run(atk.call(0, s, "deposit", value=2 * L))
    atk.run(atk.call(0, m, "claim", job))
    claim_id = int(m.claimCount())
    advance(chain, EXECUTE + 1)
    with pytest.raises(ape.exceptions.ContractLogicError) as err:
        atk.run(atk.call(0, m, "expire", job), atk.call(0, m, "claim", job))
    name, args = revert_of(err.value)
    assert name == "JobCoolingDown", repr(err.value)
    assert args["jobId"] == job
    assert args["reopensAt"] == args["nowTs"] + m.MIN_CLOCK()
    # the same two calls apart: the expiry goes through, the claim waits for the cooldown
    tx = atk.run(atk.call(0, m, "expire", job))
    (reopened,) = tx.events.filter(m.JobReopened)
    assert (
        m.getClaim(claim_id).state == CLAIM_EXPIRED
        and m.getJob(job).reopensAt == reopened.reopensAt
    )
    with pytest.raises(ape.exceptions.ContractLogicError) as err:
        atk.run(atk.call(0, m, "claim", job))
    assert revert_of(err.value)[0] == "JobCoolingDown"
    m.cancel(job, sender=poster)  # P5: the poster is never locked out
    assert m.getJob(job).state == JOB_CANCELLED
    assert m.credits(poster) == REWARD + L // 10
    balances_ok(system)


def test_claim_after_the_cooldown_is_allowed(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    s.deposit(value=2 * L, sender=provider)
    m.claim(job, sender=provider)
    advance(chain, EXECUTE + 1)
    m.expire(job, sender=anyone)
    reopens_at = m.getJob(job).reopensAt
    chain.pending_timestamp = reopens_at - 1
    with ape.reverts(m.JobCoolingDown, jobId=job, reopensAt=reopens_at, nowTs=reopens_at - 1):
        m.claim(job, sender=provider)
    chain.pending_timestamp = reopens_at
    m.claim(job, sender=provider)
    assert m.getJob(job).state == JOB_CLAIMED


def test_poster_cancels_a_claim_active_past_its_deadline(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    """P5: at most executeWithin after any claim starts, the poster gets its escrow back."""
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    s.deposit(value=L, sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    with ape.reverts(m.NotPoster, jobId=job, caller=anyone.address):
        m.cancel(job, sender=anyone)
    with ape.reverts(m.ExecutionDeadlineNotPassed, claimId=claim_id):
        m.cancel(job, sender=poster)
    advance(chain, EXECUTE + 1)
    tx = m.cancel(job, sender=poster)
    (expired,) = tx.events.filter(m.ClaimExpired)
    (cancelled,) = tx.events.filter(m.JobCancelled)
    assert (expired.claimId, expired.slashed) == (claim_id, L // 10)
    assert (cancelled.jobId, cancelled.refund) == (job, REWARD)
    assert m.getClaim(claim_id).state == CLAIM_EXPIRED and m.getJob(job).state == JOB_CANCELLED
    assert m.credits(poster) == REWARD + L // 10 and s.freeStake(provider) == L - L // 10
    balances_ok(system)


def test_poster_cannot_cancel_a_submitted_claim(system, poster, provider, chain, honest_trace):  # noqa: ANN001
    m = system.market
    job, _ = open_claim(system, poster, provider, honest_trace, chain, free=0)
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_CLAIMED, want=JOB_OPEN):
        m.cancel(job, sender=poster)


def test_rejected_claim_reopens_cooling_down_and_the_poster_can_cancel_at_once(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    m = system.market
    provider, challenger, anyone = players
    job, _ = open_claim(system, poster, provider, liar_of(honest_trace), chain, free=0)
    gid = challenge(system, job, challenger)
    advance(chain, CLOCK + 1)
    tx = system.game.timeout(gid, sender=anyone)
    (reopened,) = tx.events.filter(m.JobReopened)
    assert reopened.reopensAt == tx.timestamp + m.MIN_CLOCK()
    with ape.reverts(m.JobCoolingDown, jobId=job):
        m.claim(job, sender=anyone)
    m.cancel(job, sender=poster)
    assert m.getJob(job).state == JOB_CANCELLED and m.credits(poster) == REWARD


# ---------------------------------------------------------------------------------- P6


def output_of(trace: Trace, slot: int | None = None) -> tuple[int, bytes]:
    """(leaf size, packed bytes) of the trace's output tensor."""
    slot = trace.program.output_slot if slot is None else slot
    return trace.program.table[slot].dtype.leaf_bytes, trace.packed[slot]


def test_demand_output_rules(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    s.deposit(value=L, sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_ACTIVE, want=CLAIM_SUBMITTED):
        m.demandOutput(job, sender=poster)
    submit(m, provider, job, honest_trace)
    with ape.reverts(m.NotPoster, jobId=job, caller=anyone.address, poster=poster.address):
        m.demandOutput(job, sender=anyone)
    tx = m.demandOutput(job, sender=poster)
    due = tx.timestamp + CLOCK
    (ev,) = tx.events.filter(m.OutputDemanded)
    assert (ev.jobId, ev.claimId, ev.due) == (job, claim_id, due)
    assert m.getClaim(claim_id).outputDue == due
    with ape.reverts(m.OutputAlreadyDemanded, claimId=claim_id, due=due):
        m.demandOutput(job, sender=poster)
    with ape.reverts(m.OutputPending, claimId=claim_id, due=due):
        m.outputTimeout(job, sender=anyone)


def test_demand_after_the_window_is_refused(system, poster, provider, chain, honest_trace):  # noqa: ANN001
    m = system.market
    job, claim_id = open_claim(system, poster, provider, honest_trace, chain, free=0)
    advance(chain, WINDOW)
    with ape.reverts(m.WindowClosed, claimId=claim_id):
        m.demandOutput(job, sender=poster)


@pytest.mark.parametrize("slot_kind", ["int8", "int32", "int8-padded"])
def test_publish_good_output_meets_the_demand_and_the_claim_finalizes(
    system, poster, provider, anyone, chain, slot_kind
):  # noqa: ANN001
    """The data proves itself against the claimed root: anyone may publish, with or without a
    demand; int8 (32-byte) and int32 (128-byte) leaves; a leaf count that is not a power of two."""
    m = system.market
    rows = 3 if slot_kind == "int8-padded" else 2
    prog, vals = sample_program(np.random.default_rng(5), m=rows)
    slot = prog.n_inputs if slot_kind == "int32" else prog.output_slot  # the matmul's int32 output
    from dataclasses import replace

    trace = Trace(replace(prog, output_slot=slot), vals)
    leaf_size, data = output_of(trace)
    assert leaf_size == (128 if slot_kind == "int32" else 32) and len(data) == rows * leaf_size
    job, claim_id = open_claim(system, poster, provider, trace, chain, free=0)
    m.demandOutput(job, sender=poster)
    tx = m.publishOutput(job, leaf_size, data, sender=anyone)
    (ev,) = tx.events.filter(m.OutputPublished)
    assert (ev.jobId, ev.claimId, ev.leafSize, bytes(ev.data)) == (job, claim_id, leaf_size, data)
    c = m.getClaim(claim_id)
    assert c.outputPublished and c.outputDue == 0
    with ape.reverts(m.OutputAlreadyPublished, claimId=claim_id):
        m.publishOutput(job, leaf_size, data, sender=anyone)
    with ape.reverts(m.OutputAlreadyPublished, claimId=claim_id):
        m.demandOutput(job, sender=poster)
    with ape.reverts(m.OutputNotDemanded, claimId=claim_id):
        m.outputTimeout(job, sender=anyone)
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    assert m.getClaim(claim_id).state == CLAIM_ACCEPTED and m.credits(provider) == REWARD


def test_publish_without_a_demand_and_trailing_zero_leaves(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    """Publication needs no demand. Zero padding leaves up to the power of two do not change the
    root (protocol.md 6.5 R4: the poster trims them by the output's shape)."""
    m = system.market
    prog, vals = sample_program(np.random.default_rng(6), m=3)
    trace = Trace(prog, vals)
    leaf_size, data = output_of(trace)
    job, claim_id = open_claim(system, poster, provider, trace, chain, free=0)
    m.publishOutput(job, leaf_size, data + bytes(leaf_size), sender=anyone)
    assert m.getClaim(claim_id).outputPublished


def test_publish_bad_output_is_refused(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m = system.market
    leaf_size, data = output_of(honest_trace)
    job, claim_id = open_claim(system, poster, provider, honest_trace, chain, free=0)
    root = honest_trace.slot_root(honest_trace.program.output_slot)
    corrupted = bytes([data[0] ^ 1]) + data[1:]
    computed = tensor_tree(corrupted, DType.INT8).root
    with ape.reverts(m.BadOutput, claimId=claim_id, computed=computed, outputRoot=root):
        m.publishOutput(job, leaf_size, corrupted, sender=anyone)
    with ape.reverts(m.BadOutput, claimId=claim_id):  # a leaf missing
        m.publishOutput(job, leaf_size, data[:-leaf_size], sender=anyone)
    for size, blob in [(64, data), (32, b""), (32, data + b"\x00"), (128, data[:96]), (0, data)]:
        with ape.reverts(m.BadOutputData, claimId=claim_id, length=len(blob), leafSize=size):
            m.publishOutput(job, size, blob, sender=anyone)
    with ape.reverts(m.BadOutput, claimId=claim_id):  # the right bytes cut into 128-byte leaves
        m.publishOutput(job, 128, data + bytes(64), sender=anyone)
    assert not m.getClaim(claim_id).outputPublished


def test_withheld_output_rejects_the_claim_and_burns_the_lock(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    """A provider with the right root but no data: the poster demands, nobody publishes within
    the clock. finalize is blocked meanwhile (even after the window); the timeout rejects the
    claim with cause 2 and burns the lock; a game still running settles on its own (R3)."""
    m, s = system.market, system.stake
    provider, challenger, anyone = players
    liar = liar_of(honest_trace)
    job, claim_id = open_claim(system, poster, provider, liar, chain, free=L)
    with ape.reverts(m.OutputNotDemanded, claimId=claim_id):
        m.outputTimeout(job, sender=anyone)
    tx = m.demandOutput(job, sender=poster)
    due = tx.timestamp + CLOCK
    gid = challenge(system, job, challenger)
    chain.pending_timestamp = due
    with ape.reverts(m.OutputPending, claimId=claim_id, due=due, nowTs=due):
        m.outputTimeout(job, sender=anyone)
    chain.pending_timestamp = due + 1
    burn0 = burned(chain)
    tx = m.outputTimeout(job, sender=anyone)
    (rej,) = tx.events.filter(m.ClaimRejected)
    assert (rej.claimId, rej.gameId, rej.cause, rej.slashed) == (claim_id, 0, OUTPUT_WITHHELD, L)
    assert burned(chain) - burn0 == L
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and m.getJob(job).state == JOB_OPEN
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_OPEN, want=JOB_CLAIMED):
        m.publishOutput(job, *output_of(liar), sender=anyone)
    # the game goes on and settles by R3: the honest challenger is paid from its backing
    r = play_traces(system.game, gid, liar, honest_trace, players, chain)
    assert r.status == GameStatus.CHALLENGER_WON
    assert m.credits(challenger) == BOND + L // 2 and s.totalLocked() == 0
    assert m.getClaim(claim_id).activeGames == 0
    balances_ok(system)


def test_finalize_waits_for_a_pending_demand(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m = system.market
    job, claim_id = open_claim(system, poster, provider, honest_trace, chain, free=0)
    tx = m.demandOutput(job, sender=poster)
    due = tx.timestamp + CLOCK
    advance(chain, WINDOW + 1)
    with ape.reverts(m.OutputPending, claimId=claim_id, due=due):
        m.finalize(job, sender=anyone)
    m.publishOutput(job, *output_of(honest_trace), sender=provider)
    m.finalize(job, sender=anyone)
    assert m.getClaim(claim_id).state == CLAIM_ACCEPTED


@pytest.fixture
def probe(project, deployer):  # noqa: ANN001, ANN201
    return deployer.deploy(project.MerkleProbe)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@given(
    n_leaves=st.integers(1, 40),
    dtype=st.sampled_from([DType.INT8, DType.INT32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_on_chain_output_root_is_the_python_tensor_root(probe, n_leaves, dtype, seed):  # noqa: ANN001
    """JobMarket's root of published data (Merkle.tensorRoot) equals node.program's tensor root."""
    size = dtype.leaf_bytes
    data = np.random.default_rng(seed).integers(0, 256, n_leaves * size, dtype=np.uint8).tobytes()
    assert bytes(probe.tensorRoot(data, size)) == tensor_tree(data, dtype).root
