"""What the provider and the watchtower daemons share: `RoleDaemon`, the base both roles are
built on (event scanner, typed records, the pass over live records, the work cache, playing a
game, withdrawing), and `run_forever`, the loop behind `poc provider run` and `poc watch run`.

A tick re-reads chain state and acts idempotently; every decision is a record in the state
database and every transaction has an intent key, so stopping anywhere is safe: the next run
resumes. Transient faults (RPC, storage) are logged and retried with backoff; SIGTERM and
SIGINT stop the loop between ticks."""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import ClassVar, Generic, TypeVar

from node.chain.contracts.job_market import Job
from node.chain.errors import ChainError
from node.chain.scanner import ChainEvent, EventScanner
from node.compute.config import ComputeConfig
from node.errors import PocError
from node.game.responder import MoveObserver, Responder
from node.game.rules import GameStatus, Side
from node.game.solver import Chooser, first_disagreement, solve
from node.roles.context import RoleContext, withdraw_credits
from node.roles.records import Record
from node.roles.work import JobWork, TraceFactory
from node.storage.errors import StorageError
from node.trace.lazy import TraceProvider

log = logging.getLogger(__name__)


def run_forever(
    tick: Callable[[], None], interval: float = 2.0, once: bool = False, max_backoff: float = 60.0
) -> None:
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("signal %d: stopping after this tick", signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    delay = interval
    try:
        while not stopping:
            try:
                tick()
                delay = interval
            except (ChainError, StorageError) as exc:
                delay = min(max(delay * 2, interval), max_backoff)
                log.warning("tick failed (%s); retrying in %.0f s", exc, delay)
            if once:
                return
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, delay))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class RoleKind:
    """What makes a daemon the provider or the watchtower."""

    name: str  # for logs: "provider", "watchtower"
    side: Side  # the side it plays in games
    policy: type[DaemonPolicy]  # its policy type (the defaults when none is given)
    record: type[Record]  # what it keeps a record of (jobs, claims)
    scanner: str  # the scanner's checkpoint name in the state database


@dataclass(frozen=True)
class DaemonPolicy:
    """What every daemon's operator sets (each role's policy adds its own)."""

    device: str = "auto"  # auto | cpu | cuda
    fetch_timeout: float = 30.0  # seconds for one content-store read


class RoleDaemon(ABC, Generic[R]):
    """One role's daemon: `tick()` scans new events into records, advances every live record,
    then withdraws what it earned. Subclasses say which records they keep, what an event adds
    and how a record advances; everything else is here, once."""

    KIND: ClassVar[RoleKind]

    def __init__(
        self,
        ctx: RoleContext,
        policy: DaemonPolicy | None = None,
        observers: list[MoveObserver] | None = None,
        trace_factory: TraceFactory | None = None,
        choose: Chooser = first_disagreement,
    ) -> None:
        self.ctx = ctx
        self.base_policy = policy or self.KIND.policy()
        self.compute = ComputeConfig(device=self.base_policy.device)
        self.trace_factory = trace_factory
        self.choose = choose
        self.responder = Responder(ctx.send, ctx.deployment.game, ctx.state, observers)
        self.scanner = EventScanner(
            ctx.w3,
            {"market": ctx.deployment.market.contract},
            ctx.state,
            name=self.KIND.scanner,
            start_block=ctx.deployment.start_block,
            confirmations=ctx.confirmations,
        )
        self._work: dict[int, JobWork] = {}  # by job id

    # ---- what a role defines ----

    @abstractmethod
    def on_event(self, event: ChainEvent) -> None:
        """Record what a scanned market event tells this role (idempotent)."""

    @abstractmethod
    def advance(self, record: R) -> None:
        """Move one live record on as far as the chain allows now (idempotent)."""

    # ---- records ----

    def record(self, key: int) -> R | None:
        return self.KIND.record.load(self.ctx.state, key)  # type: ignore[return-value]

    def records(self, stage: IntEnum | None = None) -> dict[int, R]:
        return self.KIND.record.all(self.ctx.state, stage)  # type: ignore[return-value]

    def save(self, record: R) -> R:
        record.save(self.ctx.state)
        return record

    def finish(self, record: R, stage: IntEnum, why: str) -> R:
        """A final stage: saved with its reason, the job's work dropped from memory."""
        done = self.save(dataclasses.replace(record, stage=stage, reason=why))
        self._work.pop(self._job_of(done), None)
        log.info("%s %d: %s (%s)", self.KIND.record.TABLE[:-1], done.key, stage.name.lower(), why)
        return done

    @staticmethod
    def _job_of(record: Record) -> int:
        return int(getattr(record, "job_id"))  # noqa: B009 (both record types have it)

    # ---- the loop ----

    def tick(self) -> None:
        self.scanner.scan(self.on_event)
        self.advance_live()
        self.withdraw()

    def advance_live(self) -> None:
        """Every live record, in id order. A fault in one is logged and retried next tick; it
        never stops the others."""
        what = self.KIND.record.TABLE[:-1]
        for record in self.KIND.record.live_ones(self.ctx.state):
            try:
                self.advance(record)  # type: ignore[arg-type]
            except (ChainError, StorageError) as exc:
                log.warning("%s %d: %s", what, record.key, exc)  # transient: keep it, retry
            except PocError as exc:
                log.error("%s %d: %s", what, record.key, exc)

    def describe(self) -> str:
        """One line for the daemon's start: who, where, what it resumes."""
        live = len(self.KIND.record.live_ones(self.ctx.state))
        return (
            f"{self.KIND.name} {self.ctx.address} on chain {self.ctx.w3.eth.chain_id}, state "
            f"{self.ctx.data_dir}, resuming {live} live {self.KIND.record.TABLE} from block "
            f"{self.scanner.next_block()}"
        )

    # ---- work, games, pay ----

    def work(self, job: Job, locator: str) -> JobWork:
        """The job's verified package and computation (downloaded once, kept per job)."""
        work = self._work.get(job.job_id)
        if work is None:
            work = JobWork.fetch(
                self.ctx.store,
                locator,
                job.params,
                self.workdir(job.job_id),
                self.compute,
                self.trace_factory,
                timeout=self.base_policy.fetch_timeout,
            )
            self._work[job.job_id] = work
        return work

    def workdir(self, job_id: int) -> Path:
        return self.ctx.data_dir / "jobs" / str(job_id)

    def answer(self, game_id: int, trace: TraceProvider, job_id: int | None = None) -> GameStatus:
        """Our move in one game, if it is ours or a timeout we can claim; returns the game's
        status as read before the move."""
        view = self.ctx.deployment.game_view(game_id)
        self.ctx.state.upsert_game(
            game_id,
            status=int(view.status),
            phase=int(view.phase),
            role=self.KIND.side.name.lower(),
            job_id=job_id,
            claim_id=view.claim_id,
            data={
                "provider": view.provider,
                "challenger": view.challenger,
                "lo": view.lo,
                "hi": view.hi,
                "height": view.height,
                "index": view.index,
            },
        )
        if view.active:
            self.responder.execute(
                view, self.KIND.side, solve(view, self.KIND.side, trace, self.choose)
            )
        return view.status

    def withdraw(self) -> int:
        """Credits earned in the market (rewards, bonds, bounties), pulled to our account."""
        return withdraw_credits(self.ctx)
