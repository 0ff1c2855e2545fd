"""The provider daemon: an idempotent `tick()` that re-reads chain state every time.

Per job, in order: apply the policy (reward, size, deadlines), download the package and refuse
it unless it matches the on-chain program root and S_0, claim (locking stake), execute (GPU
when present, CPU otherwise), store the output, submit the claim, defend every game, finalize
once the window has closed, and withdraw earned credits. Jobs are discovered by an event
scanner whose checkpoint, like every decision and every sent transaction, lives in SQLite:
a restart at any moment resumes where the last run stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from node.chain.scanner import ChainEvent, EventScanner
from node.compute.config import ComputeConfig
from node.errors import PocError
from node.game.responder import MoveObserver, Responder
from node.game.view import GameStatus, Side
from node.roles.context import RoleContext
from node.roles.daemon import advance_live
from node.roles.errors import InsufficientStake
from node.roles.games import play
from node.roles.protocol import ClaimState, Job, JobState
from node.roles.work import JobWork, TraceFactory
from node.storage.errors import StorageError
from node.trace.provider import TraceProvider

log = logging.getLogger(__name__)

# local stages of a job (the jobs table's status column)
NEW, CLAIMED, SUBMITTED, DONE, REFUSED, LOST = 0, 1, 2, 3, 4, 5
STAGE_NAMES = {
    NEW: "new",
    CLAIMED: "claimed",
    SUBMITTED: "submitted",
    DONE: "done",
    REFUSED: "refused",
    LOST: "lost",
}
LIVE = (NEW, CLAIMED, SUBMITTED)  # stages still acted on; the others are final


@dataclass(frozen=True)
class ProviderPolicy:
    min_reward: int = 0  # wei
    max_ops: int = 4096
    max_input_bytes: int = 1 << 30  # the package's data and constants together
    max_stake: int | None = None  # never lock more than this per job
    device: str = "auto"  # auto | cpu | cuda
    fetch_timeout: float = 30.0


class Provider:
    def __init__(
        self,
        ctx: RoleContext,
        policy: ProviderPolicy | None = None,
        observers: list[MoveObserver] | None = None,
        trace_factory: TraceFactory | None = None,
    ) -> None:
        self.ctx = ctx
        self.policy = policy or ProviderPolicy()
        self.trace_factory = trace_factory
        self.compute = ComputeConfig(device=self.policy.device)
        self.responder = Responder(ctx.sender, ctx.protocol.game, ctx.state, observers)
        self.scanner = EventScanner(
            ctx.w3,
            {"market": ctx.protocol.market},
            ctx.state,
            name="provider-jobs",
            start_block=ctx.protocol.start_block,
            confirmations=ctx.confirmations,
        )
        self._work: dict[int, JobWork] = {}

    # ---- staking (operator commands) ----

    def stake(self, amount: int) -> None:
        self.ctx.send(self.ctx.protocol.stake.functions.deposit(), value=amount)

    def unstake(self, amount: int) -> None:
        self.ctx.send(self.ctx.protocol.stake.functions.requestUnbond(amount))

    def withdraw_all(self) -> dict[str, int]:
        """Credits from the market, and unbonded stake whose delay has passed."""
        p, me = self.ctx.protocol, self.ctx.address
        done = {"credits": p.credits(me), "stake": 0}
        if done["credits"]:
            self.ctx.send(p.market.functions.withdraw())
        amount, unlock_at = p.unbonding(me)
        if amount and p.now() >= unlock_at:
            self.ctx.send(p.stake.functions.withdraw())
            done["stake"] = amount
        return done

    def status(self) -> dict[str, Any]:
        p, me = self.ctx.protocol, self.ctx.address
        amount, unlock_at = p.unbonding(me)
        jobs = {
            j: {**d, "stage": STAGE_NAMES[d["stage"]]} for j, d in self.ctx.state.jobs().items()
        }
        return {
            "address": me,
            "free_stake": p.free_stake(me),
            "unbonding": amount,
            "unlock_at": unlock_at,
            "credits": p.credits(me),
            "jobs": jobs,
        }

    def describe(self) -> str:
        """One line for the daemon's start: who, where, what it resumes."""
        live = sum(len(self.ctx.state.jobs(st)) for st in LIVE)
        return (
            f"provider {self.ctx.address} on chain {self.ctx.w3.eth.chain_id}, state "
            f"{self.ctx.data_dir}, resuming {live} live job(s) from block "
            f"{self.scanner.next_block()}"
        )

    # ---- the loop ----

    def tick(self) -> None:
        self.scanner.scan(self._on_event)
        advance_live(self.ctx.state, LIVE, self._advance, "job")
        self._withdraw()

    def _on_event(self, event: ChainEvent) -> None:
        if event.name == "JobPosted" and self.ctx.state.job(int(event.args["jobId"])) is None:
            job_id = int(event.args["jobId"])
            self._save(job_id, {"stage": NEW, "locator": str(event.args["specLocator"])})

    def _save(self, job_id: int, rec: dict[str, Any]) -> None:
        self.ctx.state.upsert_job(job_id, int(rec["stage"]), rec)

    def _advance(self, job_id: int, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        job = p.job(job_id)
        if rec["stage"] == NEW:
            self._consider(job, rec)
        if rec["stage"] == CLAIMED:
            claim = p.claim(rec["claim_id"])
            if claim.state == ClaimState.ACTIVE:
                self._submit(job, rec)
            elif claim.state == ClaimState.EXPIRED:
                self._finish(job_id, rec, LOST, "execution deadline missed")
            else:  # submitted by a run that stopped before recording it
                rec["stage"] = SUBMITTED
                self._save(job_id, rec)
        if rec["stage"] == SUBMITTED:
            self._defend(job, rec)

    def _consider(self, job: Job, rec: dict[str, Any]) -> None:
        pol, p, me = self.policy, self.ctx.protocol, self.ctx.address
        if job.state in (JobState.FINALIZED, JobState.CANCELLED):
            return self._finish(job.job_id, rec, REFUSED, f"job is {job.state.name.lower()}")
        if job.state == JobState.CLAIMED and p.claim(job.current_claim).provider == me:
            # our claim was mined but the run that sent it stopped before recording it
            rec.update(stage=CLAIMED, claim_id=job.current_claim)
            return self._save(job.job_id, rec)
        if job.state == JobState.CLAIMED:
            self._expire_stale(job)
            job = p.job(job.job_id)
        if job.state != JobState.OPEN:
            return  # claimed by someone else; it may reopen if their claim is rejected
        now = p.now()
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
            return self._finish(job.job_id, rec, REFUSED, "; ".join(reasons))
        try:
            work = self._fetch(job, rec)
        except PocError as exc:
            if isinstance(exc, StorageError) and not _is_permanent(exc):
                raise
            return self._finish(job.job_id, rec, REFUSED, str(exc))
        size = work.package.data.nbytes + sum(
            a.nbytes for a in work.package.spec.constants.values()
        )
        if size > pol.max_input_bytes:
            return self._finish(
                job.job_id, rec, REFUSED, f"{size} bytes > limit {pol.max_input_bytes}"
            )
        free = p.free_stake(me)
        if free < job.params.required_stake:
            rec["note"] = str(
                InsufficientStake(
                    f"free stake {free} < required {job.params.required_stake}; `poc provider stake`"
                )
            )
            self._save(job.job_id, rec)
            log.warning("job %d: %s", job.job_id, rec["note"])
            return
        self.ctx.send(p.market.functions.claim(job.job_id), key=f"claim:{job.job_id}")
        claim_id = p.job(job.job_id).current_claim
        if p.claim(claim_id).provider != me:
            return  # someone was faster; the tx reverted on dry run or we read their claim
        rec.update(stage=CLAIMED, claim_id=claim_id)
        rec.pop("note", None)
        self._save(job.job_id, rec)
        log.info("job %d: claimed (claim %d)", job.job_id, claim_id)

    def _expire_stale(self, job: Job) -> None:
        """Another provider claimed the job and let its execution deadline pass: `expire`
        (open to anyone) reopens it, so that we may claim it."""
        p = self.ctx.protocol
        other = p.claim(job.current_claim)
        if (
            other.state == ClaimState.ACTIVE
            and p.now() > other.claimed_at + job.params.execute_within
        ):
            self.ctx.send(
                p.market.functions.expire(job.job_id), key=f"expire:{job.job_id}:{other.claim_id}"
            )
            log.info("job %d: expired claim %d of %s", job.job_id, other.claim_id, other.provider)

    def _fetch(self, job: Job, rec: dict[str, Any]) -> JobWork:
        work = self._work.get(job.job_id)
        if work is None:
            work = JobWork.fetch(
                self.ctx.store,
                rec["locator"],
                job.params,
                self.ctx.data_dir / "jobs" / str(job.job_id),
                self.compute,
                self.trace_factory,
                timeout=self.policy.fetch_timeout,
            )
            self._work[job.job_id] = work
        return work

    def _submit(self, job: Job, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        if p.now() > p.claim(rec["claim_id"]).claimed_at + job.params.execute_within:
            return self._finish(job.job_id, rec, LOST, "execution deadline passed")
        work = self._fetch(job, rec)
        result = work.claim()
        locator = self.ctx.store.put(result.output)
        self.ctx.send(
            p.market.functions.submitResult(
                job.job_id, result.s_n, result.output_root, list(result.output_proof), locator
            ),
            key=f"submit:{job.job_id}:{rec['claim_id']}",
        )
        rec.update(stage=SUBMITTED, s_n="0x" + result.s_n.hex(), output=locator)
        self._save(job.job_id, rec)
        log.info(
            "job %d: result submitted (S_N 0x%s…, output %s)",
            job.job_id,
            result.s_n.hex()[:12],
            locator,
        )

    def _defend(self, job: Job, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        claim = p.claim(rec["claim_id"])
        if claim.state == ClaimState.ACCEPTED:
            return self._finish(job.job_id, rec, DONE, "finalized")
        if claim.state == ClaimState.REJECTED:
            return self._finish(job.job_id, rec, LOST, "claim rejected by a challenge")
        active = 0
        for game_id in p.games_of_claim(claim.claim_id):
            status = self.answer(game_id, self._fetch(job, rec).trace)
            active += status == GameStatus.ACTIVE
        if active == 0 and p.now() >= claim.submitted_at + job.params.challenge_window:
            # dry run first: a game opened or resolved since we read is caught there
            self.ctx.send(
                p.market.functions.finalize(job.job_id),
                key=f"finalize:{job.job_id}:{claim.claim_id}",
            )
            self._finish(job.job_id, rec, DONE, "finalized")

    def answer(self, game_id: int, trace: TraceProvider) -> GameStatus:
        """Our move in one game (if it is ours); the game's status as read before it."""
        return play(
            self.ctx.protocol, self.responder, self.ctx.state, game_id, Side.PROVIDER, trace
        )

    def _finish(self, job_id: int, rec: dict[str, Any], stage: int, why: str) -> None:
        rec.update(stage=stage, reason=why)
        self._save(job_id, rec)
        self._work.pop(job_id, None)
        log.info("job %d: %s (%s)", job_id, STAGE_NAMES[stage], why)

    def _withdraw(self) -> None:
        if self.ctx.protocol.credits(self.ctx.address) > 0:
            self.ctx.send(self.ctx.protocol.market.functions.withdraw())


def _is_permanent(exc: PocError) -> bool:
    from node.storage.errors import ContentMismatch, ContentUnavailable, InvalidCid

    return isinstance(exc, (ContentUnavailable, InvalidCid, ContentMismatch))
