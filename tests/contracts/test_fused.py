"""The fused honest path (docs/protocol.md §6.2, issue 12): `claimAndSubmit` (claim then submit in
one call, the same checks and events, one provider per job still) and `finalizeAndWithdraw` (the
provider's finalize and withdraw in one call). The attacks: a job claimed by another, claimed
twice, past its claim deadline, cancelled, cooling down, an unstaked caller, a bad proof (nothing
of the claim stays); finalizeAndWithdraw by another, before the window's end, with a game or an
output demand open; a provider contract whose payout hook re-enters (ether and an ERC-777-like
token). Runs on the embedded chain and on anvil."""

from __future__ import annotations

import ape
import pytest
from conftest import (
    BOND,
    CLOCK,
    EXECUTE,
    REWARD,
    STAKE,
    WINDOW,
    balances_ok,
    deploy_system,
    job_params,
    open_game,
    post_job,
)
from contracts_trace import Trace

JOB_OPEN, JOB_CLAIMED, JOB_FINALIZED, JOB_CANCELLED = 1, 2, 3, 4
CLAIM_ACTIVE, CLAIM_SUBMITTED, CLAIM_ACCEPTED = 1, 2, 3
REASON_REWARD = 1
MAX = 2**256 - 1


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def result(trace: Trace) -> tuple:
    """(S_N, output root, its proof) of `trace`."""
    p = trace.program
    return trace.states[-1], trace.slot_root(p.output_slot), trace.output_proof(p.output_slot)


def fused(market, provider, job: int, trace: Trace, uri: str = "ipfs://out"):  # noqa: ANN001, ANN201
    return market.claimAndSubmit(job, *result(trace), uri, sender=provider)


