"""The watchtower's side of replicated jobs (docs/protocol.md §6.8), run by the Watchtower
daemon's tick when the deployment has a replica market.

When the replicas of a job agree (or its pair games leave some seats upheld), the job waits out
the poster's agreement window W before it is final, and during W anyone may challenge an upheld
seat exactly as a result on the optimistic path (`ReplicaMarket.challenge`, a watch game backed
by the seat's provider). Replicas that all lie alike agree with one another, so only a
watchtower can catch them.

An event scanner of its own (checkpoint `watch-replicas`) turns each `WindowStarted` into one
record per upheld seat (table `seat_watches`). Each record is checked like a claim: the same
sampling draw (per job and window, so that every seat of a job is checked or none), the package
checked against the on-chain roots, the program recomputed, and the clock rule of
node.roles.safety (`unsafe_watch`: a game whose clock an honest challenger could run out of is
not entered). A seat whose S_N differs from ours is challenged with the job's bond, and its game
played to the end on the replica market's DisputeGame. Every seat of a wrong agreed root is
challenged: each has its own lock, and a seat left unchallenged would be paid when W ends.

As in the daemons, a tick is idempotent over chain state: decisions live in the state database,
transactions' intents in the sender's, and a challenge sent by a run that stopped before
recording it is found in the market's `Challenged` logs, so a restart at any moment resumes."""

from __future__ import annotations

import dataclasses
import logging
import time
from enum import IntEnum
from typing import TYPE_CHECKING

from node.chain.contracts.replica_market import ReplicaJob, ReplicaJobState, SeatState
from node.chain.scanner import ChainEvent, EventScanner
from node.errors import PocError
from node.game.responder import Responder
from node.game.rules import GameStatus, Side
from node.game.solver import solve
from node.roles import safety
from node.roles.daemon import (
    BACKOFF_CAP,
    GAME_BACKOFF_CAP,
    MAX_ATTEMPTS,
    TRANSIENT_BACKOFF_CAP,
    backoff,
    describe_error,
    is_transient,
)
from node.roles.records import SeatWatchRecord, WatchStage
from node.roles.work import JobWork

if TYPE_CHECKING:
    from node.roles.watchtower import Watchtower

log = logging.getLogger(__name__)

Stage = WatchStage
SCANNER = "watch-replicas"


