"""Packed storage (issue 12, docs/protocol.md §6.2): a job and a claim stored in five and four
slots, a stake lock in one, read back whole through the same views. The extremes of every range
round-trip untruncated; the amounts' new bound (2^96 - 1) is refused one above; a stake lock too
large for its packed slot is kept whole. Runs on the embedded chain and on anvil."""

from __future__ import annotations

import ape
from conftest import STAKE, job_params, post_job

from node.program.constants import MAX_SLOTS as OP_MAX_SLOTS

MAX_AMOUNT = 2**96 - 1
MAX_SLOTS = OP_MAX_SLOTS
MAX_U64 = 2**64 - 1
DAY = 86400
MAX = 2**256 - 1


def test_a_job_at_the_extremes_of_every_range_reads_back_whole(
    system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    m = system.market
    assert m.MAX_AMOUNT() == MAX_AMOUNT
    assert m.MAX_SLOTS() == MAX_SLOTS
    p = job_params(
        honest_trace,
        chain,
        nInputs=MAX_SLOTS - 1,
        nOps=1,
        outputSlot=MAX_SLOTS - 1,
        requiredStake=MAX_AMOUNT,
        challengerBond=MAX_AMOUNT,
        claimBy=MAX_U64,
        executeWithin=7 * DAY,
        challengeWindow=14 * DAY,
        clock=7 * DAY,
    )
    m.post(p, "spec", value=STAKE, sender=poster)
    job = m.getJob(int(m.jobCount()))
    got = (
        bytes(job.params.programRoot),
        bytes(job.params.s0),
        job.params.nInputs,
        job.params.nOps,
        job.params.outputSlot,
        job.params.requiredStake,
        job.params.challengerBond,
        job.params.claimBy,
        job.params.executeWithin,
        job.params.challengeWindow,
        job.params.clock,
    )
    assert got == tuple(bytes(x) if isinstance(x, bytes | bytearray) else x for x in p)
    assert job.poster == poster.address and job.reward == STAKE and job.state == 1
    assert job.currentClaim == 0 and job.reopensAt == 0


def test_amounts_above_96_bits_are_refused(system, poster, chain, honest_trace):  # noqa: ANN001
    m = system.market
    for field, param in (("requiredStake", 9), ("challengerBond", 6)):
        with ape.reverts(m.ParamOutOfRange, param=param, value=MAX_AMOUNT + 1, max=MAX_AMOUNT):
            m.post(
                job_params(honest_trace, chain, **{field: MAX_AMOUNT + 1}),
                "x",
                value=STAKE,
                sender=poster,
            )


def test_a_claim_reads_back_with_its_lock_from_the_job(
    system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    s.deposit(value=STAKE, sender=provider)
    job = post_job(m, poster, honest_trace, chain)
    m.claim(job, sender=provider)
    c = m.getClaim(int(m.claimCount()))
    assert (c.jobId, c.provider, c.state, c.lock) == (job, provider.address, 1, STAKE)
    assert c.claimedAt > 0 and c.submittedAt == 0 and c.outputDue == 0
    assert not c.outputPublished and c.activeGames == 0


def test_a_stake_lock_too_large_for_its_slot_is_kept_whole(project, deployer, accounts):  # noqa: ANN001
    token = deployer.deploy(project.MockStablecoin)
    s = deployer.deploy(project.StakeManager, token.address)
    mk, p = accounts[5], accounts[6]
    s.setMarket(mk.address, sender=deployer)
    big = 2**100 + 7
    token.mint(p.address, 2 * big, sender=p)
    token.approve(s.address, MAX, sender=p)
    s.depositToken(2 * big, sender=p)
    s.lock(p.address, 1, big, sender=mk)
    s.lock(p.address, 2, 2**96 - 1, sender=mk)  # the packed slot's own limit: kept apart too
    assert tuple(s.lockOf(1)) == (p.address, big)
    assert tuple(s.lockOf(2)) == (p.address, 2**96 - 1)
    with ape.reverts(s.SlashTooLarge, claimId=1, amount=big + 1, locked=big):
        s.slash(1, big + 1, sender=mk)
    s.slash(1, big - 5, sender=mk)  # 5 back to free
    assert s.lockOf(1).provider == "0x" + "00" * 20 and s.lockOf(1).amount == 0
    s.unlock(2, sender=mk)
    assert s.freeStake(p) == 2 * big - big + 5 and s.totalLocked() == 0
    assert token.balanceOf(s.address) == s.totalFree() + s.totalLocked() + s.totalUnbonding()
