"""Prometheus metrics of a provider or watchtower daemon (prometheus-client), served over HTTP
on `--metrics-port` (off by default; loopback unless `--metrics-addr` says otherwise).

Each daemon has its own registry (two daemons in one process, as in the tests and the demo,
count apart). The numbers come from the generic layers, never from a role's own logic: the
transaction sender's outcomes (node.chain.sender), the web3 request timer (node.chain.rpc), the
responder's mined moves (node.game.responder), the content store (wrapped here), the market
events the daemon scans and the earnings ledger (node.roles.earnings), and the daemon's tick
(node.roles.daemon). docs/operator.md §6 lists them; docs/grafana-poc.json charts them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from node.chain.contracts.token import ETHER_ADDRESS
from node.chain.rpc import RpcCall
from node.chain.scanner import ChainEvent
from node.chain.sender import TxOutcome
from node.game.responder import MoveRecord
from node.game.rules import Side
from node.game.view import GameView
from node.roles.earnings import EARNED, LOST, Entry, Kind
from node.roles.errors import RoleError
from node.storage.base import ContentStore

NAMESPACE = "poc"
DEFAULT_ADDR = "127.0.0.1"  # loopback: the endpoint tells anyone who can reach it what we hold
# request latencies: a local node answers in milliseconds, a public endpoint in tenths
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONFIRM_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300)

# market events that count as a stage of a job (the market-wide "seen" and our own others)
_JOB_STAGES = {
    "JobClaimed": "claimed",
    "ResultSubmitted": "submitted",
    "JobFinalized": "finalized",
    "ClaimExpired": "expired",
    "ClaimRejected": "rejected",
}
_WON = (Kind.BOND_WON, Kind.BOUNTY)
_LOST_GAME = (Kind.BACKING_LOST, Kind.BOND_LOST)


class MetricsUnavailable(RoleError):
    """The metrics endpoint cannot be served (the port is taken, the address is not ours)."""

    exit_code = 3


class NodeMetrics:
    """The registry of one daemon and the observers that feed it."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=r)

        def histogram(
            name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, doc, labels, namespace=NAMESPACE, registry=r, buckets=buckets)

        self.node = Info("node", "who this daemon is", namespace=NAMESPACE, registry=r)
        # jobs and games
        self.jobs = counter(
            "jobs",
            "Jobs by stage: seen (posted on the market), and claimed, submitted, finalized, "
            "expired, rejected (our claims)",
            ("stage",),
        )
        self.games_open = gauge("games_open", "Our games still being played")
        self.games = counter("games", "Our games that ended, by result (won, lost)", ("result",))
        self.game_clock = gauge(
            "game_clock_seconds",
            "Chess clock left in each open game of ours, per side (the mover's runs)",
            ("game", "side"),
        )
        self.moves = counter("moves", "Game moves we had mined", ("side", "move"))
        # money
        # (the names say wei, as they did before token markets; `asset` is the asset's address,
        # 0x00..00 for ether, and a token's amounts are its base units)
        self.earned = counter(
            "earned_wei", "Earned (reward, bond_won, bounty), base units", ("kind", "asset")
        )
        self.lost = counter(
            "lost_wei", "Lost (slashed, backing_lost, bond_lost), base units", ("kind", "asset")
        )
        self.withdrawn = counter(
            "withdrawn_wei", "Market credits paid out to our account, base units", ("asset",)
        )
        self.gas_used = counter("gas_used", "Gas our transactions used", ("function",))
        self.gas_spent = counter("gas_spent_wei", "Wei our transactions paid for gas")
        self.transactions = counter(
            "transactions",
            "Our transactions by function and status (mined, failed: mined and reverted, "
            "refused: the dry run reverted, nothing sent)",
            ("function", "status"),
        )
        self.confirm = histogram(
            "transaction_confirmation_seconds",
            "From broadcast to receipt",
            (),
            CONFIRM_BUCKETS,
        )
        self.balance = gauge("account_balance_wei", "Our account's ETH balance (pays the gas)")
        # the chain and the content store
        self.rpc_latency = histogram(
            "rpc_request_seconds", "JSON-RPC request latency", ("method",), LATENCY_BUCKETS
        )
        self.rpc_errors = counter(
            "rpc_errors",
            "JSON-RPC requests that failed: transport (no answer) or response (an error answer, "
            "e.g. a reverting eth_call)",
            ("method", "kind"),
        )
        self.storage_latency = histogram(
            "storage_request_seconds",
            "Content store (IPFS) request latency",
            ("backend", "op"),
            LATENCY_BUCKETS,
        )
        self.storage_errors = counter(
            "storage_errors", "Content store requests that failed", ("backend", "op", "error")
        )
        self.head = gauge("chain_head_block", "The chain head's number")
        self.head_age = gauge(
            "chain_head_age_seconds", "Wall time since the chain head's timestamp"
        )
        self.scan_lag = gauge(
            "scan_lag_blocks", "Blocks between the chain head and the event scanner's checkpoint"
        )
        # the daemon itself
        self.ticks = counter("ticks", "Daemon ticks")
        self.tick_failures = counter("tick_failures", "Ticks that raised (logged, retried)")
        self.tick_seconds = histogram(
            "tick_seconds", "Duration of a tick", (), (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        )
        self.record_failures = counter(
            "record_failures",
            "Failed attempts at one job or claim (kept in its record, retried after a back-off)",
            ("transient",),
        )
        self.live_records = gauge("live_records", "Jobs (provider) or claims (watchtower) live")
        self._server: Any = None
        self._clocks: set[tuple[str, str]] = set()

    # ---- serving ----

    def serve(self, port: int, addr: str = DEFAULT_ADDR) -> str:
        """Serve /metrics on addr:port (port 0: any free one); returns the URL."""
        try:
            self._server, _thread = start_http_server(port, addr, registry=self.registry)
        except OSError as exc:
            raise MetricsUnavailable(
                f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}; pick another "
                "--metrics-port (or --metrics-addr)"
            ) from None
        host, bound = self._server.server_address[:2]
        return f"http://{host}:{bound}/metrics"

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- observers ----

    def describe_node(self, role: str, address: str, chain_id: int) -> None:
        from node import __version__

        self.node.info(
            {"role": role, "address": address, "chain_id": str(chain_id), "version": __version__}
        )

    def on_event(self, event: ChainEvent, ours: bool) -> None:
        """A scanned market event (`ours`: about our account, node.roles.earnings)."""
        if event.name == "JobPosted":
            self.jobs.labels("seen").inc()
        elif ours and event.name in _JOB_STAGES:
            self.jobs.labels(_JOB_STAGES[event.name]).inc()

    def on_entry(self, entry: Entry) -> None:
        """A new earnings ledger entry."""
        asset = entry.asset or ETHER_ADDRESS
        if entry.kind in EARNED:
            self.earned.labels(str(entry.kind), asset).inc(entry.amount)
        elif entry.kind in LOST:
            self.lost.labels(str(entry.kind), asset).inc(entry.amount)
        elif entry.kind == Kind.GAS:
            self.gas_spent.inc(entry.amount)  # always ether
        elif entry.kind == Kind.WITHDRAWN:
            self.withdrawn.labels(asset).inc(entry.amount)
        if entry.kind in _WON:
            self.games.labels("won").inc()
        elif entry.kind in _LOST_GAME:
            self.games.labels("lost").inc()

    def on_tx(self, outcome: TxOutcome) -> None:
        function = outcome.request.description or "?"
        self.transactions.labels(function, outcome.status).inc()
        if outcome.gas_used:
            self.gas_used.labels(function).inc(outcome.gas_used)
            self.confirm.observe(outcome.seconds)

    def on_move(self, move: MoveRecord) -> None:
        self.moves.labels(move.side, move.move).inc()

    def on_rpc(self, call: RpcCall) -> None:
        self.rpc_latency.labels(call.method).observe(call.seconds)
        if call.error:
            self.rpc_errors.labels(call.method, call.error).inc()

    def on_game(self, view: GameView) -> None:
        """The clocks of one of our games as just read (an ended game's are dropped)."""
        if not view.active:
            self.drop_game(view.game_id)
            return
        game = str(view.game_id)
        for side in (Side.PROVIDER, Side.CHALLENGER):
            left = view.provider_clock if side == Side.PROVIDER else view.challenger_clock
            if side == view.mover:
                left = max(0, view.deadline - view.now)
            key = (game, side.name.lower())
            self.game_clock.labels(*key).set(left)
            self._clocks.add(key)

    def drop_game(self, game_id: int) -> None:
        for key in [k for k in self._clocks if k[0] == str(game_id)]:
            self.game_clock.remove(*key)
            self._clocks.discard(key)

    @contextmanager
    def tick(self) -> Iterator[None]:
        """Times a tick and counts it, and its failure."""
        start = time.perf_counter()
        self.ticks.inc()
        try:
            yield
        except Exception:
            self.tick_failures.inc()
            raise
        finally:
            self.tick_seconds.observe(time.perf_counter() - start)

    def chain(self, head: int, head_timestamp: int, scanned_to: int | None) -> None:
        self.head.set(head)
        self.head_age.set(time.time() - head_timestamp)
        if scanned_to is not None:
            self.scan_lag.set(max(0, head - scanned_to))

    def observe_store(self, store: ContentStore) -> ContentStore:
        """`store`, with each request timed and its failures counted."""
        if isinstance(store, ObservedStore):
            store = store.inner
        return ObservedStore(store, self)


