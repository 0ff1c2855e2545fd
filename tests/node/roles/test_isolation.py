"""No job, program, claim or game stops a daemon from serving the others (issue 11: F5, P7).

The attack (F5): a poster posts a "poison" job whose program reads one non-constant slot as both
operands (`matmul(q, q)`, `add(m, m)`); the executor used to free that slot twice and raise
KeyError, which escaped the daemons' loops, so the honest provider that claimed it and every
watchtower crashed on each tick, while a liar's claim on an ordinary job posted meanwhile went
unchallenged. Now the poison job simply executes, and a job that fails for any other reason is
isolated in its record: cause kept, retried with back-off, given up on within its deadlines."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState
from node.compute.executor import Executor
from node.program.compiler.builder import ProgramBuilder
from node.program.spec import JobSpec
from node.roles import daemon as daemon_mod
from node.roles.client import JobClient
from node.roles.daemon import BACKOFF_BASE, MAX_ATTEMPTS, run_forever
from node.roles.provider import Provider
from node.roles.records import ClaimRecord, JobRecord, ProviderStage, WatchStage
from node.roles.watchtower import Watchtower
from node.trace.lazy import TraceProvider
from poc_lab.adversary import ProviderCheat, cheating_provider

POSTER, PROVIDER, TOWER, LIAR, ATTACKER, ATTACKER_PROVIDER = 1, 2, 3, 4, 5, 6


def poison_job(seed: int = 0) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    """relu(x) -> q; matmul(q, q) -> m; add(m, m) -> s; requant(s): both operands of two ops
    are one non-constant slot (what F5 crashed on)."""
    b = ProgramBuilder()
    x = b.data_input("x", 32, 32)
    q = b.relu(x, 32, 32)
    m = b.matmul(q, q, 32, 32, 32)
    s = b.add(m, m, 32, 32, broadcast=False)
    out = b.requant(s, 32, 32, 10, mult=1)
    program, constants = b.finish(out)
    spec = JobSpec(program, constants, batch=32, data_slot=0, meta={"example": "poison"})
    rng = np.random.default_rng(seed)
    return spec, rng.integers(-128, 128, (32, 32)).astype(np.int8)


def _provider(make_ctx: Any, index: int, name: str, **kwargs: Any) -> Provider:
    p = Provider(make_ctx(index, name), **kwargs)
    p.stake(ETHER)
    return p


def _liar_claims_an_mlp_job(make_ctx: Any) -> tuple[int, int, Provider]:
    """An ordinary job posted meanwhile, claimed by a liar that submits a wrong result."""
    job_id = post_tiny(make_ctx(POSTER, "poster"))
    liar = cheating_provider(make_ctx(LIAR, "liar"), ProviderCheat("op"))
    liar.stake(ETHER)
    liar.tick()
    d = liar.ctx.deployment
    claim_id = d.market.job(job_id).current_claim
    assert d.market.claim(claim_id).provider == liar.ctx.address
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED
    return job_id, claim_id, liar


def test_the_poison_job_executes_and_the_liar_is_still_caught(chain: Any, make_ctx: Any) -> None:
    spec, data = poison_job()
    poison = JobClient(make_ctx(ATTACKER, "attacker")).post(spec, data, TERMS)
    honest = _provider(make_ctx, PROVIDER, "provider")
    tower = Watchtower(make_ctx(TOWER, "tower"))
    d = honest.ctx.deployment

    honest.tick()  # claims the poison job, executes it, submits
    tower.tick()  # re-executes it: correct
    rec = honest.record(poison)
    assert rec is not None and rec.stage == ProviderStage.SUBMITTED and rec.failures == 0
    poison_claim = d.market.job(poison).current_claim
    assert tower.record(poison_claim).stage == WatchStage.CORRECT  # type: ignore[union-attr]

    job_id, liar_claim, liar = _liar_claims_an_mlp_job(make_ctx)
    drive(
        chain,
        [honest, liar, tower],
        lambda: d.market.claim(liar_claim).state == ClaimState.REJECTED,
        seconds_per_round=1,
    )
    won = tower.record(liar_claim)
    assert won is not None and won.stage in (WatchStage.PLAYING, WatchStage.DONE)
    (game,) = d.market.games_of_claim(liar_claim)
    assert d.game_view(game).status.name == "CHALLENGER_WON"

    advance(chain, TERMS.challenge_window + 1)
    drive(chain, [honest, tower], lambda: d.market.job(poison).state == JobState.FINALIZED)
    assert honest.record(poison).stage == ProviderStage.DONE  # type: ignore[union-attr]
    # the poster's result is the reference's
    result = JobClient(make_ctx(ATTACKER, "attacker")).result(poison)
    expected = TraceProvider(spec.program, dict(enumerate(spec.input_values(data))))
    assert np.array_equal(result.output, expected.values(spec.program.output_slot))


class Injected(RuntimeError):
    """What a torch or driver fault looks like to the daemon: no PocError, no ChainError."""


def _executor_fails_on(monkeypatch: pytest.MonkeyPatch, spec: JobSpec) -> list[int]:
    """The plain executor (the honest provider's and the watchtower's path) raises on
    `spec`'s program, and only there; returns the list its failing calls are counted in."""
    calls: list[int] = []
    real = Executor.run

    def run(self: Executor, *args: Any, **kwargs: Any) -> Any:
        if self.program == spec.program:
            calls.append(1)
            raise Injected("CUDA error: an illegal memory access was encountered")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Executor, "run", run)
    return calls


