"""The watchtower: follows ResultSubmitted, re-executes (every result, or a sample), challenges
results it has recomputed and found wrong while the window is open, plays each of its games to
the end (calling timeout when the provider stalls) and withdraws its bonds and bounties.

It never challenges a result it has not recomputed: a job whose package cannot be fetched or
does not match its on-chain roots is skipped, not challenged. Like the provider it is an
idempotent `tick()` over chain state, with its scan checkpoint, decisions and sent transactions
in SQLite so that a restart resumes mid-game."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from node.chain.scanner import ChainEvent, EventScanner
from node.compute.config import ComputeConfig
from node.errors import PocError
from node.game.responder import MoveObserver, Responder
from node.game.solver import Chooser, first_disagreement
from node.game.view import GameStatus, Side
from node.roles.context import RoleContext
from node.roles.daemon import advance_live
from node.roles.games import play
from node.roles.protocol import ClaimState, Job
from node.roles.work import JobWork, TraceFactory

log = logging.getLogger(__name__)

# local stages of a watched claim (keyed by claim id in the jobs table)
NEW, CORRECT, WRONG, PLAYING, DONE, SKIPPED = 0, 1, 2, 3, 4, 5
STAGE_NAMES = {
    NEW: "new",
    CORRECT: "correct",
    WRONG: "wrong",
    PLAYING: "playing",
    DONE: "done",
    SKIPPED: "skipped",
}
LIVE = (NEW, WRONG, PLAYING)  # stages still acted on; the others are final


@dataclass(frozen=True)
class WatchPolicy:
    sample_probability: float = 1.0  # share of results re-executed
    min_value: int = 0  # re-execute only jobs whose reward + stake at risk is at least this
    device: str = "auto"
    fetch_timeout: float = 30.0


class Watchtower:
    def __init__(
        self,
        ctx: RoleContext,
        policy: WatchPolicy | None = None,
        observers: list[MoveObserver] | None = None,
        trace_factory: TraceFactory | None = None,
        choose: Chooser = first_disagreement,
    ) -> None:
        self.ctx = ctx
        self.policy = policy or WatchPolicy()
        self.trace_factory = trace_factory
        self.choose = choose
        self.compute = ComputeConfig(device=self.policy.device)
        self.responder = Responder(ctx.sender, ctx.protocol.game, ctx.state, observers)
        self.scanner = EventScanner(
            ctx.w3,
            {"market": ctx.protocol.market},
            ctx.state,
            name="watch-results",
            start_block=ctx.protocol.start_block,
            confirmations=ctx.confirmations,
        )
        self._work: dict[int, JobWork] = {}

    def status(self) -> dict[str, Any]:
        claims = {
            c: {**d, "stage": STAGE_NAMES[d["stage"]]} for c, d in self.ctx.state.jobs().items()
        }
        return {
            "address": self.ctx.address,
            "credits": self.ctx.protocol.credits(self.ctx.address),
            "claims": claims,
        }

    def describe(self) -> str:
        live = sum(len(self.ctx.state.jobs(st)) for st in LIVE)
        return (
            f"watchtower {self.ctx.address} on chain {self.ctx.w3.eth.chain_id}, state "
            f"{self.ctx.data_dir}, resuming {live} live claim(s) from block "
            f"{self.scanner.next_block()}"
        )

    def tick(self) -> None:
        self.scanner.scan(self._on_event)
        advance_live(self.ctx.state, LIVE, self._advance, "claim")
        if self.ctx.protocol.credits(self.ctx.address) > 0:
            self.ctx.send(self.ctx.protocol.market.functions.withdraw())

    def _on_event(self, event: ChainEvent) -> None:
        if event.name != "ResultSubmitted":
            return
        claim_id = int(event.args["claimId"])
        if self.ctx.state.job(claim_id) is None:
            self._save(
                claim_id,
                {
                    "stage": NEW,
                    "job_id": int(event.args["jobId"]),
                    "s_n": "0x" + bytes(event.args["sN"]).hex(),
                    "window_end": int(event.args["windowEnd"]),
                },
            )

    def _save(self, claim_id: int, rec: dict[str, Any]) -> None:
        self.ctx.state.upsert_job(claim_id, int(rec["stage"]), rec)

    def _finish(self, claim_id: int, rec: dict[str, Any], stage: int, why: str) -> None:
        rec.update(stage=stage, reason=why)
        self._save(claim_id, rec)
        self._work.pop(claim_id, None)
        log.info("claim %d: %s (%s)", claim_id, STAGE_NAMES[stage], why)

    def _advance(self, claim_id: int, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        job = p.job(rec["job_id"])
        if rec["stage"] == NEW:
            self._check(claim_id, job, rec)
        if rec["stage"] == WRONG:
            self._challenge(claim_id, job, rec)
        if rec["stage"] == PLAYING:
            self._play(claim_id, job, rec)

    def _sampled(self, claim_id: int, job: Job) -> bool:
        if job.reward + job.params.required_stake < self.policy.min_value:
            return False
        # Deterministic per (watchtower, claim): a restart makes the same choice, and a
        # provider cannot tell in advance which claims this watchtower will check.
        digest = hashlib.sha256(f"{self.ctx.address}:{claim_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.policy.sample_probability

    def _check(self, claim_id: int, job: Job, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        claim = p.claim(claim_id)
        if claim.state != ClaimState.SUBMITTED:
            return self._finish(claim_id, rec, SKIPPED, f"claim is {claim.state.name.lower()}")
        if p.now() >= rec["window_end"]:
            return self._finish(claim_id, rec, SKIPPED, "challenge window closed before checking")
        if not self._sampled(claim_id, job):
            return self._finish(claim_id, rec, SKIPPED, "not sampled")
        try:
            work = self._fetch(claim_id, job)
        except PocError as exc:
            # Never challenge what we could not recompute.
            return self._finish(claim_id, rec, SKIPPED, f"cannot recompute: {exc}")
        mine = work.claim().s_n
        if mine == claim.s_n:
            return self._finish(claim_id, rec, CORRECT, "recomputed: S_N matches")
        rec.update(stage=WRONG, my_s_n="0x" + mine.hex())
        self._save(claim_id, rec)
        log.warning(
            "claim %d (job %d): S_N 0x%s… differs from ours 0x%s…",
            claim_id,
            job.job_id,
            claim.s_n.hex()[:12],
            mine.hex()[:12],
        )

    def _fetch(self, claim_id: int, job: Job) -> JobWork:
        work = self._work.get(claim_id)
        if work is None:
            locator = self.ctx.protocol.spec_locator(job.job_id)
            work = JobWork.fetch(
                self.ctx.store,
                locator,
                job.params,
                self.ctx.data_dir / "jobs" / str(job.job_id),
                self.compute,
                self.trace_factory,
                timeout=self.policy.fetch_timeout,
            )
            self._work[claim_id] = work
        return work

    def _my_games(self, claim_id: int) -> list[int]:
        p, me = self.ctx.protocol, self.ctx.address.lower()
        return [g for g in p.games_of_claim(claim_id) if p.challenger_of(g).lower() == me]

    def _challenge(self, claim_id: int, job: Job, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        if not self._my_games(claim_id):
            claim = p.claim(claim_id)
            if claim.state != ClaimState.SUBMITTED:
                return self._finish(
                    claim_id, rec, DONE, f"claim already {claim.state.name.lower()}"
                )
            if p.now() >= rec["window_end"]:
                return self._finish(claim_id, rec, SKIPPED, "window closed before challenging")
            self.ctx.send(
                p.market.functions.challenge(job.job_id),
                value=job.params.challenger_bond,
                key=f"challenge:{claim_id}",
            )
        rec.update(stage=PLAYING, games=self._my_games(claim_id))
        self._save(claim_id, rec)
        log.info("claim %d: challenged (games %s)", claim_id, rec["games"])

    def _play(self, claim_id: int, job: Job, rec: dict[str, Any]) -> None:
        p = self.ctx.protocol
        results = {}
        for game_id in rec["games"]:
            trace = self._fetch(claim_id, job).trace
            status = play(
                p,
                self.responder,
                self.ctx.state,
                game_id,
                Side.CHALLENGER,
                trace,
                self.choose,
                job.job_id,
            )
            if status == GameStatus.ACTIVE:
                status = p.game_view(game_id).status
            results[game_id] = status
        if all(s != GameStatus.ACTIVE for s in results.values()):
            won = [g for g, s in results.items() if s == GameStatus.CHALLENGER_WON]
            self._finish(claim_id, rec, DONE, f"won games {won}" if won else "lost every game")
