"""The provider daemon (a `RoleDaemon`): an idempotent `tick()` that re-reads chain state.

Per job, in order: apply the policy (reward, size, deadlines), download the package and refuse
it unless it matches the on-chain program root and S_0, claim (locking stake), execute (GPU
when present, CPU otherwise), store the output, submit the claim, defend every game, publish
the output on chain if the poster demands it (and only then: it costs gas), finalize once the
window has closed, and withdraw earned credits. A job that reopened after a claim ended is
cooling down until its `reopensAt`: it is claimed after, not refused. Jobs are discovered by
an event scanner whose checkpoint, like every decision and every sent transaction, lives in
SQLite: a restart at any moment resumes where the last run stopped."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from node.chain.contracts.errors import ContractError
from node.chain.contracts.job_market import Claim, ClaimState, Job, JobState, RejectCause
from node.chain.errors import TransactionReverted
from node.chain.scanner import ChainEvent
from node.errors import PocError
from node.game.rules import GameStatus, Side
from node.roles import outputs, safety
from node.roles.daemon import DaemonPolicy, RoleDaemon, RoleKind
from node.roles.errors import InsufficientStake
from node.roles.records import JobRecord, ProviderStage
from node.roles.replica import ReplicaRole
from node.roles.work import JobWork
from node.storage.errors import ContentMismatch, ContentUnavailable, InvalidCid, StorageError

log = logging.getLogger(__name__)

Stage = ProviderStage
CHAIN_CONDITIONS_TTL = 300.0  # seconds a measured block time and gas price stay in use
OUTPUT_FILE = "output.bin"  # our packed output, kept in the job's folder for a demand


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
    max_output_bytes: int = safety.MAX_OUTPUT_BYTES  # larger outputs cannot be published
    # ETH per whole token of a token market (docs/operator.md): needed to weigh the bond and the
    # reward against gas; without it a token market's jobs are skipped, not judged
    asset_price_eth: float | None = None
    # take seats of replicated jobs too, when the deployment has a replica market (§6.8)
    replicas: bool = True
    # execute first, then claim and submit in one transaction (claimAndSubmit, protocol.md §6.2):
    # cheaper by a transaction, but the job is not locked while it runs (another provider may
    # take it: the work is lost) and the result is public in the mempool before the claim is
    # mined (a copier may front-run it). Off: claim first, execute under the lock.
    claim_and_submit: bool = False


class Provider(RoleDaemon[JobRecord]):
    KIND = RoleKind("provider", Side.PROVIDER, ProviderPolicy, JobRecord, "provider-jobs")

    _conditions: tuple[float, safety.ChainConditions] | None = None  # (when measured, what)

    @property
    def policy(self) -> ProviderPolicy:
        return self.base_policy  # type: ignore[return-value]

    # ---- the replica role (protocol.md §6.8) ----

    _replica: ReplicaRole | None = None
    REPLICA_ROLE: type[ReplicaRole] = ReplicaRole  # the role's class (a seam for the tests)

    def tick(self) -> None:
        super().tick()
        if self.ctx.deployment.replicas is None or not self.policy.replicas:
            return
        if self._replica is None:
            self._replica = self.REPLICA_ROLE(self)
        try:
            self._replica.tick()
        except PocError as exc:  # the optimistic jobs must not wait on a replicated one
            log.warning("replica role: %s", exc)
        market = self.ctx.deployment.replicas
        if market.credits(self.ctx.address) > 0:
            self.ctx.send(market.withdraw())

    # ---- staking (operator commands) ----

    def stake(self, amount: int) -> None:
        stake = self.ctx.deployment.stake
        self.ctx.pay(stake.address, amount)
        self.ctx.send(stake.deposit(amount))

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
        if rec.stage in (Stage.CLAIMED, Stage.SUBMITTED):
            rec = self._reread_claim(rec, market.claim(rec.claim_id or 0))
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

    # ---- reorgs (issue 13): what the chain no longer shows is done again ----

    def _reread_claim(self, rec: JobRecord, claim: Claim) -> JobRecord:
        """A reorg may have undone our claim (the job is open again: claim it anew) or our
        submission (the claim is active again: submit anew)."""
        if claim.state == ClaimState.NONE or claim.provider.lower() != self.ctx.address.lower():
            log.warning(
                "job %d: our claim %s is gone (reorg): claiming again", rec.key, rec.claim_id
            )
            return self.save(
                dataclasses.replace(rec, stage=Stage.NEW, claim_id=None, s_n=None, output=None)
            )
        if rec.stage == Stage.SUBMITTED and claim.state == ClaimState.ACTIVE:
            log.warning("job %d: our result is gone (reorg): submitting again", rec.key)
            return self.save(dataclasses.replace(rec, stage=Stage.CLAIMED))
        return rec

    def reopen(self, rec: JobRecord) -> JobRecord | None:
        """A finalized or lost job whose claim the chain shows active or submitted again."""
        if rec.stage not in (Stage.DONE, Stage.LOST) or rec.claim_id is None:
            return None
        claim = self.ctx.deployment.market.claim(rec.claim_id)
        if claim.provider.lower() != self.ctx.address.lower():
            return None
        if claim.state == ClaimState.SUBMITTED:
            stage = Stage.SUBMITTED
        elif claim.state == ClaimState.ACTIVE:
            stage = Stage.CLAIMED
        else:
            return None
        return self.save(dataclasses.replace(rec, stage=stage, reason=None))

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
        asset = d.asset
        wei_per_unit = safety.asset_wei_per_unit(
            asset.decimals, pol.asset_price_eth, asset.is_ether
        )
        if wei_per_unit is None:
            note = (
                f"market pays in {asset.symbol} ({asset.address}) and no asset price is set: "
                "cannot weigh the bond against gas, job skipped (set --asset-price-eth)"
            )
            if note != rec.note:
                log.warning("job %d: %s", job.job_id, note)
            return self.save(dataclasses.replace(rec, note=note))
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
            chain=self.chain_conditions(),
            margins=safety.Margins(
                pol.margin, pol.bond_margin, pol.macs_per_second, pol.max_output_bytes
            ),
            reward=job.reward,
            wei_per_unit=wei_per_unit,
        )
        if unsafe:
            log.warning("job %d: unsafe terms: %s", job.job_id, "; ".join(unsafe))
            return self.finish(rec, Stage.REFUSED, "unsafe terms: " + "; ".join(unsafe))
        if job.reopens_at > d.now():
            return self._cooling(job.job_id, job.reopens_at, rec)
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
        if pol.claim_and_submit:
            return self._claim_and_submit(job, rec, work)
        try:
            self.ctx.send(d.market.claim_job(job.job_id))
        except TransactionReverted as exc:
            if exc.error_name != ContractError.JOB_COOLING_DOWN:
                raise
            # it reopened since we read it
            return self._cooling(job.job_id, int(exc.error_args.get("reopensAt", 0)), rec)
        claim_id = d.market.job(job.job_id).current_claim
        if d.market.claim(claim_id).provider != me:
            return rec  # someone was faster; the tx reverted on dry run or we read their claim
        log.info("job %d: claimed (claim %d)", job.job_id, claim_id)
        return self.save(
            dataclasses.replace(rec, stage=Stage.CLAIMED, claim_id=claim_id, note=None)
        )

    def _claim_and_submit(self, job: Job, rec: JobRecord, work: JobWork) -> JobRecord:
        """The fused path (policy `claim_and_submit`): execute while the job is still Open, then
        claim and submit in one transaction. Another provider's claim mined first makes ours
        revert (WrongJobState) on its dry run: the job is left to them, as after a lost claim."""
        d, me = self.ctx.deployment, self.ctx.address
        if not work.ready():  # executing: the record stays NEW until the result is in hand
            return rec
        result = work.claim()
        self._keep_output(job.job_id, result.output)
        locator = self.store_output(job.job_id, result.output)
        try:
            self.ctx.send(
                d.market.claim_and_submit(
                    job.job_id, result.s_n, result.output_root, result.output_proof, locator
                )
            )
        except TransactionReverted as exc:
            if exc.error_name == ContractError.JOB_COOLING_DOWN:
                return self._cooling(job.job_id, int(exc.error_args.get("reopensAt", 0)), rec)
            if exc.error_name == ContractError.WRONG_JOB_STATE:
                return rec  # claimed by someone else since we read it
            raise
        claim_id = d.market.job(job.job_id).current_claim
        if d.market.claim(claim_id).provider != me:
            return rec
        log.info(
            "job %d: claimed and submitted (claim %d, S_N 0x%s…, output %s)",
            job.job_id,
            claim_id,
            result.s_n.hex()[:12],
            locator,
        )
        return self.save(
            dataclasses.replace(
                rec,
                stage=Stage.SUBMITTED,
                claim_id=claim_id,
                s_n="0x" + result.s_n.hex(),
                output=locator,
                note=None,
            )
        )

    def _cooling(self, job_id: int, reopens_at: int, rec: JobRecord) -> JobRecord:
        """The job reopened after a claim ended and cannot be claimed before `reopensAt`
        (JobCoolingDown): not yet, not a failure. Said once, then skipped until then."""
        note = f"cooling down until chain time {reopens_at} (reopened after a claim ended)"
        if note == rec.note:
            return rec
        log.info("job %d: %s", job_id, note)
        return self.save(dataclasses.replace(rec, note=note))

    def chain_conditions(self) -> safety.ChainConditions:
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
        work = self.work(job, rec.locator)
        if not work.ready():  # executing on the fleet: the other jobs go on meanwhile
            return rec
        result = work.claim()
        self._keep_output(job.job_id, result.output)
        locator = self.store_output(job.job_id, result.output)
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
            # Every game settles on its own (protocol.md §6.5 R3): the games still open are
            # defended to their end, or their backing is lost by timeout.
            if self._defend_games(job, rec, claim) == 0:
                self.finish(rec, Stage.LOST, self._rejection(claim.claim_id))
            return
        # A demand has its own clock: answered first, but a failure to publish must not keep
        # the games from being answered in this tick (it is raised after them, and retried).
        publish_error: Exception | None = None
        try:
            if self._answer_demand(job, rec, claim):
                claim = d.market.claim(rec.claim_id)
        except Exception as exc:
            publish_error = exc
        active = self._defend_games(job, rec, claim)
        if publish_error is not None:
            raise publish_error
        demand_pending = claim.output_due != 0 and not claim.output_published
        window_over = d.now() >= claim.submitted_at + job.params.challenge_window
        if active == 0 and window_over and not demand_pending:
            # dry run first: a game opened or resolved since we read is caught there; the reward
            # is paid out in the same transaction (the tick would withdraw it next anyway)
            self.ctx.send(d.market.finalize_and_withdraw(job.job_id, claim.claim_id))
            self.finish(rec, Stage.DONE, "finalized")

    def _defend_games(self, job: Job, rec: JobRecord, claim: Claim) -> int:
        """Our moves in every game of the claim; returns how many are still active."""
        active = 0
        for game_id in self.ctx.deployment.market.games_of_claim(claim.claim_id):
            status = self.answer(game_id, self.work(job, rec.locator).trace, job.job_id)
            active += status == GameStatus.ACTIVE
        return active

    def _rejection(self, claim_id: int) -> str:
        rejected = self.ctx.deployment.market.claim_rejected(claim_id)
        if rejected is not None and rejected.cause == RejectCause.OUTPUT_WITHHELD:
            return "claim rejected: the output the poster demanded was not published in time"
        return "claim rejected by a challenge"

    # ---- output availability (issue 11, P6) ----

    def _answer_demand(self, job: Job, rec: JobRecord, claim: Claim) -> bool:
        """The poster demanded our output: publish it on chain now, well before it is due
        (after that anyone may reject the claim and our lock is burned). Never unasked: it
        costs gas. The demand is recorded before sending, the publication after; a restart in
        between finds the intent in the sender's state, or the publication on chain. Returns
        whether it sent the publication."""
        if claim.output_published:
            if not rec.output_published:
                self.save(dataclasses.replace(rec, output_published=True))
            return False
        if claim.output_due == 0:
            return False  # not demanded
        if rec.output_due != claim.output_due:
            log.warning(
                "job %d: the poster demanded the output of claim %d, due at chain time %d: "
                "publishing it",
                job.job_id,
                claim.claim_id,
                claim.output_due,
            )
            rec = self.save(dataclasses.replace(rec, output_due=claim.output_due))
        data, leaf_size = self._own_output(job, rec, claim)
        self.publish_output(job.job_id, claim.claim_id, leaf_size, data)
        log.info(
            "job %d: output of claim %d published on chain (%d bytes)",
            job.job_id,
            claim.claim_id,
            len(data),
        )
        self.save(dataclasses.replace(rec, output_published=True))
        return True

    def _own_output(self, job: Job, rec: JobRecord, claim: Claim) -> tuple[bytes, int]:
        """Our packed output and its leaf size, checked against the claimed root: the copy
        kept in the job's folder, else the one in the content store, else computed again."""
        spec = self.work(job, rec.locator).package.spec
        out = spec.program.spec(spec.program.output_slot)
        causes = []
        kept = self.workdir(job.job_id) / OUTPUT_FILE
        if kept.exists():
            found = outputs.checked(kept.read_bytes(), out, claim.output_root, str(kept))
            if found.raw is not None:
                return found.raw, out.dtype.leaf_bytes
            causes.append(found.cause)
        found = outputs.from_store(
            self.ctx.store, rec.output, out, claim.output_root, self.policy.fetch_timeout
        )
        if found.raw is None:
            causes.append(found.cause)
            computed = self.work(job, rec.locator).claim().output
            found = outputs.checked(computed, out, claim.output_root, "the output computed again")
        if found.raw is None:
            causes.append(found.cause)
            raise outputs.OutputUnavailable(
                f"job {job.job_id}: no copy of our output matches claim {claim.claim_id}'s root: "
                + "; ".join(c for c in causes if c)
            )
        self._keep_output(job.job_id, found.raw)
        return found.raw, out.dtype.leaf_bytes

    def _keep_output(self, job_id: int, output: bytes) -> None:
        """A copy of our output beside the job's package: what a demand publishes."""
        folder = self.workdir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (OUTPUT_FILE + ".tmp")
        tmp.write_bytes(output)
        tmp.replace(folder / OUTPUT_FILE)

    def store_output(self, job_id: int, output: bytes) -> str:
        """Put the output in the content store (pinned); returns its locator."""
        return self.ctx.store.put(output)

    def publish_output(self, job_id: int, claim_id: int, leaf_size: int, data: bytes) -> None:
        """Send `publishOutput` (the contract checks the data against the claim's root)."""
        self.ctx.send(self.ctx.deployment.market.publish_output(job_id, claim_id, leaf_size, data))


def _execute_deadline(job: Job, claim: Claim) -> int:
    """The last second the claim may submit (JobLifecycle.executeDeadline); `expire` after it."""
    return claim.claimed_at + job.params.execute_within


def _is_permanent(exc: PocError) -> bool:
    return isinstance(exc, (ContentUnavailable, InvalidCid, ContentMismatch))