def test_a_job_that_cannot_execute_is_isolated_backed_off_and_given_up(
    chain: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="node.roles")
    spec, data = poison_job()
    calls = _executor_fails_on(monkeypatch, spec)
    attacker = JobClient(make_ctx(ATTACKER, "attacker"))
    honest = _provider(make_ctx, PROVIDER, "provider")
    tower = Watchtower(make_ctx(TOWER, "tower"))
    d = honest.ctx.deployment

    # 1. the honest provider claims a job it cannot execute: the failure stays in its record
    stuck = attacker.post(spec, data, TERMS)
    honest.tick()
    rec = honest.record(stuck)
    assert rec is not None and rec.stage == ProviderStage.CLAIMED
    assert rec.failures == 1 and rec.last_error is not None and "Injected" in rec.last_error
    assert rec.retry_at == d.now() + BACKOFF_BASE
    assert "retrying after 1 failed attempts" in honest.status()["jobs"][stuck]["reason"]
    honest.tick()  # backing off: not tried again in the same second
    assert len(calls) == 1

    # 2. the attacker's own claim on a second such job (computed on its own, working path)
    second = attacker.post(spec, data, TERMS)
    own = _provider(make_ctx, ATTACKER_PROVIDER, "attacker-provider", trace_factory=TraceProvider)
    own.tick()
    second_claim = d.market.job(second).current_claim
    assert d.market.claim(second_claim).state == ClaimState.SUBMITTED

    # 3. a liar's claim on an ordinary job: the watchtower still challenges and wins
    job_id, liar_claim, liar = _liar_claims_an_mlp_job(make_ctx)
    roles = [honest, own, liar, tower]
    drive(
        chain,
        roles,
        lambda: d.market.claim(liar_claim).state == ClaimState.REJECTED,
        seconds_per_round=2,
    )
    (game,) = d.market.games_of_claim(liar_claim)
    assert d.game_view(game).status.name == "CHALLENGER_WON"
    JobClient(make_ctx(POSTER, "poster")).cancel(job_id)  # nobody else takes it up
    checked = tower.record(second_claim)
    assert checked is not None and checked.failures >= 1
    assert checked.last_error is not None and "Injected" in checked.last_error

    # 4. both give up after MAX_ATTEMPTS; the provider expires its own claim at the deadline
    drive(
        chain,
        [honest, tower],
        lambda: honest.record(stuck).stage == ProviderStage.LOST,  # type: ignore[union-attr]
        rounds=60,
        seconds_per_round=30,
    )
    lost = honest.record(stuck)
    assert lost is not None and lost.reason is not None
    assert f"gave up after {MAX_ATTEMPTS} failed attempts" in lost.reason
    assert "Injected" in lost.reason and "claim expired" in lost.reason
    stuck_claim = lost.claim_id
    assert stuck_claim is not None and d.market.claim(stuck_claim).state == ClaimState.EXPIRED
    assert d.now() > d.market.claim(stuck_claim).claimed_at + TERMS.execute_within
    # it loses only the protocol's missed-deadline share of its lock (credited to the poster)
    slashed = ETHER - d.stake.free_stake(honest.ctx.address)
    assert slashed == TERMS.required_stake // 10
    assert d.market.credits(attacker.ctx.address) == slashed
    skipped = tower.record(second_claim)
    assert skipped is not None and skipped.stage == WatchStage.SKIPPED
    assert skipped.reason is not None and "gave up after" in skipped.reason
    assert "Injected" in skipped.reason
    # each tried exactly MAX_ATTEMPTS times over dozens of ticks; one traceback each
    assert len(calls) == 2 * MAX_ATTEMPTS
    tracebacks = [r for r in caplog.records if r.exc_info and "Injected" in r.getMessage()]
    assert len(tracebacks) == 2
    # meanwhile the watchtower finished its game against the liar
    assert tower.record(liar_claim).stage == WatchStage.DONE  # type: ignore[union-attr]