class ReplicaWatch:
    """The watchtower's seats of replicated jobs: scanned, checked, challenged, played."""

    def __init__(self, tower: Watchtower) -> None:
        self.t = tower
        ctx = tower.ctx
        d = ctx.deployment
        assert d.replicas is not None and d.replica_game is not None
        self.market = d.replicas
        self.game = d.replica_game
        # no move log in the state's `moves` table: its game ids are the JobMarket game's
        self.responder = Responder(ctx.send, self.game)
        self.scanner = EventScanner(
            ctx.w3,
            {"replicas": self.market.contract},
            ctx.state,
            name=SCANNER,
            start_block=d.start_block,
            confirmations=ctx.confirmations,
        )
        self._work: dict[int, JobWork] = {}  # by replicated job id
        self._retry_wall: dict[int, float] = {}  # by seat id: time.monotonic() of next attempt

    @property
    def me(self) -> str:
        return self.t.ctx.address

    # ---- the tick ----

    def tick(self) -> None:
        self.scanner.scan(self.on_event)
        for rec in SeatWatchRecord.live_ones(self.t.ctx.state):
            if time.monotonic() < self._retry_wall.get(rec.key, 0.0):
                continue
            try:
                self.advance(rec)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                self._succeeded(rec.key)
        if self.market.credits(self.me) > 0:
            self.t.ctx.send(self.market.withdraw())

    def on_event(self, event: ChainEvent) -> None:
        """WindowStarted: a record for each seat the window upholds (once per seat and window)."""
        if event.name != "WindowStarted":
            return
        job_id, window_end = int(event.args["jobId"]), int(event.args["windowEnd"])
        for seat_id in self.market.seats_of(job_id):
            seat = self.market.seat(seat_id)
            if seat.state != SeatState.REVEALED:
                continue
            known = SeatWatchRecord.load(self.t.ctx.state, seat_id)
            if known is not None and known.window_end == window_end:
                continue
            if known is not None and known.stage == Stage.PLAYING:
                continue  # our game is re-read by _play
            self._save(
                SeatWatchRecord(
                    seat_id, Stage.NEW, job_id=job_id, s_n="0x" + seat.s_n.hex(),
                    window_end=window_end,
                )
            )  # fmt: skip

    def advance(self, rec: SeatWatchRecord) -> None:
        job = self.market.job(rec.job_id)
        if rec.stage == Stage.NEW:
            rec = self._check(job, rec)
        if rec.stage == Stage.WRONG:
            rec = self._challenge(job, rec)
        if rec.stage == Stage.PLAYING:
            self._play(job, rec)

    # ---- the stages ----

    def _closed(self, job: ReplicaJob, rec: SeatWatchRecord) -> str | None:
        """Why the seat can no longer be challenged (None: it can)."""
        seat = self.market.seat(rec.seat_id)
        if seat.job_id != rec.job_id or seat.state != SeatState.REVEALED:
            return f"seat is {seat.state.name.lower()}"
        if job.state != ReplicaJobState.WINDOW:
            return f"job is {job.state.name.lower()}"
        if self.t.ctx.deployment.now() >= rec.window_end:
            return "agreement window closed"
        return None

    def _check(self, job: ReplicaJob, rec: SeatWatchRecord) -> SeatWatchRecord:
        closed = self._closed(job, rec)
        if closed is not None:
            return self._finish(rec, Stage.SKIPPED, f"not checked: {closed}")
        value = job.reward + job.replicas * job.params.required_stake
        if not self.t.sampled(f"replica-job:{job.job_id}:{rec.window_end}", value):
            return self._finish(rec, Stage.SKIPPED, "not sampled")
        try:
            work = self._work_for(job)
        except PocError as exc:
            if is_transient(exc):
                raise  # retried with back-off until the window closes
            # never challenge what we could not recompute
            return self._finish(rec, Stage.SKIPPED, f"cannot recompute: {exc}")
        pol = self.t.policy
        unsafe = safety.unsafe_watch(
            clock=job.params.clock,
            cost=safety.JobCost.of(work.package.spec.program),
            chain=safety.chain_conditions(self.t.ctx.w3, pol.block_time, gas_price=0),
            margins=safety.Margins(margin=pol.margin),
        )
        if unsafe:
            log.warning("replicated job %d: unsafe terms: %s", job.job_id, "; ".join(unsafe))
            return self._finish(rec, Stage.SKIPPED, "unsafe terms: " + "; ".join(unsafe))
        mine = "0x" + work.claim().s_n.hex()
        if mine == rec.s_n:
            return self._finish(rec, Stage.CORRECT, "recomputed: S_N matches")
        log.warning(
            "replicated job %d, seat %d: agreed S_N %s differs from ours %s",
            job.job_id, rec.seat_id, rec.s_n, mine,
        )  # fmt: skip
        return self._save(dataclasses.replace(rec, stage=Stage.WRONG, my_s_n=mine))

    def _challenge(self, job: ReplicaJob, rec: SeatWatchRecord) -> SeatWatchRecord:
        ctx = self.t.ctx
        if not self.market.watch_games(rec.seat_id, self.me):
            closed = self._closed(job, rec)
            if closed is not None:
                return self._finish(rec, Stage.SKIPPED, f"not challenged: {closed}")
            bond = job.params.challenger_bond
            ctx.pay(self.market.address, bond)
            ctx.send(self.market.challenge(job.job_id, rec.seat_id, bond))
        games = tuple(self.market.watch_games(rec.seat_id, self.me))
        if not games:  # mined, then undone by a reorg before we read it: challenge again
            log.warning("seat %d: our challenge is gone (reorg)", rec.seat_id)
            return rec
        log.info("replicated job %d, seat %d: challenged (games %s)", job.job_id, rec.seat_id,
                 list(games))  # fmt: skip
        return self._save(dataclasses.replace(rec, stage=Stage.PLAYING, games=games))

    def _play(self, job: ReplicaJob, rec: SeatWatchRecord) -> None:
        now = self.t.ctx.deployment.now
        if set(rec.games or ()) - set(self.market.watch_games(rec.seat_id, self.me)):
            # a reorg undid our challenge: challenge again (while the window allows)
            log.warning("seat %d: our games %s are gone (reorg)", rec.seat_id, rec.games)
            self._save(dataclasses.replace(rec, stage=Stage.WRONG, games=None))
            return
        trace = self._work_for(job).trace
        results = {}
        for game_id in rec.games or ():
            view = self.game.game_view(game_id, now())
            if view.open:  # a move to make, or a decided game to settle
                actions = solve(view, Side.CHALLENGER, trace, self.t.choose)
                self.responder.execute(view, Side.CHALLENGER, actions)
                view = self.game.game_view(game_id, now())
            results[game_id] = view.status
        if all(s != GameStatus.ACTIVE for s in results.values()):
            won = [g for g, s in results.items() if s == GameStatus.CHALLENGER_WON]
            self._finish(rec, Stage.DONE, f"won games {won}" if won else "lost every game")

    # ---- records, work, failures ----

    def _save(self, rec: SeatWatchRecord) -> SeatWatchRecord:
        rec.save(self.t.ctx.state)
        return rec

    def _finish(self, rec: SeatWatchRecord, stage: IntEnum, why: str) -> SeatWatchRecord:
        if rec.failures and rec.last_error and rec.last_error not in why:
            why = f"{why} (after {rec.failures} failed attempts; last: {rec.last_error})"
        done = self._save(dataclasses.replace(rec, stage=stage, reason=why, retry_at=None))
        log.info("replica seat %d (job %d): %s (%s)", rec.seat_id, rec.job_id,
                 stage.name.lower(), why)  # fmt: skip
        if not any(r.job_id == rec.job_id for r in SeatWatchRecord.live_ones(self.t.ctx.state)):
            self._work.pop(rec.job_id, None)
        return done

    def _work_for(self, job: ReplicaJob) -> JobWork:
        work = self._work.get(job.job_id)
        if work is None:
            work = self.t.fetch_work(
                job.params,
                self.market.spec_locator(job.job_id),
                self.t.ctx.data_dir / "replica-jobs" / str(job.job_id),
            )
            self._work[job.job_id] = work
        return work

    def _succeeded(self, seat_id: int) -> None:
        self._retry_wall.pop(seat_id, None)
        cur = SeatWatchRecord.load(self.t.ctx.state, seat_id)
        if cur is not None and cur.live and cur.failures:
            log.info("replica seat %d: recovered after %d failed attempts", seat_id, cur.failures)
            self._save(dataclasses.replace(cur, failures=0, last_error=None, retry_at=None))

    def _failed(self, rec: SeatWatchRecord, exc: Exception) -> None:
        """As the daemons (node.roles.daemon): the cause kept, the next attempt after a back-off
        (in wall time); unchecked or unchallenged seats are given up after MAX_ATTEMPTS
        failures that are not transient, a game never (its clock runs)."""
        cur = SeatWatchRecord.load(self.t.ctx.state, rec.key) or rec
        cause, transient = describe_error(exc), is_transient(exc)
        if not cur.live:
            log.error("replica seat %d: %s (after reaching %s)", cur.key, cause, cur.stage.name)
            return
        failures = cur.failures + 1
        cur = dataclasses.replace(cur, failures=failures, last_error=cause)
        if not transient and failures >= MAX_ATTEMPTS and cur.stage in (Stage.NEW, Stage.WRONG):
            self._finish(cur, Stage.SKIPPED, f"gave up after {failures} failed attempts: {cause}")
            return
        cap = GAME_BACKOFF_CAP if cur.in_game else BACKOFF_CAP
        wait = backoff(failures, min(cap, TRANSIENT_BACKOFF_CAP if transient else cap))
        try:
            retry_at = self.t.ctx.deployment.now() + wait
        except Exception:
            retry_at = None
        self._save(dataclasses.replace(cur, retry_at=retry_at))
        self._retry_wall[cur.key] = time.monotonic() + wait
        log.log(
            logging.WARNING if transient else logging.ERROR,
            "replica seat %d (%s): attempt %d failed: %s; next attempt in %d s",
            cur.key, cur.stage.name.lower(), failures, cause, wait,
            exc_info=None if transient or cause == rec.last_error else exc,
        )  # fmt: skip
