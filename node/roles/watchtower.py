"""The watchtower daemon (a `RoleDaemon`): follows ResultSubmitted, re-executes (every result,
or a sample), challenges results it has recomputed and found wrong while the window is open,
plays each of its games to the end (calling timeout when the provider stalls) and withdraws its
bonds and bounties. For each claim it checks, it also fetches the output behind the claim's
locator and records whether it hashes to the claimed output root (issue 11, P6: a correct root
over a missing or corrupted blob is paid, and only the poster's demand can bring the output on
chain); that check never stands in the way of the result's check or of a challenge.

It never challenges a result it has not recomputed: a job whose package cannot be fetched or
does not match its on-chain roots is skipped, not challenged. Like the provider it is an
idempotent `tick()` over chain state, with its scan checkpoint, decisions (one record per
claim) and sent transactions in SQLite so that a restart resumes mid-game."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from node.chain.contracts.job_market import Claim, ClaimState, Job
from node.chain.scanner import ChainEvent
from node.errors import PocError
from node.game.rules import GameStatus, Side
from node.roles import outputs
from node.roles.daemon import DaemonPolicy, RoleDaemon, RoleKind, describe_error, is_transient
from node.roles.records import ClaimRecord, SeatWatchRecord, WatchStage
from node.roles.replica_watch import ReplicaWatch
from node.roles.work import JobWork

log = logging.getLogger(__name__)

Stage = WatchStage


@dataclass(frozen=True)
class WatchPolicy(DaemonPolicy):
    sample_probability: float = 1.0  # share of results re-executed
    min_value: int = 0  # re-execute only jobs whose reward + stake at risk is at least this
    # watch the agreement windows of replicated jobs too, when the deployment has a replica
    # market (protocol.md §6.8, node.roles.replica_watch)
    replicas: bool = True
    # the clock rule for a replicated job's watch game (node.roles.safety.unsafe_watch)
    margin: float = 3.0
    block_time: float | None = None  # seconds; None: measured from recent blocks


class Watchtower(RoleDaemon[ClaimRecord]):
    KIND = RoleKind("watchtower", Side.CHALLENGER, WatchPolicy, ClaimRecord, "watch-results")

    _replicas: ReplicaWatch | None = None

    @property
    def policy(self) -> WatchPolicy:
        return self.base_policy  # type: ignore[return-value]

    def tick(self) -> None:
        super().tick()
        if self.ctx.deployment.replicas is None or not self.policy.replicas:
            return
        if self._replicas is None:
            self._replicas = ReplicaWatch(self)
        try:
            self._replicas.tick()
        except PocError as exc:  # the optimistic path's claims must not wait on it
            log.warning("replica watch: %s", describe_error(exc))

    def status(self) -> dict[str, Any]:
        return {
            "address": self.ctx.address,
            "credits": self.ctx.deployment.market.credits(self.ctx.address),
            "claims": {c: r.status() for c, r in self.records().items()},
            "replica_seats": {
                s: r.status() for s, r in SeatWatchRecord.all(self.ctx.state).items()
            },
        }

    def on_event(self, event: ChainEvent) -> None:
        if event.name != "ResultSubmitted":
            return
        claim_id = int(event.args["claimId"])
        fresh = ClaimRecord(
            claim_id,
            Stage.NEW,
            job_id=int(event.args["jobId"]),
            s_n="0x" + bytes(event.args["sN"]).hex(),
            window_end=int(event.args["windowEnd"]),
        )
        known = self.record(claim_id)
        if known is None:
            self.save(fresh)
        elif (known.s_n, known.window_end) != (fresh.s_n, fresh.window_end):
            # a reorg undid the result we saw and the claim was submitted again: what we
            # decided about the old result does not hold for this one (a game of ours, if
            # any, is re-read by _play)
            if known.stage != Stage.PLAYING:
                log.warning("claim %d: submitted again after a reorg: checking anew", claim_id)
                self.save(fresh)

    def advance(self, rec: ClaimRecord) -> None:
        job = self.ctx.deployment.market.job(rec.job_id)
        if rec.stage == Stage.NEW:
            rec = self._check(job, rec)
        if rec.stage == Stage.WRONG:
            rec = self._challenge(job, rec)
        if rec.stage == Stage.PLAYING:
            self._play(job, rec)

    # ---- failures (node.roles.daemon: back-off, then these) ----

    def give_up_at(self, rec: ClaimRecord) -> int | None:
        """Checking and challenging end with the challenge window; a game runs to its end."""
        return rec.window_end if rec.stage in (Stage.NEW, Stage.WRONG) else None

    def give_up(self, rec: ClaimRecord, cause: str) -> ClaimRecord | None:
        """NEW or WRONG: skipped, never challenged (we challenge only what we recomputed and
        could act on). PLAYING: never (the game is ours to play or time out)."""
        if rec.stage in (Stage.NEW, Stage.WRONG):
            return self.finish(
                rec, Stage.SKIPPED, f"gave up after {rec.failures} failed attempts: {cause}"
            )
        return None

    def reopen(self, rec: ClaimRecord) -> ClaimRecord | None:
        """A decided claim that the chain shows submitted and unchallenged by us again (a
        reorg undid its games, or the result we checked): checked again (the work is cached)."""
        if rec.stage == Stage.SKIPPED and rec.reason == "not sampled":
            return None
        claim = self.ctx.deployment.market.claim(rec.claim_id)
        if claim.state != ClaimState.SUBMITTED or self._my_games(rec.claim_id):
            return None
        if rec.stage == Stage.CORRECT:
            return None  # the same S_N checked once is correct on any chain
        return self.save(
            dataclasses.replace(rec, stage=Stage.NEW, reason=None, games=None, my_s_n=None)
        )

    def sampled(self, draw: str, value: int) -> bool:
        """Whether to check what `draw` names (a claim id; a replicated job's window), worth
        `value` (reward + stake at risk)."""
        if value < self.policy.min_value:
            return False
        # Deterministic per (watchtower, claim): a restart makes the same choice, and a
        # provider cannot tell in advance which claims this watchtower will check.
        digest = hashlib.sha256(f"{self.ctx.address}:{draw}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.policy.sample_probability

    def _check(self, job: Job, rec: ClaimRecord) -> ClaimRecord:
        d = self.ctx.deployment
        claim = d.market.claim(rec.claim_id)
        if claim.state in (ClaimState.NONE, ClaimState.ACTIVE) and d.now() < rec.window_end:
            # the result we saw was undone by a reorg: wait for it to be submitted again
            return rec
        if claim.state != ClaimState.SUBMITTED:
            return self.finish(rec, Stage.SKIPPED, f"claim is {claim.state.name.lower()}")
        if d.now() >= rec.window_end:
            return self.finish(rec, Stage.SKIPPED, "challenge window closed before checking")
        if not self.sampled(str(rec.claim_id), job.reward + job.params.required_stake):
            return self.finish(rec, Stage.SKIPPED, "not sampled")
        try:
            work = self._work_for(job)
        except PocError as exc:
            if is_transient(exc):
                # a store or RPC fault: retried with back-off until the window closes, or a
                # flaky gateway would let every lie through
                raise
            # Never challenge what we could not recompute.
            return self.finish(rec, Stage.SKIPPED, f"cannot recompute: {exc}")
        mine = work.claim().s_n
        if mine == claim.s_n:
            rec = self._check_output(job, rec, claim, work)
            return self.finish(rec, Stage.CORRECT, "recomputed: S_N matches")
        # full roots: two roots that differ may share any prefix
        log.warning(
            "claim %d (job %d): S_N 0x%s differs from ours 0x%s",
            rec.claim_id,
            job.job_id,
            claim.s_n.hex(),
            mine.hex(),
        )
        return self.save(dataclasses.replace(rec, stage=Stage.WRONG, my_s_n="0x" + mine.hex()))

    def _check_output(self, job: Job, rec: ClaimRecord, claim: Claim, work: JobWork) -> ClaimRecord:
        """Whether the blob behind the claim's output locator hashes to its output root, kept
        in the record (available / missing / mismatch), once per claim: after the result is
        found correct, or after a wrong one is challenged (a download must not delay a
        challenge). A mismatch or a missing blob is logged once, with its cause. Whatever goes
        wrong here is logged and recorded as not checked: it never stops the record."""
        if rec.output is not None or rec.output_cause is not None:
            return rec  # checked already
        try:
            spec = work.package.spec.program
            found = outputs.from_store(
                self.ctx.store,
                self.ctx.deployment.market.output_locator(rec.claim_id),
                spec.spec(spec.output_slot),
                claim.output_root,
                self.policy.fetch_timeout,
            )
        except Exception as exc:
            cause = f"not checked: {describe_error(exc)}"
            log.error("claim %d (job %d): output %s", rec.claim_id, job.job_id, cause)
            return self.save(dataclasses.replace(rec, output_cause=cause))
        if not found.ok:
            log.warning(
                "claim %d (job %d): output %s: %s (only the poster can demand it on chain)",
                rec.claim_id,
                job.job_id,
                found.state.value,
                found.cause,
            )
        return self.save(
            dataclasses.replace(rec, output=found.state.value, output_cause=found.cause)
        )

    def _work_for(self, job: Job) -> JobWork:
        return self.work(job, self.ctx.deployment.market.spec_locator(job.job_id))

    def _my_games(self, claim_id: int) -> list[int]:
        market, me = self.ctx.deployment.market, self.ctx.address.lower()
        return [g for g in market.games_of_claim(claim_id) if market.challenger_of(g).lower() == me]

    def _challenge(self, job: Job, rec: ClaimRecord) -> ClaimRecord:
        d = self.ctx.deployment
        if not self._my_games(rec.claim_id):
            claim = d.market.claim(rec.claim_id)
            if claim.state in (ClaimState.NONE, ClaimState.ACTIVE) and d.now() < rec.window_end:
                return rec  # the result was undone by a reorg: wait for it again
            if claim.state != ClaimState.SUBMITTED:
                return self.finish(rec, Stage.DONE, f"claim already {claim.state.name.lower()}")
            if d.now() >= rec.window_end:
                return self.finish(rec, Stage.SKIPPED, "window closed before challenging")
            bond = job.params.challenger_bond
            self.ctx.pay(d.market.address, bond)
            self.ctx.send(d.market.challenge(job.job_id, rec.claim_id, bond))
        games = tuple(self._my_games(rec.claim_id))
        if not games:  # mined, then undone by a reorg before we read it: challenge again
            log.warning("claim %d: our challenge is gone (reorg)", rec.claim_id)
            return rec
        log.info("claim %d: challenged (games %s)", rec.claim_id, list(games))
        return self.save(dataclasses.replace(rec, stage=Stage.PLAYING, games=games))

    def _play(self, job: Job, rec: ClaimRecord) -> None:
        d = self.ctx.deployment
        on_chain = self._my_games(rec.claim_id)
        if set(rec.games or ()) - set(on_chain):
            # a reorg undid our challenge (or one of its games): challenge again
            log.warning("claim %d: our games %s are gone (reorg)", rec.claim_id, rec.games)
            self.save(dataclasses.replace(rec, stage=Stage.WRONG, games=None))
            return
        rec = self._check_output(job, rec, d.market.claim(rec.claim_id), self._work_for(job))
        results = {}
        for game_id in rec.games or ():
            status = self.answer(game_id, self._work_for(job).trace, job.job_id)
            if status == GameStatus.ACTIVE:
                status = d.game_view(game_id).status
            results[game_id] = status
        if all(s != GameStatus.ACTIVE for s in results.values()):
            won = [g for g, s in results.items() if s == GameStatus.CHALLENGER_WON]
            self.finish(rec, Stage.DONE, f"won games {won}" if won else "lost every game")
