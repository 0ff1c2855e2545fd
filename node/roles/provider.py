"""The provider daemon (a `RoleDaemon`): an idempotent `tick()` that re-reads chain state.

Per job, in order: apply the policy (reward, size, deadlines), download the package and refuse
it unless it matches the on-chain program root and S_0, claim (locking stake), execute (GPU
when present, CPU otherwise), store the output, submit the claim, defend every game, finalize
once the window has closed, and withdraw earned credits. Jobs are discovered by an event
scanner whose checkpoint, like every decision and every sent transaction, lives in SQLite:
a restart at any moment resumes where the last run stopped."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from node.chain.contracts.job_market import Claim, ClaimState, Job, JobState
from node.chain.scanner import ChainEvent
from node.errors import PocError
from node.game.rules import GameStatus, Side
from node.roles import safety
from node.roles.daemon import DaemonPolicy, RoleDaemon, RoleKind
from node.roles.errors import InsufficientStake
from node.roles.records import JobRecord, ProviderStage
from node.storage.errors import ContentMismatch, ContentUnavailable, InvalidCid, StorageError

log = logging.getLogger(__name__)

Stage = ProviderStage
CHAIN_CONDITIONS_TTL = 300.0  # seconds a measured block time and gas price stay in use


@dataclass(frozen=True)
class ProviderPolicy(DaemonPolicy):
    min_reward: int = 0  # wei
    max_ops: int = 4096
    max_input_bytes: int = 1 << 30  # the package's data and constants together
    max_stake: int | None = None  # never lock more than this per job
    # safe terms for this chain and program (node.roles.safety, docs/operator.md)
    margin: float = 3.0  # on the clock, execute-within and window bounds
    bond_margin: float = 2.0  # on the bond's gas cost
    macs_per_second: float = 1e8  # execution estimate (a slow CPU)
    block_time: float | None = None  # seconds; None: measured from recent blocks
    gas_price: int | None = None  # wei; None: the node's gas price


class Provider(RoleDaemon[JobRecord]):
    KIND = RoleKind("provider", Side.PROVIDER, ProviderPolicy, JobRecord, "provider-jobs")

    _conditions: tuple[float, safety.ChainConditions] | None = None  # (when measured, what)

    @property
    def policy(self) -> ProviderPolicy:
        return self.base_policy  # type: ignore[return-value]

    # ---- staking (operator commands) ----

    def stake(self, amount: int) -> None:
        self.ctx.send(self.ctx.deployment.stake.deposit(amount))

    def unstake(self, amount: int) -> None:
        self.ctx.send(self.ctx.deployment.stake.request_unbond(amount))

    def withdraw_all(self) -> dict[str, int]:
        """Credits from the market, and unbonded stake whose delay has passed."""
        d = self.ctx.deployment
        done = {"credits": self.withdraw(), "stake": 0}
        unbonding = d.stake.unbonding(self.ctx.address)
        if unbonding.amount and d.now() >= unbonding.unlock_at:
            self.ctx.send(d.stake.withdraw())
            done["stake"] = unbonding.amount
        return done

    def status(self) -> dict[str, Any]:
        d, me = self.ctx.deployment, self.ctx.address
        unbonding = d.stake.unbonding(me)
        return {
            "address": me,
            "free_stake": d.stake.free_stake(me),
            "unbonding": unbonding.amount,
            "unlock_at": unbonding.unlock_at,
            "credits": d.market.credits(me),
            "jobs": {j: r.status() for j, r in self.records().items()},
        }

    # ---- the records ----

    def on_event(self, event: ChainEvent) -> None:
        if event.name == "JobPosted" and self.record(int(event.args["jobId"])) is None:
            job_id = int(event.args["jobId"])
            self.save(JobRecord(job_id, Stage.NEW, locator=str(event.args["specLocator"])))

    def advance(self, rec: JobRecord) -> None:
        market = self.ctx.deployment.market
        job = market.job(rec.job_id)
        if rec.stage == Stage.NEW:
            rec = self._consider(job, rec)
        if rec.stage == Stage.CLAIMED:
            assert rec.claim_id is not None
            claim = market.claim(rec.claim_id)
            if claim.state == ClaimState.ACTIVE:
                rec = self._submit(job, rec)
            elif claim.state == ClaimState.EXPIRED:
                rec = self.finish(rec, Stage.LOST, "execution deadline missed")
            else:  # submitted by a run that stopped before recording it
                rec = self.save(dataclasses.replace(rec, stage=Stage.SUBMITTED))
        if rec.stage == Stage.SUBMITTED:
            self._defend(job, rec)
        if rec.stage == Stage.ABANDONED:
            self._release(job, rec)

    # ---- failures (node.roles.daemon: back-off, then these) ----

    def give_up_at(self, rec: JobRecord) -> int | None:
        """NEW: the claim deadline; CLAIMED or ABANDONED: just after the execution deadline
        (when `expire` becomes possible); SUBMITTED: none (the claim is defended to its end)."""
        market = self.ctx.deployment.market
        if rec.stage == Stage.NEW:
            return market.job(rec.job_id).params.claim_by
        if rec.stage in (Stage.CLAIMED, Stage.ABANDONED) and rec.claim_id is not None:
            return _execute_deadline(market.job(rec.job_id), market.claim(rec.claim_id)) + 1
        return None

    def give_up(self, rec: JobRecord, cause: str) -> JobRecord | None:
        """NEW: refused. CLAIMED: abandoned, its claim expired once the deadline allows it.
        SUBMITTED: never (finalizing and answering games need only the chain and the trace,
        and giving up would forfeit the lock)."""
        why = f"gave up after {rec.failures} failed attempts: {cause}"
        if rec.stage == Stage.NEW:
            return self.finish(rec, Stage.REFUSED, why)
        if rec.stage == Stage.CLAIMED:
            self._work.pop(rec.job_id, None)
            return self.save(dataclasses.replace(rec, stage=Stage.ABANDONED, reason=why))
        return None

    def _release(self, job: Job, rec: JobRecord) -> None:
        """An abandoned claim: once its execution deadline has passed, `expire` it ourselves
        (the protocol slashes its missed-deadline share of the lock, the rest is freed)."""
        assert rec.claim_id is not None
        claim = self.ctx.deployment.market.claim(rec.claim_id)
        if claim.state == ClaimState.ACTIVE:
            self._expire_own(job, rec, rec.reason or "abandoned")
        elif claim.state == ClaimState.EXPIRED:
            self.finish(rec, Stage.LOST, rec.reason or "execution deadline missed")
        else:  # submitted by a run that stopped before recording it: defend it
            self.save(dataclasses.replace(rec, stage=Stage.SUBMITTED, reason=None))

    def _expire_own(self, job: Job, rec: JobRecord, why: str) -> JobRecord:
        """Our claim is active: after its execution deadline, expire it (so that only the
        missed-deadline share of the lock is lost and the job reopens) and lose the job."""
        d = self.ctx.deployment
        assert rec.claim_id is not None
        if d.now() <= _execute_deadline(job, d.market.claim(rec.claim_id)):
            return rec  # not yet: `expire` would revert
        self.ctx.send(d.market.expire(job.job_id, rec.claim_id))
        log.info("job %d: expired our own claim %d (%s)", job.job_id, rec.claim_id, why)
        return self.finish(rec, Stage.LOST, f"{why}; claim expired at the execution deadline")

    def _consider(self, job: Job, rec: JobRecord) -> JobRecord:
        pol, d, me = self.policy, self.ctx.deployment, self.ctx.address
        if job.state in (JobState.FINALIZED, JobState.CANCELLED):
            return self.finish(rec, Stage.REFUSED, f"job is {job.state.name.lower()}")
        if job.state == JobState.CLAIMED and d.market.claim(job.current_claim).provider == me:
            # our claim was mined but the run that sent it stopped before recording it
            return self.save(
                dataclasses.replace(rec, stage=Stage.CLAIMED, claim_id=job.current_claim)
            )
        if job.state == JobState.CLAIMED:
            self._expire_stale(job)
            job = d.market.job(job.job_id)
        if job.state != JobState.OPEN:
            return rec  # claimed by someone else; it may reopen if their claim is rejected
        now = d.now()
        reasons = []
        if job.reward < pol.min_reward:
            reasons.append(f"reward {job.reward} < minimum {pol.min_reward}")
        if job.params.n_ops > pol.max_ops:
            reasons.append(f"{job.params.n_ops} ops > limit {pol.max_ops}")
        if pol.max_stake is not None and job.params.required_stake > pol.max_stake:
            reasons.append(f"required stake {job.params.required_stake} > {pol.max_stake}")
        if now >= job.params.claim_by:
            reasons.append("claim deadline passed")
        if reasons:
            return self.finish(rec, Stage.REFUSED, "; ".join(reasons))
        try:
            work = self.work(job, rec.locator)
        except PocError as exc:
            if isinstance(exc, StorageError) and not _is_permanent(exc):
                raise
            return self.finish(rec, Stage.REFUSED, str(exc))
        size = work.package.data.nbytes + sum(
            a.nbytes for a in work.package.spec.constants.values()
        )
        if size > pol.max_input_bytes:
            return self.finish(rec, Stage.REFUSED, f"{size} bytes > limit {pol.max_input_bytes}")
        unsafe = safety.unsafe_terms(
            clock=job.params.clock,
            execute_within=job.params.execute_within,
            challenge_window=job.params.challenge_window,
            challenger_bond=job.params.challenger_bond,
            cost=safety.JobCost.of(work.package.spec.program),
            chain=self._chain_conditions(),
            margins=safety.Margins(pol.margin, pol.bond_margin, pol.macs_per_second),
        )
        if unsafe:
            log.warning("job %d: unsafe terms: %s", job.job_id, "; ".join(unsafe))
            return self.finish(rec, Stage.REFUSED, "unsafe terms: " + "; ".join(unsafe))
        free = d.stake.free_stake(me)
        if free < job.params.required_stake:
            note = str(
                InsufficientStake(
                    f"free stake {free} < required {job.params.required_stake}; `poc provider stake`"
                )
            )
            if note != rec.note:  # once per change, not on every tick of the wait
                log.warning("job %d: %s", job.job_id, note)
            return self.save(dataclasses.replace(rec, note=note))
        self.ctx.send(d.market.claim_job(job.job_id))
        claim_id = d.market.job(job.job_id).current_claim
        if d.market.claim(claim_id).provider != me:
            return rec  # someone was faster; the tx reverted on dry run or we read their claim
        log.info("job %d: claimed (claim %d)", job.job_id, claim_id)
        return self.save(
            dataclasses.replace(rec, stage=Stage.CLAIMED, claim_id=claim_id, note=None)
        )

    def _chain_conditions(self) -> safety.ChainConditions:
        """Block time and gas price for the safety rule: the policy's, else measured (about 20
        block reads), remeasured at most every CHAIN_CONDITIONS_TTL seconds rather than for
        every job considered on every tick."""
        pol, now = self.policy, time.monotonic()
        cached = self._conditions
        if cached is None or now - cached[0] > CHAIN_CONDITIONS_TTL:
            cached = (now, safety.chain_conditions(self.ctx.w3, pol.block_time, pol.gas_price))
            self._conditions = cached
        return cached[1]

    def _expire_stale(self, job: Job) -> None:
        """Another provider claimed the job and let its execution deadline pass: `expire`
        (open to anyone) reopens it, so that we may claim it."""
        d = self.ctx.deployment
        other = d.market.claim(job.current_claim)
        if other.state == ClaimState.ACTIVE and d.now() > _execute_deadline(job, other):
            self.ctx.send(d.market.expire(job.job_id, other.claim_id))
            log.info("job %d: expired claim %d of %s", job.job_id, other.claim_id, other.provider)

    def _submit(self, job: Job, rec: JobRecord) -> JobRecord:
        d = self.ctx.deployment
        assert rec.claim_id is not None
        if d.now() > _execute_deadline(job, d.market.claim(rec.claim_id)):
            return self._expire_own(job, rec, "execution deadline passed")
        result = self.work(job, rec.locator).claim()
        locator = self.ctx.store.put(result.output)
        self.ctx.send(
            d.market.submit_result(
                job.job_id,
                rec.claim_id,
                result.s_n,
                result.output_root,
                result.output_proof,
                locator,
            )
        )
        log.info(
            "job %d: result submitted (S_N 0x%s…, output %s)",
            job.job_id,
            result.s_n.hex()[:12],
            locator,
        )
        return self.save(
            dataclasses.replace(
                rec, stage=Stage.SUBMITTED, s_n="0x" + result.s_n.hex(), output=locator
            )
        )

    def _defend(self, job: Job, rec: JobRecord) -> None:
        d = self.ctx.deployment
        assert rec.claim_id is not None
        claim = d.market.claim(rec.claim_id)
        if claim.state == ClaimState.ACCEPTED:
            self.finish(rec, Stage.DONE, "finalized")
            return
        if claim.state == ClaimState.REJECTED:
            self.finish(rec, Stage.LOST, "claim rejected by a challenge")
            return
        active = 0
        for game_id in d.market.games_of_claim(claim.claim_id):
            status = self.answer(game_id, self.work(job, rec.locator).trace, job.job_id)
            active += status == GameStatus.ACTIVE
        if active == 0 and d.now() >= claim.submitted_at + job.params.challenge_window:
            # dry run first: a game opened or resolved since we read is caught there
            self.ctx.send(d.market.finalize(job.job_id, claim.claim_id))
            self.finish(rec, Stage.DONE, "finalized")


def _execute_deadline(job: Job, claim: Claim) -> int:
    """The last second the claim may submit (JobLifecycle.executeDeadline); `expire` after it."""
    return claim.claimed_at + job.params.execute_within


def _is_permanent(exc: PocError) -> bool:
    return isinstance(exc, (ContentUnavailable, InvalidCid, ContentMismatch))
