"""Batches (issue 12, docs/protocol.md §6.2): `postMany`, `claimAndSubmitMany` and
`finalizeAndWithdrawMany` do what the single calls do, job by job, all or nothing; a dispute over
one job of a batch runs as it does alone and leaves the others to finalize. Runs on the embedded
chain and on anvil."""

from __future__ import annotations

import ape
from conftest import BOND, REWARD, STAKE, WINDOW, balances_ok, job_params
from contracts_trace import Trace

JOB_OPEN, JOB_CLAIMED, JOB_FINALIZED = 1, 2, 3
CLAIM_SUBMITTED, CLAIM_ACCEPTED, CLAIM_REJECTED = 2, 3, 4


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def posts(trace: Trace, chain, rewards: list[int]) -> list[tuple]:  # noqa: ANN001
    return [(job_params(trace, chain), f"ipfs://spec{i}", r) for i, r in enumerate(rewards)]


def results(trace: Trace, jobs: list[int]) -> list[tuple]:
    p = trace.program
    out = (trace.states[-1], trace.slot_root(p.output_slot), trace.output_proof(p.output_slot))
    return [(j, *out, f"ipfs://out{j}") for j in jobs]


def test_a_batch_of_jobs_posted_claimed_and_paid_in_three_transactions(
    system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    rewards = [REWARD, 2 * REWARD, 3 * REWARD]
    first = int(m.jobCount()) + 1
    tx = m.postMany(posts(honest_trace, chain, rewards), value=sum(rewards), sender=poster)
    jobs = [e.jobId for e in tx.events.filter(m.JobPosted)]
    assert jobs == [first, first + 1, first + 2]
    assert [m.getJob(j).reward for j in jobs] == rewards
    assert [e.specLocator for e in tx.events.filter(m.JobPosted)] == [
        "ipfs://spec0",
        "ipfs://spec1",
        "ipfs://spec2",
    ]
    assert m.totalEscrow() == sum(rewards)
    s.deposit(value=3 * STAKE, sender=provider)
    tx = m.claimAndSubmitMany(results(honest_trace, jobs), sender=provider)
    assert len(tx.events.filter(m.JobClaimed)) == 3
    assert [e.outputLocator for e in tx.events.filter(m.ResultSubmitted)] == [
        f"ipfs://out{j}" for j in jobs
    ]
    claims = [m.getJob(j).currentClaim for j in jobs]
    assert all(m.getClaim(c).state == CLAIM_SUBMITTED for c in claims)
    assert s.freeStake(provider) == 0
    balances_ok(system)
    advance(chain, WINDOW + 1)
    before = provider.balance
    tx = m.finalizeAndWithdrawMany(jobs, sender=provider)
    assert provider.balance == before + sum(rewards) - tx.total_fees_paid
    assert [e.reward for e in tx.events.filter(m.JobFinalized)] == rewards
    assert [e.amount for e in tx.events.filter(m.Withdrawn)] == [sum(rewards)]
    assert all(m.getJob(j).state == JOB_FINALIZED for j in jobs)
    assert m.credits(provider) == 0 and s.freeStake(provider) == 3 * STAKE
    balances_ok(system)


def test_batch_refusals_are_the_single_calls_and_revert_the_whole_batch(
    system, poster, provider, challenger, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    with ape.reverts(m.ZeroAmount):
        m.postMany([], sender=poster)
    bad = posts(honest_trace, chain, [REWARD, REWARD])
    with ape.reverts(m.ParamOutOfRange, param=0, value=REWARD, min=2 * REWARD, max=2 * REWARD):
        m.postMany(bad, value=REWARD, sender=poster)
    bad[1] = (job_params(honest_trace, chain, challengeWindow=1), "x", REWARD)
    with ape.reverts(m.ParamOutOfRange, param=1, value=1):
        m.postMany(bad, value=2 * REWARD, sender=poster)
    jobs = int(m.jobCount())
    m.postMany(posts(honest_trace, chain, [REWARD] * 3), value=3 * REWARD, sender=poster)
    a, b, c = jobs + 1, jobs + 2, jobs + 3
    s.deposit(value=3 * STAKE, sender=provider)
    s.deposit(value=STAKE, sender=challenger)
    m.claim(b, sender=challenger)  # one job of the batch taken by another
    with ape.reverts(m.WrongJobState, jobId=b, have=JOB_CLAIMED, want=JOB_OPEN):
        m.claimAndSubmitMany(results(honest_trace, [a, b, c]), sender=provider)
    assert m.getJob(a).state == JOB_OPEN and m.getJob(c).state == JOB_OPEN  # nothing kept
    with ape.reverts(m.ZeroAmount):
        m.claimAndSubmitMany([], sender=provider)
    m.claimAndSubmitMany(results(honest_trace, [a, c]), sender=provider)
    advance(chain, WINDOW + 1)
    with ape.reverts(m.NotProvider, caller=anyone.address):
        m.finalizeAndWithdrawMany([a, c], sender=anyone)
    with ape.reverts(m.JobNotFound, jobId=jobs + 4):
        m.finalizeAndWithdrawMany([a, jobs + 4], sender=provider)
    with ape.reverts(m.ZeroAmount):
        m.finalizeAndWithdrawMany([], sender=provider)
    with ape.reverts(m.WrongJobState, jobId=a, have=JOB_FINALIZED):  # the same job twice
        m.finalizeAndWithdrawMany([a, a], sender=provider)
    m.finalizeAndWithdrawMany([a, c], sender=provider)
    balances_ok(system)


def test_a_dispute_over_one_job_of_a_batch_runs_as_alone(
    system, poster, provider, challenger, anyone, chain, honest_trace
):  # noqa: ANN001
    """The provider lies in the middle job: that claim's game is lost by timeout (rejected,
    lock burned, job reopened); the two others finalize in one call while it runs."""
    m, s, g = system.market, system.stake, system.game
    jobs0 = int(m.jobCount())
    m.postMany(posts(honest_trace, chain, [REWARD] * 3), value=3 * REWARD, sender=poster)
    a, b, c = jobs0 + 1, jobs0 + 2, jobs0 + 3
    liar = Trace(honest_trace.program, honest_trace.values, corrupt=(0, 1, 1))
    s.deposit(value=4 * STAKE, sender=provider)
    rs = results(honest_trace, [a, c]) + results(liar, [b])
    m.claimAndSubmitMany(rs, sender=provider)
    m.challenge(b, value=BOND, sender=challenger)
    gid = int(g.gameCount())
    advance(chain, WINDOW + 1)
    m.finalizeAndWithdrawMany([a, c], sender=provider)
    assert m.getJob(a).state == JOB_FINALIZED and m.getJob(c).state == JOB_FINALIZED
    claim_b = m.getJob(b).currentClaim
    assert m.getClaim(claim_b).state == CLAIM_SUBMITTED and m.getClaim(claim_b).activeGames == 1
    advance(chain, int(g.deadline(gid)) - chain.pending_timestamp + 1)
    g.timeout(gid, sender=anyone)
    assert m.getClaim(claim_b).state == CLAIM_REJECTED and m.getJob(b).state == JOB_OPEN
    assert m.credits(challenger) > BOND
    balances_ok(system)
