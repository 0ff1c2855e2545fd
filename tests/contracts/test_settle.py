"""Settlement in its own transaction (docs/protocol.md §6.5, issues 15/16): the step decides the
game and pays nothing; `settle(gameId)` (anyone, once) makes the market's payouts.

The attacks, written before the code: a decided but unpaid game must hold its claim open (no
finalize, its backing still locked, nothing to unbond); a loser that never settles must not hurt
the winner (anyone settles: the winner, a stranger); a second settle, a settle of a game still
played or of no game revert with named errors; and settling several decided games of one claim
in any order pays every game from its own backing, rejects the claim once, and keeps the books
(contract balance = escrows + bonds + credits; stake = free + locked + unbonding)."""

from __future__ import annotations

import itertools

import ape
import pytest
from conftest import BOND, REWARD, STAKE, WINDOW, balances_ok, deploy_system, post_job
from contracts_trace import Trace, play_traces

from node.game.rules import GameStatus

L = STAKE  # the claim lock
BASE = 2**128  # JobMarket.GAME_LOCK_BASE
BURN = "0x000000000000000000000000000000000000dEaD"
CLAIM_SUBMITTED, CLAIM_ACCEPTED, CLAIM_REJECTED = 2, 3, 4
JOB_OPEN = 1


def _liar(trace: Trace) -> Trace:
    return Trace(trace.program, trace.values, corrupt=(3, 7, 1))


def _advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def _burned(chain) -> int:  # noqa: ANN001
    return int(chain.provider.get_balance(BURN))


def _claim(system, poster, provider, trace: Trace, chain, free: int) -> tuple[int, int]:  # noqa: ANN001
    """`trace`'s result claimed and submitted by `provider`, `free` stake left free after the lock."""
    m = system.market
    job = post_job(m, poster, trace, chain)
    system.stake.deposit(value=L + free, sender=provider)
    m.claim(job, sender=provider)
    prog = trace.program
    m.submitResult(
        job,
        trace.states[-1],
        trace.slot_root(prog.output_slot),
        trace.output_proof(prog.output_slot),
        "ipfs://out",
        sender=provider,
    )
    return job, int(m.claimCount())


def _challenge(system, job: int, who) -> int:  # noqa: ANN001
    system.market.challenge(job, value=BOND, sender=who)
    return int(system.game.gameCount())


def _decided(system, gid: int, provider_trace: Trace, challenger_trace: Trace, players, chain):  # noqa: ANN001
    """Game `gid` played to its step and left decided, unpaid."""
    r = play_traces(
        system.game, gid, provider_trace, challenger_trace, players, chain, settle=False
    )
    assert not r.reverts and "step" in r.gas and "settle" not in r.gas
    g = system.game.getGame(gid)
    assert g.status == r.status and not g.settled
    return r.status