def test_the_pre_fix_double_free_is_isolated_too(
    chain: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact F5 failure (KeyError from freeing the slot twice), replayed: the honest
    provider keeps ticking and serves the next job."""

    def double_free(self: Executor, slots: dict[int, Any], i: int) -> None:
        op = self.program.ops[i]
        for s in (op.a, op.b):
            if self._last_use.get(s) == i and s not in self.constants:
                del slots[s]

    monkeypatch.setattr(Executor, "_free", double_free)
    spec, data = poison_job()
    stuck = JobClient(make_ctx(ATTACKER, "attacker")).post(spec, data, TERMS)
    honest = _provider(make_ctx, PROVIDER, "provider")
    honest.tick()
    rec = honest.record(stuck)
    assert rec is not None and rec.stage == ProviderStage.CLAIMED
    assert rec.last_error is not None and rec.last_error.startswith("KeyError")
    # an ordinary job posted next is claimed and submitted by the same daemon
    job_id = post_tiny(make_ctx(POSTER, "poster"))
    advance(chain, BACKOFF_BASE)
    honest.tick()
    assert honest.record(job_id).stage == ProviderStage.SUBMITTED  # type: ignore[union-attr]
    assert honest.record(stuck).failures == 2  # type: ignore[union-attr]


def test_records_without_failure_fields_read_as_unset() -> None:
    old = JobRecord.from_data(7, {"locator": "bafy", "stage": 1, "claim_id": 3})
    assert (old.failures, old.last_error, old.retry_at) == (0, None, None)
    assert old.data() == {"locator": "bafy", "stage": 1, "claim_id": 3}
    claim = ClaimRecord.from_data(4, {"job_id": 2, "s_n": "0x01", "stage": 0, "window_end": 9})
    assert claim.failures == 0 and "reason" not in claim.status()
    failing = JobRecord(7, ProviderStage.CLAIMED, failures=2, last_error="KeyError: 5", retry_at=99)
    again = JobRecord.from_data(7, failing.data())
    assert again == failing
    assert failing.status()["reason"] == (
        "retrying after 2 failed attempts, next attempt at chain time 99: KeyError: 5"
    )


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [daemon_mod.backoff(n, 300) for n in range(1, 12)]
    assert waits[:4] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE, 8 * BACKOFF_BASE]
    assert max(waits) == 300 and waits == sorted(waits)


def test_run_forever_survives_a_tick_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="node.roles.daemon")
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) <= 3:
            raise KeyError(5)
        if len(ticks) == 4:
            raise ValueError("bad program")
        os.kill(os.getpid(), signal.SIGINT)  # the loop stops after this tick

    run_forever(tick, interval=0.001, max_backoff=0.01)
    assert len(ticks) == 5
    failed = [r for r in caplog.records if "tick failed" in r.getMessage()]
    assert len(failed) == 4
    # a traceback for each new error, one line when the same error repeats
    assert [bool(r.exc_info) for r in failed] == [True, False, False, True]


def test_a_back_off_ends_in_wall_time_on_a_chain_that_mines_no_block(
    make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chain time stands still where blocks are mined only on demand (anvil, a quiet devnet):
    a record backing off after a store fault is retried once its back-off has passed on the
    wall clock, not at a block that may never come (found by the fault proxy, issue 13)."""
    from node.storage.errors import StorageError

    spec, data = poison_job()
    calls: list[int] = []
    real = Executor.run

    def flaky(self: Executor, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("IPFS cat failed: HTTP 502 from the gateway")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Executor, "run", flaky)
    job_id = JobClient(make_ctx(ATTACKER, "attacker")).post(spec, data, TERMS)
    honest = _provider(make_ctx, PROVIDER, "provider")
    d = honest.ctx.deployment
    honest.tick()
    rec = honest.record(job_id)
    assert rec is not None and rec.failures == 1 and rec.retry_at == d.now() + BACKOFF_BASE
    frozen = d.now()
    honest.tick()  # within the back-off on both clocks: skipped
    assert len(calls) == 1
    wall = daemon_mod.time.monotonic() + BACKOFF_BASE + 0.5
    monkeypatch.setattr(daemon_mod.time, "monotonic", lambda: wall)
    assert d.now() == frozen  # no block since the failure: chain time alone would wait
    honest.tick()
    assert len(calls) == 2
    claim_id = d.market.job(job_id).current_claim
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED
    done = honest.record(job_id)
    assert done is not None and done.failures == 0 and done.retry_at is None


def test_a_watchtower_retries_a_claim_it_could_not_fetch_and_still_catches_the_lie(
    chain: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store fault while fetching the job is transient: the claim is retried with back-off
    until its window closes, not skipped for good (found by the fault proxy, issue 13: one
    HTTP 502 from the IPFS gateway let a lie through)."""
    from node.storage.errors import StorageError

    job_id, liar_claim, liar = _liar_claims_an_mlp_job(make_ctx)
    tower = Watchtower(make_ctx(TOWER, "tower"))
    d = tower.ctx.deployment
    real = Watchtower._work_for
    failed: list[int] = []

    def flaky(self: Watchtower, job: Any) -> Any:
        if not failed:
            failed.append(1)
            raise StorageError("IPFS cat failed: HTTPError: 502 Server Error")
        return real(self, job)

    monkeypatch.setattr(Watchtower, "_work_for", flaky)
    tower.tick()
    rec = tower.record(liar_claim)
    assert rec is not None and rec.stage == WatchStage.NEW and rec.failures == 1
    assert rec.last_error is not None and "502" in rec.last_error
    drive(
        chain,
        [liar, tower],
        lambda: d.market.claim(liar_claim).state == ClaimState.REJECTED,
        seconds_per_round=2,
    )
    (game,) = d.market.games_of_claim(liar_claim)
    assert d.game_view(game).status.name == "CHALLENGER_WON"
    assert job_id == d.market.claim(liar_claim).job_id