class ObservedStore:
    """A content store whose requests are timed and whose failures are counted (any backend;
    the IPFS client's faults are StorageErrors, counted by their type)."""

    def __init__(self, inner: ContentStore, metrics: NodeMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.backend = type(inner).__name__.removesuffix("Store").lower() or "store"

    @contextmanager
    def _timed(self, op: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.metrics.storage_errors.labels(self.backend, op, type(exc).__name__).inc()
            raise
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.storage_latency.labels(self.backend, op).observe(elapsed)

    def put(self, data: bytes) -> str:
        with self._timed("put"):
            return self.inner.put(data)

    def put_file(self, path: Path) -> str:
        with self._timed("put_file"):
            return self.inner.put_file(path)

    def get(self, cid: str, timeout: float | None = None) -> bytes:
        with self._timed("get"):
            return self.inner.get(cid, timeout)

    def pin(self, cid: str) -> None:
        with self._timed("pin"):
            self.inner.pin(cid)

    def has(self, cid: str) -> bool:
        with self._timed("has"):
            return self.inner.has(cid)

    def __getattr__(self, name: str) -> Any:  # close() and the like of the backend
        return getattr(self.inner, name)


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}


def series_names(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Per metric family, every series name it can expose (labelled or not, observed yet or
    not): a counter `x` as x_total and x_created, a histogram as x_bucket, x_sum, x_count and
    x_created, an info as x_info, a gauge as itself."""
    return {
        family.name: {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
        for family in registry.collect()
    }


def exposed_names(registry: CollectorRegistry) -> set[str]:
    return set().union(*series_names(registry).values())
