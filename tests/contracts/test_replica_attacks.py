"""Replicated jobs (docs/protocol.md 6.8, issue 14), written as attacks: each test is one way a
replica, a group of replicas or a poster could try to gain, and shows what it costs them.
Honest play is `contracts_trace`'s production solver; a liar is a trace with one corrupted
element; the games are played to the end on the replica market's DisputeGame instance."""

from __future__ import annotations

import ape
import pytest
from conftest import BOND, CLOCK, REWARD, STAKE, deploy_system
from contracts_trace import Trace, play_traces
from replicas import (
    BURN,
    J_FINALIZED,
    J_OPEN,
    J_WINDOW,
    KEY_BASE,
    REVEAL,
    S_ACCEPTED,
    S_EXPIRED,
    S_REJECTED,
    S_RELEASED,
    commit,
    commitment,
    deploy_replicas,
    pair_games,
    post,
    reveal,
    run_round,
    salt_of,
    seat,
    solvent,
    terms,
)

from node.game.rules import GameStatus

L = STAKE


@pytest.fixture(scope="module")
def rep(project, accounts):  # noqa: ANN001, ANN201
    return deploy_replicas(project, deploy_system(project, accounts[0]))


@pytest.fixture(scope="module")
def who(accounts):  # noqa: ANN001, ANN201
    """poster, replicas a b c, watchtower, anyone."""
    return {
        n: accounts[i]
        for i, n in enumerate(("poster", "a", "b", "c", "watch", "anyone", "alt"), start=1)
    }


def liar_of(t: Trace, where: tuple[int, int, int] = (3, 7, 1)) -> Trace:
    return Trace(t.program, t.values, corrupt=where)


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def burned(chain) -> int:  # noqa: ANN001
    return int(chain.provider.get_balance(BURN))


def top_up(rep, acct, free: int) -> None:  # noqa: ANN001
    have = int(rep.stake.freeStake(acct))
    if have < free:
        rep.stake.deposit(value=free - have, sender=acct)


def wealth(rep, acct) -> int:  # noqa: ANN001
    """What the account holds in the replica market and free in the stake manager."""
    return int(rep.market.credits(acct)) + int(rep.stake.freeStake(acct))


def credit(rep, acct) -> int:  # noqa: ANN001
    return int(rep.market.credits(acct))


# ------------------------------------------------------------------ all honest


def test_all_honest_r2_zero_window_final_at_the_last_reveal(rep, who, chain, honest_trace):  # noqa: ANN001
    """W = 0: the last reveal tallies and finalizes in one call; each replica gets R/2, its lock
    back and an accepted seat on its record."""
    m = rep.market
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=0)
    ids, last = run_round(rep, job, [(who["a"], honest_trace), (who["b"], honest_trace)])
    assert m.getJob(job).state == J_FINALIZED and not pair_games(rep, last)
    for sid, acct in zip(ids, (who["a"], who["b"]), strict=True):
        assert m.getSeat(sid).state == S_ACCEPTED and credit(rep, acct) == REWARD // 2
        assert m.recordOf(acct).accepted >= 1
        assert rep.stake.lockOf(KEY_BASE + sid).amount == 0
    assert m.totalEscrow() == 0
    solvent(rep)