def test_the_step_decides_and_pays_nothing_until_a_stranger_settles(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    """The liar lost the step. Until someone settles: the claim stays Submitted and counts the
    game (finalize reverts GamesPending past the window), the backing stays locked (nothing free
    to unbond), the challenger has no credit, no move or timeout is taken. A stranger settles
    (the loser never does): the claim is rejected and the winner paid; a second settle reverts."""
    m, s, g = system.market, system.stake, system.game
    provider, challenger, anyone = players
    liar = _liar(honest_trace)
    job, claim_id = _claim(system, poster, provider, liar, chain, free=L)
    gid = _challenge(system, job, challenger)
    assert _decided(system, gid, liar, honest_trace, players, chain) == GameStatus.CHALLENGER_WON

    # the decided game still holds its claim and its money
    assert m.getClaim(claim_id).state == CLAIM_SUBMITTED and m.getClaim(claim_id).activeGames == 1
    assert m.totalBonds() == BOND and m.credits(challenger) == 0
    assert s.lockOf(BASE + gid).amount == L and s.freeStake(provider) == 0
    with ape.reverts(s.InsufficientStake):
        s.requestUnbond(1, sender=provider)
    with ape.reverts(g.GameOver, gameId=gid, status=GameStatus.CHALLENGER_WON):
        g.timeout(gid, sender=anyone)
    assert g.mover(gid) == "0x" + "00" * 20
    _advance(chain, WINDOW + 1)
    with ape.reverts(m.GamesPending, claimId=claim_id, activeGames=1):
        m.finalize(job, sender=provider)
    # only the game contract pays
    with ape.reverts(m.Unauthorized):
        m.onGameResolved(gid, claim_id, True, sender=provider)
    balances_ok(system)

    burn0 = _burned(chain)
    tx = g.settle(gid, sender=anyone)
    (ev,) = tx.events.filter(g.Settled)
    assert (int(ev.gameId), int(ev.claimId), ev.by, ev.providerWon) == (
        gid,
        claim_id,
        anyone.address,
        False,
    )
    assert g.getGame(gid).settled
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and m.getJob(job).state == JOB_OPEN
    assert m.credits(challenger) == BOND + L // 2 and m.totalBonds() == 0
    assert _burned(chain) - burn0 == L + (L - L // 2) and s.totalLocked() == 0
    with ape.reverts(g.GameAlreadySettled, gameId=gid):
        g.settle(gid, sender=challenger)
    with ape.reverts(g.GameAlreadySettled, gameId=gid):
        g.settle(gid, sender=provider)
    assert m.credits(challenger) == BOND + L // 2
    balances_ok(system)


def test_settle_refuses_a_game_still_played_and_no_game(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    m, g = system.market, system.game
    provider, challenger, anyone = players
    job, _ = _claim(system, poster, provider, honest_trace, chain, free=0)
    gid = _challenge(system, job, challenger)
    with ape.reverts(g.GameNotDecided, gameId=gid):
        g.settle(gid, sender=anyone)
    with ape.reverts(g.GameNotFound, gameId=gid + 1):
        g.settle(gid + 1, sender=anyone)
    assert m.getClaim(int(m.claimCount())).activeGames == 1


def test_a_timeout_decides_and_settles_in_one_call(system, poster, players, chain, honest_trace):  # noqa: ANN001
    m, g = system.market, system.game
    provider, challenger, anyone = players
    job, claim_id = _claim(system, poster, provider, honest_trace, chain, free=0)
    gid = _challenge(system, job, challenger)
    chain.pending_timestamp = int(g.deadline(gid)) + 1
    tx = g.timeout(gid, sender=anyone)
    assert [int(e.gameId) for e in tx.events.filter(g.Settled)] == [gid]
    assert [int(e.gameId) for e in tx.events.filter(m.GameSettled)] == [gid]
    assert g.getGame(gid).settled and m.getClaim(claim_id).state == CLAIM_REJECTED
    with ape.reverts(g.GameAlreadySettled, gameId=gid):
        g.settle(gid, sender=anyone)
    balances_ok(system)


def test_a_provider_win_unsettled_blocks_finalize_until_the_winner_settles(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    """The griefer lost the step and never settles; the honest provider settles itself and
    finalizes: its backing comes back, the bond and the reward are credited."""
    m, s, g = system.market, system.stake, system.game
    provider, griefer, _ = players
    job, claim_id = _claim(system, poster, provider, honest_trace, chain, free=L)
    gid = _challenge(system, job, griefer)
    assert (
        _decided(system, gid, honest_trace, honest_trace, players, chain) == GameStatus.PROVIDER_WON
    )
    _advance(chain, WINDOW + 1)
    with ape.reverts(m.GamesPending, claimId=claim_id, activeGames=1):
        m.finalize(job, sender=provider)
    assert s.freeStake(provider) == 0 and m.credits(provider) == 0
    g.settle(gid, sender=provider)
    assert s.freeStake(provider) == L and m.credits(provider) == BOND
    m.finalize(job, sender=provider)
    assert m.getClaim(claim_id).state == CLAIM_ACCEPTED
    assert m.credits(provider) == BOND + REWARD and m.credits(griefer) == 0
    balances_ok(system)


@pytest.mark.parametrize("order", list(itertools.permutations("ABC")), ids="".join)
def test_settling_decided_games_of_one_claim_in_any_order_keeps_the_books(
    system, poster, provider, challenger, accounts, chain, honest_trace, order
):  # noqa: ANN001
    """Three games on one lying claim, each backed with L, all decided before any is settled:
    A and B by honest challengers (they win the step), C by an account that agrees with the liar
    (the provider wins its step). Whatever the settling order, and whoever settles: A's and B's
    challengers get bond + L/2 each, the provider C's bond and C's backing back, the claim is
    rejected once (its lock burned), the rest of A's and B's backings burned, nothing left locked
    or bonded."""
    m, s, g = system.market, system.stake, system.game
    liar = _liar(honest_trace)
    stranger = accounts[7]
    who = {"A": challenger, "B": accounts[5], "C": accounts[6]}
    job, claim_id = _claim(system, poster, provider, liar, chain, free=3 * L)
    gid = {k: _challenge(system, job, a) for k, a in who.items()}
    assert all(m.backingOfGame(x) == L for x in gid.values())
    for k, a in who.items():
        t = liar if k == "C" else honest_trace
        status = _decided(system, gid[k], liar, t, (provider, a, stranger), chain)
        assert status == (GameStatus.PROVIDER_WON if k == "C" else GameStatus.CHALLENGER_WON)
    assert m.getClaim(claim_id).state == CLAIM_SUBMITTED and m.getClaim(claim_id).activeGames == 3
    burn0 = _burned(chain)
    rejected = []
    for i, k in enumerate(order):
        tx = g.settle(gid[k], sender=(stranger, who[k], provider)[i])
        rejected += [int(e.claimId) for e in tx.events.filter(m.ClaimRejected)]
        balances_ok(system)
    assert rejected == [claim_id] and m.getClaim(claim_id).state == CLAIM_REJECTED
    assert m.getClaim(claim_id).activeGames == 0
    assert m.credits(who["A"]) == m.credits(who["B"]) == BOND + L // 2
    assert m.credits(who["C"]) == 0 and m.credits(provider) == BOND
    assert s.freeStake(provider) == L  # C's backing back; the lock and A's, B's backings gone
    assert _burned(chain) - burn0 == L + 2 * (L - L // 2)
    assert m.totalBonds() == 0 and s.totalLocked() == 0
    for x in gid.values():
        with ape.reverts(g.GameAlreadySettled, gameId=x):
            g.settle(x, sender=stranger)
    balances_ok(system)


def test_a_replica_pair_game_decided_and_unpaid_holds_its_job(
    project, accounts, chain, honest_trace
):  # noqa: ANN001
    """ReplicaMarket's pair games use the same game contract and callback: a pair game the step
    decided keeps its job in the pair phase (no seat rejected, no window, nothing paid) until
    anyone settles it; then the liar's seat is rejected and the job finalizes (window 0)."""
    from replicas import (
        J_FINALIZED,
        S_ACCEPTED,
        S_REJECTED,
        deploy_replicas,
        pair_games,
        post,
        run_round,
        solvent,
    )

    rep = deploy_replicas(project, deploy_system(project, accounts[0]))
    m, g = rep.market, rep.game
    poster, a, b, anyone = accounts[1], accounts[2], accounts[3], accounts[6]
    liar = _liar(honest_trace)
    job = post(rep, poster, honest_trace, chain, replicas=2, window=0)
    ids, last = run_round(rep, job, [(a, honest_trace), (b, liar)])
    ((gid, _, _),) = pair_games(rep, last)
    state = int(m.getJob(job).state)
    r = play_traces(g, gid, honest_trace, liar, (a, b, anyone), chain, settle=False)
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts and "step" in r.gas
    assert int(m.getJob(job).state) == state and int(m.getJob(job).pendingPairs) == 1
    assert int(m.getSeat(ids[1]).state) != S_REJECTED and m.credits(a) == 0
    solvent(rep)
    g.settle(gid, sender=anyone)
    assert m.getSeat(ids[1]).state == S_REJECTED and m.getSeat(ids[0]).state == S_ACCEPTED
    assert m.getJob(job).state == J_FINALIZED and m.credits(a) > 0
    with ape.reverts(g.GameAlreadySettled, gameId=gid):
        g.settle(gid, sender=a)
    solvent(rep)