def test_claim_and_submit_then_finalize_and_withdraw_pays_the_provider(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    s.deposit(value=STAKE, sender=provider)
    tx = fused(m, provider, job, honest_trace)
    claim_id = int(m.claimCount())
    claimed = tx.events.filter(m.JobClaimed)
    submitted = tx.events.filter(m.ResultSubmitted)
    assert len(claimed) == 1 and len(submitted) == 1
    assert claimed[0].claimId == claim_id and claimed[0]["provider"] == provider.address
    assert claimed[0].lock == STAKE
    assert submitted[0].claimId == claim_id and bytes(submitted[0].sN) == honest_trace.states[-1]
    assert submitted[0].outputLocator == "ipfs://out"
    c = m.getClaim(claim_id)
    assert m.getJob(job).state == JOB_CLAIMED and m.getJob(job).currentClaim == claim_id
    assert c.state == CLAIM_SUBMITTED and c.provider == provider.address
    assert c.claimedAt == c.submittedAt and submitted[0].windowEnd == c.submittedAt + WINDOW
    assert s.lockOf(claim_id).amount == STAKE and s.freeStake(provider) == 0
    balances_ok(system)
    with ape.reverts(m.WindowOpen, claimId=claim_id):
        m.finalizeAndWithdraw(job, sender=provider)
    advance(chain, WINDOW + 1)
    before = provider.balance
    tx = m.finalizeAndWithdraw(job, sender=provider)
    assert provider.balance == before + REWARD - tx.total_fees_paid
    assert [e.reward for e in tx.events.filter(m.JobFinalized)] == [REWARD]
    assert [(e.amount, e.reason) for e in tx.events.filter(m.Credited)] == [(REWARD, REASON_REWARD)]
    assert [e.amount for e in tx.events.filter(m.Withdrawn)] == [REWARD]
    assert m.getJob(job).state == JOB_FINALIZED and m.getClaim(claim_id).state == CLAIM_ACCEPTED
    assert m.credits(provider) == 0 and s.freeStake(provider) == STAKE
    assert m.totalEscrow() == 0
    balances_ok(system)


def test_finalize_and_withdraw_pays_every_credit_of_the_provider(
    system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    """Credits from earlier jobs go out with the reward (one withdraw, all of them)."""
    m, s = system.market, system.stake
    s.deposit(value=2 * STAKE, sender=provider)
    jobs = [post_job(m, poster, honest_trace, chain) for _ in range(2)]
    for job in jobs:
        fused(m, provider, job, honest_trace)
    advance(chain, WINDOW + 1)
    m.finalize(jobs[0], sender=provider)
    assert m.credits(provider) == REWARD
    tx = m.finalizeAndWithdraw(jobs[1], sender=provider)
    assert [e.amount for e in tx.events.filter(m.Withdrawn)] == [2 * REWARD]
    assert m.credits(provider) == 0 and m.totalCredits() == 0
    balances_ok(system)


def test_claim_and_submit_keeps_one_provider_per_job(
    system, poster, provider, challenger, chain, honest_trace
):  # noqa: ANN001
    """A job claimed by another (plain claim or fused) refuses a fused claim, and a fused claim
    refuses every later claim: the claim lock's guarantee."""
    m, s = system.market, system.stake
    s.deposit(value=2 * STAKE, sender=provider)
    s.deposit(value=2 * STAKE, sender=challenger)
    job = post_job(m, poster, honest_trace, chain)
    m.claim(job, sender=challenger)
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_CLAIMED, want=JOB_OPEN):
        fused(m, provider, job, honest_trace)
    job2 = post_job(m, poster, honest_trace, chain)
    fused(m, provider, job2, honest_trace)
    for who in (provider, challenger):  # twice, or by another
        with ape.reverts(m.WrongJobState, jobId=job2, have=JOB_CLAIMED, want=JOB_OPEN):
            fused(m, who, job2, honest_trace)
        with ape.reverts(m.WrongJobState, jobId=job2, have=JOB_CLAIMED, want=JOB_OPEN):
            m.claim(job2, sender=who)
    assert m.getClaim(m.getJob(job2).currentClaim).provider == provider.address
    balances_ok(system)


def test_claim_and_submit_refuses_what_claim_refuses(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    with ape.reverts(m.JobNotFound, jobId=999):
        fused(m, provider, 999, honest_trace)
    job = post_job(m, poster, honest_trace, chain, claimBy=chain.pending_timestamp + 100)
    with ape.reverts(s.InsufficientStake, provider=anyone.address, free=0, needed=STAKE):
        fused(m, anyone, job, honest_trace)
    s.deposit(value=STAKE, sender=provider)
    advance(chain, 200)
    with ape.reverts(m.ClaimDeadlinePassed, jobId=job):
        fused(m, provider, job, honest_trace)
    job2 = post_job(m, poster, honest_trace, chain)
    m.cancel(job2, sender=poster)
    with ape.reverts(m.WrongJobState, jobId=job2, have=JOB_CANCELLED, want=JOB_OPEN):
        fused(m, provider, job2, honest_trace)
    # a reopened job cools down for MIN_CLOCK: a fused claim waits as a claim does
    job3 = post_job(m, poster, honest_trace, chain)
    m.claim(job3, sender=provider)
    advance(chain, EXECUTE + 1)
    m.expire(job3, sender=anyone)
    reopens = m.getJob(job3).reopensAt
    with ape.reverts(m.JobCoolingDown, jobId=job3, reopensAt=reopens):
        fused(m, provider, job3, honest_trace)
    assert m.getJob(job3).state == JOB_OPEN
    balances_ok(system)


def test_claim_and_submit_with_a_bad_result_leaves_no_claim(
    system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    s.deposit(value=STAKE, sender=provider)
    job = post_job(m, poster, honest_trace, chain)
    s_n, root, proof = result(honest_trace)
    claims = int(m.claimCount())
    with ape.reverts(m.BadOutputProof):
        m.claimAndSubmit(job, s_n, bytes(32), proof, "o", sender=provider)
    with ape.reverts(m.BadOutputProof):
        m.claimAndSubmit(job, s_n, root, proof[:-1], "o", sender=provider)
    assert int(m.claimCount()) == claims and m.getJob(job).state == JOB_OPEN
    assert s.freeStake(provider) == STAKE


def test_finalize_and_withdraw_refusals(
    system, poster, provider, challenger, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    s.deposit(value=3 * STAKE, sender=provider)  # two claims and a game's backing
    job = post_job(m, poster, honest_trace, chain)
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_OPEN, want=JOB_CLAIMED):
        m.finalizeAndWithdraw(job, sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    with ape.reverts(m.NotProvider, claimId=claim_id, caller=anyone.address):
        m.finalizeAndWithdraw(job, sender=anyone)
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_ACTIVE, want=CLAIM_SUBMITTED):
        m.finalizeAndWithdraw(job, sender=provider)
    m.submitResult(job, *result(honest_trace), "o", sender=provider)
    with ape.reverts(m.WindowOpen, claimId=claim_id):
        m.finalizeAndWithdraw(job, sender=provider)
    gid = open_game(system, job, challenger)
    advance(chain, WINDOW + 1)
    with ape.reverts(m.NotProvider, claimId=claim_id, caller=poster.address):
        m.finalizeAndWithdraw(job, sender=poster)
    with ape.reverts(m.GamesPending, claimId=claim_id, active=1):
        m.finalizeAndWithdraw(job, sender=provider)
    assert gid and m.getClaim(claim_id).state == CLAIM_SUBMITTED
    # an output demand pending past the window also holds it
    job2 = post_job(m, poster, honest_trace, chain)
    fused(m, provider, job2, honest_trace)
    m.demandOutput(job2, sender=poster)
    advance(chain, WINDOW + 1)
    claim2 = int(m.claimCount())
    with ape.reverts(m.OutputPending, claimId=claim2):
        m.finalizeAndWithdraw(job2, sender=provider)
    assert CLOCK > WINDOW  # the demand is still due after the window
    balances_ok(system)


def test_a_provider_contract_cannot_reenter_its_payout(
    project, system, deployer, poster, anyone, chain, honest_trace
):  # noqa: ANN001
    """Its receive hook tries `withdraw` and `finalizeAndWithdraw` again: both hit the guard,
    the reward is paid once."""
    m = system.market
    r = deployer.deploy(project.ReentrantProvider)
    r.stake(system.stake.address, value=STAKE, sender=deployer)
    job = post_job(m, poster, honest_trace, chain)
    s_n, root, proof = result(honest_trace)
    r.claimAndSubmit(m.address, job, s_n, root, proof, sender=anyone)
    advance(chain, WINDOW + 1)
    r.finalizeAndWithdraw(m.address, job, sender=anyone)
    assert r.reentries() == 1 and r.reentrySucceeded() == 0
    assert r.received() == REWARD and m.credits(r) == 0
    assert m.getJob(job).state == JOB_FINALIZED
    balances_ok(system)


def test_a_token_callback_cannot_reenter_the_payout(
    project, deployer, poster, anyone, chain, honest_trace
):  # noqa: ANN001
    """On an ERC-777-like token market the provider's tokensReceived hook re-enters: refused."""
    token = deployer.deploy(project.CallbackToken)
    sys_ = deploy_system(project, deployer, asset=token.address)
    m, s = sys_.market, sys_.stake
    r = deployer.deploy(project.ReentrantProvider)
    token.mint(r.address, STAKE, sender=anyone)
    r.stakeToken(s.address, token.address, STAKE, sender=anyone)
    token.mint(poster.address, REWARD, sender=poster)
    token.approve(m.address, MAX, sender=poster)
    m.postToken(job_params(honest_trace, chain), "spec", REWARD, sender=poster)
    job = int(m.jobCount())
    s_n, root, proof = result(honest_trace)
    r.claimAndSubmit(m.address, job, s_n, root, proof, sender=anyone)
    advance(chain, WINDOW + 1)
    r.finalizeAndWithdraw(m.address, job, sender=anyone)
    assert r.reentries() == 1 and r.reentrySucceeded() == 0
    assert r.received() == REWARD and token.balanceOf(r.address) == REWARD
    assert token.balanceOf(m.address) == m.totalEscrow() + m.totalBonds() + m.totalCredits()


@pytest.mark.parametrize("bond", [BOND])
def test_a_fused_claim_can_be_challenged_as_a_plain_one(
    system, poster, provider, challenger, chain, honest_trace, bond
):  # noqa: ANN001
    m, s = system.market, system.stake
    s.deposit(value=2 * STAKE, sender=provider)
    job = post_job(m, poster, honest_trace, chain)
    fused(m, provider, job, honest_trace)
    tx = m.challenge(job, value=bond, sender=challenger)
    assert tx.events.filter(m.Challenged)[0].backing == STAKE
    balances_ok(system)