def test_all_honest_r3_waits_for_the_window_and_refunds_dust(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    reward = REWARD + 2  # not divisible by 3: the dust goes back to the poster
    job = post(rep, who["poster"], honest_trace, chain, replicas=3, reward=reward, window=600)
    trio = [(who[n], honest_trace) for n in "abc"]
    ids, _ = run_round(rep, job, trio)
    assert m.getJob(job).state == J_WINDOW
    with ape.reverts(m.WindowOpen):
        m.finalize(job, sender=who["anyone"])
    advance(chain, 600)
    before = credit(rep, who["poster"])
    m.finalize(job, sender=who["anyone"])
    share = reward // 3
    assert all(m.getSeat(s).state == S_ACCEPTED for s in ids)
    assert credit(rep, who["poster"]) - before == reward - 3 * share
    solvent(rep)


# ------------------------------------------------------------------ one liar


@pytest.mark.parametrize("liar_first", [True, False])
def test_one_liar_among_two_loses_its_lock_and_the_honest_replica_is_paid(
    rep, who, chain, honest_trace, liar_first
):  # noqa: ANN001
    """A pair game between the two: the liar loses in either role (defending its root, or
    pointing at the honest one); half its lock to the honest replica, half burned; the honest
    replica gets its share and the poster the liar's share back."""
    m = rep.market
    a, b, anyone = who["a"], who["b"], who["anyone"]
    liar = liar_of(honest_trace)
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=0)
    order = [(b, liar), (a, honest_trace)] if liar_first else [(a, honest_trace), (b, liar)]
    ids, last = run_round(rep, job, order)
    ((gid, d, c),) = pair_games(rep, last)
    assert (d, c) == (ids[0], ids[1])
    defender, challenger = order[0], order[1]
    a_before, burn0, poster0 = credit(rep, a), burned(chain), credit(rep, who["poster"])
    res = play_traces(
        rep.game, gid, defender[1], challenger[1], (defender[0], challenger[0], anyone), chain
    )
    assert res.status == (GameStatus.CHALLENGER_WON if liar_first else GameStatus.PROVIDER_WON)
    liar_seat = ids[0] if liar_first else ids[1]
    honest_seat = ids[1] if liar_first else ids[0]
    assert m.getSeat(liar_seat).state == S_REJECTED and m.getSeat(honest_seat).state == S_ACCEPTED
    assert m.getJob(job).state == J_FINALIZED
    assert credit(rep, a) - a_before == L // 2 + REWARD // 2
    assert burned(chain) - burn0 == L - L // 2
    assert credit(rep, who["poster"]) - poster0 == REWARD - REWARD // 2
    assert m.recordOf(b).rejected >= 1 and m.recordOf(b).slashed >= L
    solvent(rep)


