"""Issue 11, F4 / P5: a job that reopens after a claim ended cools down for MIN_CLOCK seconds
(`reopensAt`), so that a griefer cannot `expire` and `claim` again in one transaction and the
poster always has time to cancel. For the provider node a cooling job is "not yet", never a
failure: it is skipped with one log line and claimed once `reopensAt` has passed."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from roles_support import ETHER, TERMS, advance, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState
from node.roles.client import JobClient
from node.roles.provider import Provider
from node.roles.records import ProviderStage

POSTER, WORKER, LAZY = 1, 2, 4


def _expired_and_cooling(chain: Any, make_ctx: Any) -> tuple[JobClient, int, Provider]:
    """A job claimed by a provider that never executes; after its deadline the worker expires
    that claim itself: the job reopens, cooling down."""
    client = JobClient(make_ctx(POSTER, "poster"))
    job_id = post_tiny(client.ctx)
    lazy = Provider(make_ctx(LAZY, "lazy"))
    lazy.stake(ETHER)
    d = lazy.ctx.deployment
    lazy.ctx.send(d.market.claim_job(job_id))  # claims, then never executes
    worker = Provider(make_ctx(WORKER, "worker"))
    worker.stake(ETHER)
    advance(chain, TERMS.execute_within + 1)
    return client, job_id, worker


def test_a_cooling_job_is_skipped_once_then_claimed(chain: Any, make_ctx: Any, caplog: Any) -> None:
    client, job_id, worker = _expired_and_cooling(chain, make_ctx)
    d = worker.ctx.deployment
    with caplog.at_level(logging.INFO, logger="node.roles.provider"):
        for _ in range(3):
            worker.tick()  # the first tick expires the lazy claim; none may claim yet
    assert d.market.claim(1).state == ClaimState.EXPIRED
    job = d.market.job(job_id)
    assert job.state == JobState.OPEN and job.reopens_at > d.now()
    rec = worker.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.NEW  # waiting, not refused
    assert rec.failures == 0 and rec.last_error is None  # not a failure
    assert f"cooling down until chain time {job.reopens_at}" in (rec.note or "")
    said = [r for r in caplog.records if "cooling down" in r.getMessage()]
    assert len(said) == 1  # one log line, not one per tick

    advance(chain, job.reopens_at - d.now() + 1)
    worker.tick()
    rec = worker.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.SUBMITTED and rec.note is None
    assert d.market.claim(rec.claim_id).provider == worker.ctx.address


def test_a_claim_refused_for_cooldown_is_not_yet(
    chain: Any, make_ctx: Any, monkeypatch: Any
) -> None:
    """The job reopened between our read and our claim: the market's JobCoolingDown is read
    as "not yet" too (no failure counted, nothing refused)."""
    _, job_id, worker = _expired_and_cooling(chain, make_ctx)
    d = worker.ctx.deployment
    worker.ctx.send(d.market.expire(job_id, 1))
    cooling = d.market.job(job_id)
    assert cooling.reopens_at > d.now()
    real_job = d.market.job
    # a stale read: the job as it looked with its cooldown already over
    monkeypatch.setattr(
        d.market,
        "job",
        lambda j: dataclasses.replace(real_job(j), reopens_at=0) if j == job_id else real_job(j),
    )
    worker.tick()
    rec = worker.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.NEW and rec.failures == 0
    assert f"cooling down until chain time {cooling.reopens_at}" in (rec.note or "")
    monkeypatch.setattr(d.market, "job", real_job)
    advance(chain, cooling.reopens_at - d.now() + 1)
    worker.tick()
    assert worker.record(job_id).stage == ProviderStage.SUBMITTED


def test_the_poster_cancels_a_cooling_job(chain: Any, make_ctx: Any) -> None:
    client, job_id, worker = _expired_and_cooling(chain, make_ctx)
    worker.tick()  # expires the lazy claim: the job cools down
    d = client.ctx.deployment
    assert d.market.job(job_id).reopens_at > d.now()
    client.cancel(job_id)
    assert d.market.job(job_id).state == JobState.CANCELLED
    # the escrow, and the missed-deadline share of the lazy provider's lock
    assert client.withdraw() == TERMS.reward + TERMS.required_stake // 10
    worker.tick()
    assert worker.record(job_id).stage == ProviderStage.REFUSED
