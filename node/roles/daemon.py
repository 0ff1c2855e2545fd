"""What the provider and the watchtower daemons share: `RoleDaemon`, the base both roles are
built on (event scanner, typed records, the pass over live records, the work cache, playing a
game, withdrawing), and `run_forever`, the loop behind `poc provider run` and `poc watch run`.

A tick re-reads chain state and acts idempotently; every decision is a record in the state
database and every transaction has an intent key, so stopping anywhere is safe: the next run
resumes. SIGTERM and SIGINT stop the loop between ticks.

Failures are isolated (issue 11, P7): no job, program, claim or game stops a daemon from
serving the others. A record whose advance raises, for any reason, keeps its cause in its
`failures`, `last_error` and `retry_at` fields and is skipped until `retry_at`, an exponential
back-off in chain time (`backoff`), or as long in wall time where the chain mines no block;
the other records go on in the same tick. Retrying stops
at the record's deadline (the role's `give_up_at`: the stage's own deadline check then ends it,
with the cause in its reason) or, for errors that are not transient, after `MAX_ATTEMPTS`
failures in a row (the role's `give_up`). A tick that raises is logged, backed off in wall
time, and the loop continues."""

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

from node.chain.contracts.job_market import Job, JobParams
from node.chain.errors import ChainError, TransactionReverted
from node.chain.rpc import observe_requests, observing
from node.chain.scanner import ChainEvent, EventScanner
from node.compute.config import ComputeConfig
from node.compute.fleet import RayFleet
from node.config.settings import ConfigError
from node.game.responder import MoveObserver, Responder
from node.game.rules import GameStatus, Side
from node.game.solver import Chooser, first_disagreement, solve
from node.roles.context import RoleContext, withdraw_credits
from node.roles.earnings import Ledger
from node.roles.metrics import DEFAULT_ADDR, NodeMetrics
from node.roles.records import Record
from node.roles.work import JobWork, TraceFactory
from node.storage.errors import StorageError
from node.trace.lazy import TraceProvider

log = logging.getLogger(__name__)

# Per-record retries, in seconds of chain time (the latest block's timestamp: the clock every
# deadline is measured by, so that a back-off and a deadline are compared on one clock).
BACKOFF_BASE = 2  # the first retry waits this long, each further one twice as long ...
BACKOFF_CAP = 300  # ... up to this
TRANSIENT_BACKOFF_CAP = 30  # RPC and content-store faults: retried sooner
GAME_BACKOFF_CAP = 8  # records in a game (a chess clock runs): retried about every tick or two
MAX_ATTEMPTS = 5  # non-transient failures in a row before the role gives up on a record
ERROR_CHARS = 500  # of the cause kept in a record


def is_transient(exc: BaseException) -> bool:
    """RPC and content-store faults clear by themselves; a revert is the chain's verdict and
    counts as any other error."""
    return isinstance(exc, (ChainError, StorageError)) and not isinstance(exc, TransactionReverted)