def test_one_liar_among_three_pays_one_lock_and_both_honest_are_paid(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    a, b, c, anyone = who["a"], who["b"], who["c"], who["anyone"]
    liar = liar_of(honest_trace)
    job = post(rep, who["poster"], honest_trace, chain, replicas=3, window=60)
    ids, last = run_round(rep, job, [(a, honest_trace), (b, liar), (c, honest_trace)])
    games = pair_games(rep, last)
    assert sorted((d, ch) for _, d, ch in games) == [(ids[0], ids[1]), (ids[1], ids[2])]
    before = {n: credit(rep, who[n]) for n in "abc"}
    burn0 = burned(chain)
    for gid, d, _ch in games:
        if d == ids[0]:
            play_traces(rep.game, gid, honest_trace, liar, (a, b, anyone), chain)
        else:
            play_traces(rep.game, gid, liar, honest_trace, (b, c, anyone), chain)
    assert m.getJob(job).state == J_WINDOW
    advance(chain, 60)
    m.finalize(job, sender=anyone)
    share = REWARD // 3
    gained = {n: credit(rep, who[n]) - before[n] for n in "abc"}
    assert gained["b"] == 0 and m.getSeat(ids[1]).state == S_REJECTED
    # the first game the liar lost paid its winner L/2; the second moved nothing
    assert sorted([gained["a"], gained["c"]]) == [share, share + L // 2]
    assert burned(chain) - burn0 == L - L // 2
    solvent(rep)


# ------------------------------------------------------------------ copying


def test_copier_cannot_reveal_anothers_root(rep, who, chain, honest_trace):  # noqa: ANN001
    """B copies A's commitment, waits for A's reveal and replays it: the commitment binds A's
    address, so B's reveal fails; B cannot commit after the reveals open either; B expires."""
    m = rep.market
    a, b = who["a"], who["b"]
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=0)
    sa, sb = seat(rep, job, a), seat(rep, job, b)
    commit(rep, sa, a, honest_trace)
    with ape.reverts(m.RevealsNotOpen):
        reveal(rep, sa, a, honest_trace)  # no reveal while a seat may still commit
    m.commit(sb, m.getSeat(sa).commitment, sender=b)  # B copies A's commitment
    reveal(rep, sa, a, honest_trace)
    want = m.getSeat(sb).commitment
    got = commitment(honest_trace.states[-1], b.address, salt_of(a))
    with ape.reverts(m.BadReveal, seatId=sb, computed=got, commitment=want):
        reveal(rep, sb, b, honest_trace, salt=salt_of(a))
    advance(chain, 900 + REVEAL + 1)
    m.tally(job, sender=who["anyone"])
    assert m.getSeat(sb).state == S_EXPIRED and m.getSeat(sa).state == S_ACCEPTED
    assert m.recordOf(b).expired >= 1
    solvent(rep)


def test_late_commit_is_refused(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    job = post(rep, who["poster"], honest_trace, chain, replicas=2)
    sa, sb = seat(rep, job, who["a"]), seat(rep, job, who["b"])
    commit(rep, sa, who["a"], honest_trace)
    advance(chain, 900 + 1)
    with ape.reverts(m.CommitClosed, seatId=sb):
        commit(rep, sb, who["b"], honest_trace)
    reveal(rep, sa, who["a"], honest_trace)  # commitBy passed: reveals open without B


# ------------------------------------------------------------------ silence


def test_non_revealer_is_slashed_as_for_a_missed_deadline(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    a, b = who["a"], who["b"]
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=0)
    sa, sb = seat(rep, job, a), seat(rep, job, b)
    commit(rep, sa, a, honest_trace)
    commit(rep, sb, b, honest_trace)
    reveal(rep, sa, a, honest_trace)
    with ape.reverts(m.RevealsOpen):
        m.tally(job, sender=who["anyone"])
    advance(chain, 900 + REVEAL + 1)
    with ape.reverts(m.RevealsClosed):
        reveal(rep, sb, b, honest_trace)
    poster0, free_b = credit(rep, who["poster"]), int(rep.stake.freeStake(b))
    m.tally(job, sender=who["anyone"])
    slashed = L * 1000 // 10_000
    assert m.getSeat(sb).state == S_EXPIRED and m.getSeat(sa).state == S_ACCEPTED
    assert credit(rep, who["poster"]) - poster0 == slashed + (REWARD - REWARD // 2)
    assert int(rep.stake.freeStake(b)) - free_b == L - slashed
    solvent(rep)


def test_nobody_reveals_the_job_reopens_and_can_be_cancelled(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    job = post(rep, who["poster"], honest_trace, chain, replicas=2)
    sa, sb = seat(rep, job, who["a"]), seat(rep, job, who["b"])
    advance(chain, 900 + REVEAL + 1)
    m.tally(job, sender=who["anyone"])
    assert m.getJob(job).state == J_OPEN and list(m.seatsOf(job)) == []
    assert m.getSeat(sa).state == S_EXPIRED and m.getSeat(sb).state == S_EXPIRED
    with ape.reverts(m.JobCoolingDown):
        m.claim(job, sender=who["c"])
    m.cancel(job, sender=who["poster"])
    solvent(rep)


def test_grief_by_never_answering_costs_the_griefer_its_lock(rep, who, chain, honest_trace):  # noqa: ANN001
    """A replica that reveals a different root and then never moves in its pair game, in either
    role: it loses by timeout within its clock, and the honest replica is paid."""
    m = rep.market
    a, b, anyone = who["a"], who["b"], who["anyone"]
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=0)
    liar = liar_of(honest_trace)
    ids, last = run_round(rep, job, [(b, liar), (a, honest_trace)])
    ((gid, _, _),) = pair_games(rep, last)
    start = chain.pending_timestamp
    res = play_traces(
        rep.game, gid, liar, honest_trace, (b, a, anyone), chain, prov_kw={"refuse_at": 0}
    )
    assert res.status == GameStatus.CHALLENGER_WON
    assert chain.pending_timestamp - start <= CLOCK + 2
    assert m.getSeat(ids[0]).state == S_REJECTED and m.getJob(job).state == J_FINALIZED
    solvent(rep)


# ------------------------------------------------------------------ collusion and sybils


def test_replicas_lying_alike_are_caught_by_a_watchtower(rep, who, chain, honest_trace):  # noqa: ANN001
    """Two replicas agree on one wrong root: no pair game; in the poster's window a watchtower
    challenges each seat (6.5 R2-R3), wins both, and the job reopens with its escrow."""
    m = rep.market
    a, b, w, anyone = who["a"], who["b"], who["watch"], who["anyone"]
    liar = liar_of(honest_trace)
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=600)
    for acct in (a, b):  # free stake beyond the lock backs the watch games
        top_up(rep, acct, 2 * L)
    ids, last = run_round(rep, job, [(a, liar), (b, liar)])
    assert not pair_games(rep, last) and m.getJob(job).state == J_WINDOW
    w0, burn0 = credit(rep, w), burned(chain)
    gids = []
    for sid in ids:
        m.challenge(job, sid, value=BOND, sender=w)
        gids.append(int(rep.game.gameCount()))
    with ape.reverts(m.GamesPending):
        advance(chain, 600)
        m.finalize(job, sender=anyone)
    for gid, acct in zip(gids, (a, b), strict=True):
        assert play_traces(rep.game, gid, liar, honest_trace, (acct, w, anyone), chain).status == (
            GameStatus.CHALLENGER_WON
        )
    assert m.getJob(job).state == J_OPEN and all(m.getSeat(s).state == S_REJECTED for s in ids)
    assert credit(rep, w) - w0 == 2 * (BOND + L // 2)
    assert burned(chain) - burn0 == 2 * (L + L - L // 2)
    assert m.totalEscrow() >= REWARD
    solvent(rep)


def test_the_same_account_cannot_hold_two_seats(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    job = post(rep, who["poster"], honest_trace, chain, replicas=2)
    seat(rep, job, who["a"])
    with ape.reverts(m.NotEligible, jobId=job, provider=who["a"].address, reason=4):
        seat(rep, job, who["a"])


def test_several_accounts_do_not_make_a_lie_pay(rep, who, chain, honest_trace):  # noqa: ANN001
    """One party holds two seats of three (accounts b and alt): b lies, alt is honest and makes
    sure that b's first lost game is the one against alt (it plays it at once). It takes back
    L/2 of b's lock; it still ends ceil(L/2) below two honest seats, and the honest c is paid."""
    m = rep.market
    b, alt, c, anyone = who["b"], who["alt"], who["c"], who["anyone"]
    liar = liar_of(honest_trace)
    job = post(rep, who["poster"], honest_trace, chain, replicas=3, window=0)
    for acct in (b, alt):
        top_up(rep, acct, L)
    party0 = wealth(rep, b) + wealth(rep, alt)
    ids, last = run_round(rep, job, [(b, liar), (alt, honest_trace), (c, honest_trace)])
    games = {(d, ch): gid for gid, d, ch in pair_games(rep, last)}
    play_traces(rep.game, games[(ids[0], ids[1])], liar, honest_trace, (b, alt, anyone), chain)
    play_traces(rep.game, games[(ids[0], ids[2])], liar, honest_trace, (b, c, anyone), chain)
    assert m.getJob(job).state == J_FINALIZED
    share = REWARD // 3
    lied = wealth(rep, b) + wealth(rep, alt) - party0
    assert lied == share + L // 2 - L
    assert lied < 2 * share  # what two honest seats earn
    assert m.getSeat(ids[2]).state == S_ACCEPTED
    solvent(rep)


def test_a_pair_game_cannot_be_joined_or_a_seat_challenged_outside_the_window(
    rep, who, chain, honest_trace
):  # noqa: ANN001
    m = rep.market
    job = post(rep, who["poster"], honest_trace, chain, replicas=2, window=60)
    ids, _ = run_round(rep, job, [(who["a"], honest_trace), (who["b"], honest_trace)])
    with ape.reverts(m.WrongBond):
        m.challenge(job, ids[0], value=BOND - 1, sender=who["watch"])
    advance(chain, 61)
    with ape.reverts(m.WindowClosed):
        m.challenge(job, ids[0], value=BOND, sender=who["watch"])
    m.finalize(job, sender=who["anyone"])
    with ape.reverts(m.WrongJobState):
        m.challenge(job, ids[0], value=BOND, sender=who["watch"])


# ------------------------------------------------------------------ eligibility, cancel, params


def test_eligibility_list_stake_and_record_are_checked_at_claim(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    a, b, c = who["a"], who["b"], who["c"]
    listed = post(rep, who["poster"], honest_trace, chain, t=terms(2, allow=[a, b]))
    with ape.reverts(m.NotEligible, jobId=listed, provider=c.address, reason=1):
        seat(rep, listed, c)
    assert m.eligible(listed, a) == 0 and m.allowed(listed, a)
    rich = post(rep, who["poster"], honest_trace, chain, t=terms(2, min_stake=100 * L))
    with ape.reverts(m.NotEligible, jobId=rich, provider=a.address, reason=2):
        seat(rep, rich, a)
    proven = post(rep, who["poster"], honest_trace, chain, t=terms(2, min_accepted=10**6))
    assert m.eligible(proven, c) == 3
    with ape.reverts(m.NotEligible, reason=3):
        seat(rep, proven, c)


def test_cancel_only_while_no_seat_or_after_claim_by(rep, who, chain, honest_trace):  # noqa: ANN001
    m = rep.market
    job = post(
        rep, who["poster"], honest_trace, chain, replicas=2, claimBy=chain.pending_timestamp + 1000
    )
    sa = seat(rep, job, who["a"])
    with ape.reverts(m.NotPoster):
        m.cancel(job, sender=who["poster"])  # a replica already holds a seat
    advance(chain, 1001)
    with ape.reverts(m.ClaimDeadlinePassed):
        seat(rep, job, who["b"])
    free = int(rep.stake.freeStake(who["a"]))
    m.cancel(job, sender=who["anyone"])  # the seats never filled: anyone may end it
    assert m.getSeat(sa).state == S_RELEASED and int(rep.stake.freeStake(who["a"])) == free + L
    assert credit(rep, who["poster"]) >= REWARD
    solvent(rep)


@pytest.mark.parametrize(
    ("over", "param"),
    [({"t": (1, REVEAL, 0, 0, [])}, 10), ({"t": (6, REVEAL, 0, 0, [])}, 10), ({"t": (2, 1, 0, 0, [])}, 11),
     ({"reward": 1}, 0), ({"window": 14 * 86400 + 1}, 1)],
)  # fmt: skip
def test_post_rejects_out_of_range_terms(rep, who, chain, honest_trace, over, param):  # noqa: ANN001
    with ape.reverts(rep.market.ParamOutOfRange, param=param):
        post(rep, who["poster"], honest_trace, chain, **over)


def test_stake_keys_are_split_between_the_markets(rep, who):  # noqa: ANN001
    """Each market may only lock, unlock or slash its own key range (protocol.md 6.8)."""
    s = rep.stake
    with ape.reverts(s.Unauthorized):
        s.unlock(KEY_BASE + 1, sender=who["anyone"])
    with ape.reverts(s.AlreadySet):
        s.setReplicaMarket(who["anyone"].address, sender=rep.sys.deployer)
    assert s.replicaMarket() == rep.market.address