def describe_error(exc: BaseException) -> str:
    """`Type: message`, the cause as a record keeps it."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def backoff(failures: int, cap: int) -> int:
    """Seconds to wait after the `failures`-th failure in a row (1, 2, ...)."""
    return int(min(BACKOFF_BASE * 2 ** min(max(failures - 1, 0), 30), cap))


def run_forever(
    tick: Callable[[], None], interval: float = 2.0, once: bool = False, max_backoff: float = 60.0
) -> None:
    """Tick every `interval` seconds until SIGTERM or SIGINT. A tick that raises (any
    Exception) is logged and the next one waits twice as long, up to `max_backoff`; a
    traceback is logged when the error differs from the last one, one line otherwise."""
    stopping = False
    last_error: str | None = None

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
                last_error = None
            except Exception as exc:
                delay = min(max(delay * 2, interval), max_backoff)
                cause = describe_error(exc)
                if is_transient(exc):
                    log.warning("tick failed (%s); retrying in %.0f s", cause, delay)
                elif cause != last_error:
                    log.exception("tick failed (%s); retrying in %.0f s", cause, delay)
                else:
                    log.error("tick failed again (%s); retrying in %.0f s", cause, delay)
                last_error = cause
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
    executor: str = "local"  # local | ray: executions and trace queries on a Ray cluster
    ray_address: str | None = None  # the cluster (None: a Ray started by this process)
    fetch_timeout: float = 30.0  # seconds for one content-store read
    metrics_port: int | None = None  # serve Prometheus metrics here (0: any free port)
    metrics_addr: str = DEFAULT_ADDR


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
        self.fleet = self._fleet(self.base_policy)
        self.choose = choose
        # what the account earns, loses and spends (node.roles.earnings), and the metrics
        # (node.roles.metrics), both fed by the generic layers: sender, web3, store, responder
        self.metrics = NodeMetrics()
        self.ledger = Ledger(ctx, observers=[self.metrics.on_entry])
        ctx.sender.observers += [self.ledger.on_tx, self.metrics.on_tx]
        ctx.store = self.metrics.observe_store(ctx.store)
        observe_requests(ctx.w3)
        self.responder = Responder(
            ctx.send, ctx.deployment.game, ctx.state, [*(observers or []), self.metrics.on_move]
        )
        self.scanner = EventScanner(
            ctx.w3,
            {"market": ctx.deployment.market.contract},
            ctx.state,
            name=self.KIND.scanner,
            start_block=ctx.deployment.start_block,
            confirmations=ctx.confirmations,
            on_reorg=self._on_reorg,
        )
        # the ReplicaMarket's payouts to us, for the ledger only (node.roles.earnings): its
        # own scanner and checkpoint, so that its events never reach the JobMarket handlers
        self.replica_scanner: EventScanner | None = None
        if ctx.deployment.replicas is not None:
            self.replica_scanner = EventScanner(
                ctx.w3,
                {"replicas": ctx.deployment.replicas.contract},
                ctx.state,
                name=f"{self.KIND.scanner}-replica-ledger",
                start_block=ctx.deployment.start_block,
                confirmations=ctx.confirmations,
            )
        self._work: dict[int, JobWork] = {}  # by job id
        # A back-off is also over when its length has passed in wall time: chain time stands
        # still on a chain that mines only on demand (anvil, a quiet devnet), and a record
        # waiting for the next block there would wait for ever. Set when a back-off is first
        # seen (after a restart: from its chain-time length).
        self._retry_wall: dict[int, float] = {}  # by record key, time.monotonic()
        self.metrics_url: str | None = None
        if self.base_policy.metrics_port is not None:
            self.metrics_url = self.metrics.serve(
                self.base_policy.metrics_port, self.base_policy.metrics_addr
            )
            self.metrics.describe_node(self.KIND.name, ctx.address, int(ctx.w3.eth.chain_id))

    # ---- what a role defines ----

    @abstractmethod
    def on_event(self, event: ChainEvent) -> None:
        """Record what a scanned market event tells this role (idempotent)."""

    @abstractmethod
    def advance(self, record: R) -> None:
        """Move one live record on as far as the chain allows now (idempotent)."""

    # ---- what a role may define: after a reorg, and when retrying stops helping ----

    def reopen(self, record: R) -> R | None:
        """After a reorg: a final `record` whose outcome the chain no longer shows, put back
        in a live stage (and returned), or None to leave it. May read the chain."""
        return None

    def give_up_at(self, record: R) -> int | None:
        """Chain time after which retrying `record` cannot help (the deadline its stage
        checks, which then ends it), None if its stage has none. May read the chain."""
        return None

    def give_up(self, record: R, cause: str) -> R | None:
        """After `MAX_ATTEMPTS` non-transient failures in a row: move `record` to a final (or
        winding-down) stage and return it, or return None to keep retrying (a stage where
        giving up would forfeit what the chain still owes us, e.g. a game being played)."""
        return None

    def backoff_cap(self, record: R) -> int:
        """The longest wait between two attempts at `record` (short while a game clock runs)."""
        return GAME_BACKOFF_CAP if record.in_game else BACKOFF_CAP

    # ---- records ----

    def record(self, key: int) -> R | None:
        return self.KIND.record.load(self.ctx.state, key)  # type: ignore[return-value]

    def records(self, stage: IntEnum | None = None) -> dict[int, R]:
        return self.KIND.record.all(self.ctx.state, stage)  # type: ignore[return-value]

    def save(self, record: R) -> R:
        record.save(self.ctx.state)
        return record

    def finish(self, record: R, stage: IntEnum, why: str) -> R:
        """A final stage: saved with its reason (and the cause of the failures that led to it,
        if any), the job's work dropped from memory."""
        if record.failures and record.last_error and record.last_error not in why:
            why = f"{why} (after {record.failures} failed attempts; last: {record.last_error})"
        done = self.save(dataclasses.replace(record, stage=stage, reason=why, retry_at=None))
        self._work.pop(self._job_of(done), None)
        log.info("%s %d: %s (%s)", self.KIND.record.TABLE[:-1], done.key, stage.name.lower(), why)
        return done

    @staticmethod
    def _job_of(record: Record) -> int:
        return int(getattr(record, "job_id"))  # noqa: B009 (both record types have it)

    # ---- the loop ----

    def tick(self) -> None:
        with observing(self.metrics.on_rpc), self.metrics.tick():
            self.scanner.scan(self._on_event)
            if self.replica_scanner is not None:
                self.replica_scanner.scan(self._on_replica_event)
            self.advance_live()
            self.withdraw()
            if self.metrics_url is not None:
                self._observe_chain()

    def _on_reorg(self, first_block: int) -> None:
        """The scanner found blocks from `first_block` on undone: what the daemon did or saw
        there may be gone (a claim, a submission, a challenge, a move). Every live record is
        tried again now (its back-off measured a chain that no longer is), and a final record
        whose outcome the chain no longer shows is reopened by the role (`reopen`); the
        transactions it then sends again are the sender's to recognise (node.chain.sender)."""
        log.warning("chain reorganised from block %d: re-reading every record's state", first_block)
        self._retry_wall.clear()
        for record in self.records().values():
            if record.live:
                if record.retry_at is not None:
                    self.save(dataclasses.replace(record, retry_at=None))
                continue
            try:
                reopened = self.reopen(record)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the scan stops and the reorg is found again next tick
                log.error("%s %d: not re-read: %s", self._what, record.key, describe_error(exc))
                continue
            if reopened is not None:
                log.warning(
                    "%s %d: %s undone by the reorg; now %s",
                    self._what,
                    record.key,
                    record.stage.name.lower(),
                    reopened.stage.name.lower(),
                )

    def _on_replica_event(self, event: ChainEvent) -> None:
        """A ReplicaMarket event, for the ledger (isolated as `_on_event`'s)."""
        try:
            self.ledger.on_replica_event(event)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("replica event %s not counted: %s", event.name, describe_error(exc))

    def _on_event(self, event: ChainEvent) -> None:
        """The ledger's entries and the metrics, then `on_event`, each isolated: an event one
        cannot handle is logged and skipped (a transient fault propagates, so that the scan
        stops before it and reads it again)."""
        try:
            self.ledger.on_event(event)
            self.metrics.on_event(event, self.ledger.ours(event))
            if event.name == "GameSettled":
                self._game_ended(int(event.args["gameId"]), bool(event.args["providerWon"]))
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("event %s not counted: %s", event.name, describe_error(exc))
        try:
            self.on_event(event)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("event %s skipped: %s", event.name, describe_error(exc))

    def _game_ended(self, game_id: int, provider_won: bool) -> None:
        """One of our games has settled: its row says so (its last read may have been before
        the move that ended it) and its clocks are no longer shown."""
        row = self.ctx.state.game(game_id)
        if row is None:
            return
        status = GameStatus.PROVIDER_WON if provider_won else GameStatus.CHALLENGER_WON
        self.ctx.state.upsert_game(
            game_id, status=int(status), phase=row["phase"], role=row["role"], data=row["data"]
        )
        self.metrics.drop_game(game_id)

    def _observe_chain(self) -> None:
        """The gauges read from the chain once a tick (only while metrics are served)."""
        try:
            head = self.ctx.w3.eth.get_block("latest")
            scanned = self.ctx.state.checkpoint(self.KIND.scanner)
            self.metrics.chain(int(head["number"]), int(head["timestamp"]), scanned)
            self.metrics.balance.set(self.ctx.w3.eth.get_balance(self.ctx.address))  # type: ignore[arg-type]
            self.metrics.games_open.set(len(self.ctx.state.games(int(GameStatus.ACTIVE))))
            self.metrics.live_records.set(len(self.KIND.record.live_ones(self.ctx.state)))
        except Exception as exc:  # a gauge left as it was is better than a failed tick
            log.debug("chain gauges not read: %s", describe_error(exc))

    def advance_live(self) -> None:
        """Every live record, in id order, except those backing off. A failure in one, of any
        kind, is kept in that record and retried after a back-off (see `_failed`); it never
        stops the others."""
        live = self.KIND.record.live_ones(self.ctx.state)
        if not live:
            return
        now = self.ctx.deployment.now()
        for record in live:
            if record.retry_at is not None and now < record.retry_at:
                wall = self._retry_wall.setdefault(
                    record.key, time.monotonic() + record.retry_at - now
                )
                if time.monotonic() < wall:
                    continue
            try:
                self.advance(record)  # type: ignore[arg-type]
            except Exception as exc:
                self._failed(record, exc, now)  # type: ignore[arg-type]
            else:
                self._succeeded(record.key)

    def _succeeded(self, key: int) -> None:
        self._retry_wall.pop(key, None)
        cur = self.record(key)
        if cur is not None and cur.live and (cur.failures or cur.retry_at is not None):
            log.info("%s %d: recovered after %d failed attempts", self._what, key, cur.failures)
            self.save(dataclasses.replace(cur, failures=0, last_error=None, retry_at=None))

    def _failed(self, record: R, exc: Exception, now: int) -> None:
        """Keep the cause, schedule the next attempt, or give up."""
        cur = self.record(record.key) or record  # advance may have saved a later stage
        cause = describe_error(exc)
        transient = is_transient(exc)
        self.metrics.record_failures.labels(str(transient).lower()).inc()
        failures = cur.failures + 1
        if not cur.live:  # it reached a final stage, then something after that raised
            log.error("%s %d: %s (after reaching %s)", self._what, cur.key, cause, cur.stage.name)
            return
        cur = self.save(dataclasses.replace(cur, failures=failures, last_error=cause))
        try:
            now = self.ctx.deployment.now()  # the attempt may have mined blocks
        except Exception:
            pass  # the pass's start time serves
        if not transient and failures >= MAX_ATTEMPTS:
            given = self._give_up(cur, cause)
            if given is not None:
                return
        try:
            deadline = self.give_up_at(cur)
        except Exception as read_exc:  # the chain read failed too: back off without a deadline
            log.debug("%s %d: no deadline (%s)", self._what, cur.key, describe_error(read_exc))
            deadline = None
        cap = min(self.backoff_cap(cur), TRANSIENT_BACKOFF_CAP if transient else BACKOFF_CAP)
        retry_at = now + backoff(failures, cap)
        if deadline is not None and now < deadline < retry_at:
            retry_at = deadline  # look again when the deadline passes: the stage then ends it
        self.save(dataclasses.replace(cur, retry_at=retry_at))
        self._retry_wall[cur.key] = time.monotonic() + (retry_at - now)
        msg = "%s %d (%s): attempt %d failed: %s; next attempt at chain time %d (in %d s)"
        args = (self._what, cur.key, cur.stage.name.lower(), failures, cause, retry_at)
        if transient:
            log.warning(msg, *args, retry_at - now)
        else:
            # the traceback once per record and cause, then one line per attempt
            log.error(
                msg, *args, retry_at - now, exc_info=exc if cause != record.last_error else None
            )

    def _give_up(self, record: R, cause: str) -> R | None:
        try:
            given = self.give_up(record, cause)
        except Exception as exc:
            log.error("%s %d: giving up failed: %s", self._what, record.key, describe_error(exc))
            return None
        if given is None:
            return None
        self._retry_wall.pop(record.key, None)  # measured again from its new retry_at
        if given.live:  # winding down: wait for its deadline without further attempts
            try:
                retry_at = self.give_up_at(given)
            except Exception:
                retry_at = None
            given = self.save(dataclasses.replace(given, retry_at=retry_at))
        log.error(
            "%s %d: gave up after %d failed attempts (%s): now %s",
            self._what,
            record.key,
            record.failures,
            cause,
            given.stage.name.lower(),
        )
        return given

    @property
    def _what(self) -> str:
        return self.KIND.record.TABLE[:-1]

    def describe(self) -> str:
        """One line for the daemon's start: who, where, what it resumes."""
        live = len(self.KIND.record.live_ones(self.ctx.state))
        chain_id = int(self.ctx.w3.eth.chain_id)
        served = f"; metrics on {self.metrics_url}" if self.metrics_url else ""
        fleet = f"; executing on {self.fleet.describe()}" if self.fleet else ""
        return (
            f"{self.KIND.name} {self.ctx.address} on chain {chain_id}, state "
            f"{self.ctx.data_dir}, resuming {live} live {self.KIND.record.TABLE} from block "
            f"{self.scanner.next_block()}{served}{fleet}"
        )

    def close(self) -> None:
        """Stop serving metrics (the state database is the context's to close)."""
        self.metrics.close()

    # ---- work, games, pay ----

    def work(self, job: Job, locator: str) -> JobWork:
        """The job's verified package and computation (downloaded once, kept per job)."""
        work = self._work.get(job.job_id)
        if work is None:
            work = self.fetch_work(job.params, locator, self.workdir(job.job_id))
            self._work[job.job_id] = work
        return work

    def fetch_work(self, params: JobParams, locator: str, workdir: Path) -> JobWork:
        """A package fetched (or reused from `workdir`) and checked against `params`, computed
        with this daemon's device and trace; either market's jobs (callers keep the cache)."""
        return JobWork.fetch(
            self.ctx.store,
            locator,
            params,
            workdir,
            self.compute,
            self.trace_factory,
            timeout=self.base_policy.fetch_timeout,
            fleet=self.fleet,
        )

    @staticmethod
    def _fleet(policy: DaemonPolicy) -> RayFleet | None:
        if policy.executor == "local":
            return None
        if policy.executor != "ray":
            raise ConfigError(f"executor {policy.executor!r}: local or ray")
        return RayFleet(policy.ray_address)

    def workdir(self, job_id: int) -> Path:
        return self.ctx.data_dir / "jobs" / str(job_id)

    def answer(self, game_id: int, trace: TraceProvider, job_id: int | None = None) -> GameStatus:
        """Our move in one game, if it is ours or a timeout we can claim, or its settle if the
        step decided it and nobody paid it yet; returns the game's status as read before the
        move, ACTIVE for a game that still held its claim open then (moves left, or decided and
        unpaid: the caller re-reads before it counts the game as over)."""
        view = self.ctx.deployment.game_view(game_id)
        self.metrics.on_game(view)
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
        if view.open:  # a move to make, or a decided game to settle
            self.responder.execute(
                view, self.KIND.side, solve(view, self.KIND.side, trace, self.choose)
            )
            return GameStatus.ACTIVE
        return view.status

    def withdraw(self) -> int:
        """Credits earned in the market (rewards, bonds, bounties), pulled to our account."""
        return withdraw_credits(self.ctx)
