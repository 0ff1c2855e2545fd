"""Chain faults on anvil (issue 13): the provider and the watchtower daemons (in this process,
ticked in turn, so that a fault lands exactly at one point of a job's life) through reorgs of
1 to 10 blocks, rollbacks, transactions dropped from the mempool, base-fee spikes of 10x and
100x, and anvil killed and restarted from a state it dumped earlier.

Each fault is injected right at one lifecycle point: the provider's claim, its submission, the
watchtower's challenge, or the n-th move of the game. A reorg of depth d undoes the point's
block and d-1 blocks around it (m of them mined after it, d-1-m before it: blocks the daemons
had scanned), and either drops the point's transaction or re-includes it in one of the new
blocks; a rollback removes the blocks; a drop takes the point's transaction out of the mempool
(automine off, blocks mined by the test); a spike raises the next block's base fee right after
the point; a restart kills anvil after the point and starts it again from the state dumped in
the round before (the point and whatever followed it are lost), after a second of downtime.

Through every fault: the honest side ends as it should (the honest job finalized and its
claim accepted, the liar's claim rejected and every game won by the watchtower), no
transaction of an honest daemon reverts (a duplicate or stale re-send would), nothing is left
live in the honest daemons' records nor pending in their senders, and the fault bit (the
transaction was lost and sent again, or the spiked block was paid for). Each case adds a row
(fault x point x outcome) to POC_RELIABILITY_OUT/chain_faults.jsonl for docs/reliability.md."""

from __future__ import annotations

import gzip
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import function_abi_to_4byte_selector
from roles_helpers import advance, reverted_from, rpc
from web3 import Web3

from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.rpc import connect
from node.chain.sender import TxOutcome
from node.devnet.anvil import AnvilNode
from node.game.actions import FUNCTION
from node.game.rules import GameStatus
from node.roles.client import JobClient, JobTerms
from node.roles.daemon import RoleDaemon, describe_error
from node.roles.examples import tiny_mlp
from node.roles.localnet import LocalScenario
from node.roles.provider import Provider, ProviderPolicy
from node.roles.watchtower import Watchtower
from node.state.store import TX_PENDING
from poc_lab.adversary import ProviderCheat, lying_trace

pytestmark = pytest.mark.integration
ETHER = 10**18
TERMS = JobTerms(
    ETHER // 10, ETHER // 2, ETHER // 50, execute_within=600, challenge_window=120, clock=300
)
POSTER, PROVIDER, TOWER = 1, 2, 3
MOVES = frozenset(FUNCTION.values()) - {"timeout"}
# fixed chain conditions for the provider's safety rule: a 100x spike must test the sender's
# pricing, not make the provider refuse the job as unsafe
POLICY = ProviderPolicy(block_time=1.0, gas_price=10**9)
POINT_TX = {"claim": "claim", "submission": "submitResult", "challenge": "challenge"}
# blocks mined between posting and the daemons' start: a reorg reaching before a claim never
# undoes the job itself (the poster, not a daemon, would have to post it again)
CUSHION = 12

# (fault, point, liar): the cases of `make test`, each at a depth and position drawn from its seed
CASES = [
    ("reorg", "claim", False),
    ("reorg", "submission", False),
    ("reorg+reinclude", "submission", False),
    ("reorg", "challenge", True),
    ("reorg", "move", True),
    ("reorg+reinclude", "move", True),
    ("rollback", "move", True),
    ("drop", "claim", False),
    ("drop", "challenge", True),
    ("drop", "move", True),
    ("base-fee-10x", "submission", False),
    ("base-fee-100x", "move", True),
    ("restart", "submission", False),
    ("restart", "move", True),
]


@dataclass
class Fault:
    """Injects one fault at one point (`on_mined`, a sender observer of both daemons, for the
    faults that strike after the point's transaction is mined; `mine` for drops)."""

    kind: str
    point: str
    w3: Web3
    rng: random.Random
    selectors: dict[str, set[bytes]]
    restart: Callable[[], None] | None = None
    depth: int = 0
    nth_move: int = 1
    fired: bool = False
    seen_moves: int = 0
    lost: list[str] = field(default_factory=list)  # hashes of point transactions gone
    spiked_to: int | None = None
    spiked_block: int | None = None
    # held by the miner from reading the pool to mining it, and by every broadcast: a point
    # transaction sent between the read and the mine would be mined unseen, never dropped
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.depth = self.rng.randint(1, 10)
        self.nth_move = self.rng.randint(1, 4)

    def _is_point(self, description: str) -> bool:
        if self.point == "move":
            if description not in MOVES:
                return False
            self.seen_moves += 1
            return self.seen_moves == self.nth_move
        return description == POINT_TX[self.point]

    def on_mined(self, outcome: TxOutcome) -> None:
        if self.fired or self.kind == "drop" or outcome.status != "mined":
            return
        if not self._is_point(outcome.request.description):
            return
        self.fired = True
        assert outcome.tx_hash is not None
        if self.kind.startswith(("reorg", "rollback")):
            self._reorg(outcome.tx_hash)
        elif self.kind.startswith("base-fee"):
            factor = int(self.kind.split("-")[2].rstrip("x"))
            base = int(self.w3.eth.get_block("latest")["baseFeePerGas"] or 0)
            self.spiked_to = max(base, 10**8) * factor
            self.spiked_block = self.w3.eth.block_number + 1
            rpc(self.w3, "anvil_setNextBlockBaseFeePerGas", hex(self.spiked_to))
        elif self.kind == "restart":
            assert self.restart is not None
            self.lost.append(outcome.tx_hash)
            self.restart()

    def _reorg(self, tx_hash: str) -> None:
        """Undo the point's block and d-1 more (m after it, d-1-m before it)."""
        raw = rpc(self.w3, "eth_getRawTransactionByHash", tx_hash)["result"]
        after = self.rng.randint(0, self.depth - 1)
        for _ in range(after):
            rpc(self.w3, "evm_mine")
        if self.kind == "rollback":
            assert "error" not in rpc(self.w3, "anvil_rollback", self.depth)
        else:
            again = [[raw, self.rng.randint(0, self.depth - 1)]] if "reinclude" in self.kind else []
            assert "error" not in rpc(self.w3, "anvil_reorg", self.depth, again)
        if "reinclude" not in self.kind:
            gone = rpc(self.w3, "eth_getTransactionReceipt", tx_hash)["result"] is None
            assert gone, "the reorg left the point's transaction in place"
            self.lost.append(tx_hash)

    def mine(self) -> None:
        """Automine off: drop the point's transaction the first time it is pending, mine the
        rest."""
        with self.lock:
            pool = rpc(self.w3, "txpool_content")["result"]["pending"]
            txs = [tx for by_nonce in pool.values() for tx in by_nonce.values()]
            for tx in sorted(txs, key=lambda t: int(t["nonce"], 16)):
                if self.fired:
                    break
                selector = bytes.fromhex(tx["input"][2:10])
                names = [n for n, sels in self.selectors.items() if selector in sels]
                if names and self._is_point(names[0]):
                    rpc(self.w3, "anvil_dropTransaction", tx["hash"])
                    self.fired = True
                    self.lost.append(tx["hash"])
            rpc(self.w3, "evm_mine")

    def serialize_sends(self, daemons: list[RoleDaemon[Any]]) -> None:
        """Every broadcast of these daemons waits for the miner's lock."""
        for daemon in daemons:
            sender = daemon.ctx.sender
            original = sender._broadcast

            def guarded(raw: bytes, tx_hash: str, _send: Callable[..., None] = original) -> None:
                with self.lock:
                    _send(raw, tx_hash)

            setattr(sender, "_broadcast", guarded)  # noqa: B010 - a test-only seam


def _selectors(abis: dict[str, Any]) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    for abi in abis.values():
        for entry in abi:
            if entry.get("type") == "function":
                out.setdefault(entry["name"], set()).add(function_abi_to_4byte_selector(entry))
    return out


@pytest.fixture(scope="module")
def scenario(
    anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalScenario]:
    sc = LocalScenario(tmp_path_factory.mktemp("chain-faults"), connect(anvil_node.rpc_url))
    yield sc
    sc.close()


class Restarter:
    """Anvil on its own port, killed on demand (`__call__`) and started again on the same
    port, where the daemons' connections point, from the last state `keep` dumped before the
    kill, once `downtime` seconds have passed (by `keep`, called between rounds in the test's
    thread: anvil dies with the thread that started it)."""

    def __init__(self, node: AnvilNode, folder: Path, downtime: float = 1.0) -> None:
        self.node, self.folder, self.downtime = node, folder, downtime
        self.dump: str | None = None
        self.killed_at: float | None = None
        self.restarted = False

    def keep(self, w3: Web3) -> None:
        if self.killed_at is None:
            self.dump = rpc(w3, "anvil_dumpState")["result"]
        elif not self.restarted and time.monotonic() - self.killed_at >= self.downtime:
            state = self.folder / "state.json"
            assert self.dump is not None
            state.write_bytes(gzip.decompress(bytes.fromhex(self.dump[2:])))
            self.node = AnvilNode.start(
                self.folder / "restarted",
                port=self.node.port,
                extra_args=["--load-state", str(state)],
            )
            self.restarted = True

    def __call__(self) -> None:
        self.node.stop()
        self.killed_at = time.monotonic()

    def close(self) -> None:
        self.node.stop()


@dataclass
class Run:
    sc: LocalScenario
    name: str
    liar: bool
    provider: Provider = field(init=False)
    tower: Watchtower = field(init=False)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        trace = lying_trace(ProviderCheat.parse("element")) if self.liar else None
        self.provider = Provider(
            self.sc.ctx(PROVIDER, f"{self.name}/provider"), POLICY, trace_factory=trace
        )
        self.tower = Watchtower(self.sc.ctx(TOWER, f"{self.name}/tower"))

    @property
    def daemons(self) -> list[RoleDaemon[Any]]:
        return [self.provider, self.tower]

    def drive(
        self, until: Callable[[], bool], what: str, between: Callable[[], None], timeout: float
    ) -> None:
        """Tick both daemons in turn (a tick that raises is noted and the next one retries,
        as `run_forever` does) until `until()`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if until():
                    return
            except Exception as exc:  # anvil down for a restart
                self.errors.append(describe_error(exc))
            if time.monotonic() > deadline:
                states = {
                    d.KIND.name: [r.status() for r in d.records().values()] for d in self.daemons
                }
                raise AssertionError(
                    f"timed out waiting for {what}: {states}; errors {self.errors[-5:]}"
                )
            for daemon in self.daemons:
                try:
                    daemon.tick()
                except Exception as exc:
                    self.errors.append(describe_error(exc))
            between()


def _honest(run: Run) -> list[RoleDaemon[Any]]:
    return [run.tower] if run.liar else [run.provider, run.tower]


def _wait_miner(fault: Fault, url: str) -> tuple[threading.Event, threading.Thread]:
    """Automine off; a thread mines every 0.2 s, dropping the point's transaction once."""
    stop = threading.Event()
    fault.w3 = connect(url)  # its own connection: the daemons' is busy in their thread
    rpc(fault.w3, "evm_setAutomine", False)

    def loop() -> None:
        while not stop.wait(0.2):
            fault.mine()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return stop, thread


def _play(
    sc: LocalScenario,
    name: str,
    kind: str,
    point: str,
    liar: bool,
    seed: int,
    restarter: Restarter | None = None,
) -> dict[str, Any]:
    """One job through one fault; returns its row of the matrix."""
    w3, rng = sc.w3, random.Random(seed)
    run = Run(sc, name, liar)
    fault = Fault(kind, point, w3, rng, _selectors(sc.abis), restarter)
    if kind.startswith("base-fee"):  # the spike strikes the transaction after the trigger
        fault.point = {"submission": "claim", "move": "move"}[point]
        fault.nth_move = rng.randint(1, 4)  # the spiked move is the next one
    for daemon in run.daemons:
        daemon.ctx.sender.observers.append(fault.on_mined)
    since = w3.eth.block_number
    run.provider.stake(TERMS.required_stake)
    job_id = JobClient(sc.ctx(POSTER, f"{name}/poster")).post(*tiny_mlp(seed=seed), TERMS)
    for _ in range(CUSHION):
        rpc(w3, "evm_mine")
    market = run.provider.ctx.deployment.market
    between: Callable[[], None] = lambda: None  # noqa: E731
    miner = None
    if kind == "drop":
        fault.serialize_sends(run.daemons)
        miner = _wait_miner(fault, _url(w3))
    elif restarter is not None:
        restarter.keep(w3)
        between = lambda: restarter.keep(w3)  # noqa: E731
    start = time.monotonic()
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"] or 0)
    try:
        if liar:
            outcome = _liar_caught(run, market, job_id, between)
        else:
            outcome = _honest_paid(run, market, job_id, between, w3)
    finally:
        if miner is not None:
            miner[0].set()
            miner[1].join(10)
            rpc(w3, "evm_setAutomine", True)
        if fault.spiked_to is not None:  # the session chain's next tests price on it
            rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(base_fee))
    seconds = time.monotonic() - start
    assert fault.fired, f"the {kind} fault never found its point ({point})"
    if restarter is not None:
        assert restarter.restarted, "anvil was killed but never restarted"
    for daemon in _honest(run):
        address = daemon.ctx.address
        assert reverted_from(w3, address, since) == [], f"{daemon.KIND.name} sent a reverting tx"
        assert daemon.KIND.record.live_ones(daemon.ctx.state) == [], "a record is left live"
        assert daemon.ctx.state.txs(TX_PENDING, sender=address) == [], "a tx is left pending"
    resent = sum(d.ctx.sender.resent for d in run.daemons)
    failed = {d.KIND.name: _record_failures(d) for d in _honest(run)}
    if fault.lost:  # the point's transaction was lost: someone sent it again
        assert resent >= 1, "a transaction was lost and nothing was sent again"
    if fault.spiked_block is not None:
        # priced on the next block's base fee: not one refused send, not one failed attempt
        assert sum(failed.values()) == 0, f"failed attempts under a base-fee spike: {failed}"
        block = w3.eth.get_block(fault.spiked_block, full_transactions=True)
        assert int(block["baseFeePerGas"] or 0) == fault.spiked_to
        assert block["transactions"], "nothing was mined in the spiked block"
    return {
        "fault": kind,
        "point": point,
        "depth": fault.depth if kind.startswith(("reorg", "rollback")) else None,
        "side": "liar" if liar else "honest",
        "outcome": outcome,
        "lost": len(fault.lost),
        "resent": resent,
        "reorgs_seen": sum(d.scanner.reorgs for d in run.daemons),
        "tick_errors": len(run.errors),
        "record_failures": sum(failed.values()),
        "seconds": round(seconds, 1),
        "seed": seed,
    }


def _record_failures(daemon: RoleDaemon[Any]) -> int:
    """Failed attempts at advancing a record (the daemon's metrics counter)."""
    return int(
        sum(
            sample.value
            for metric in daemon.metrics.record_failures.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )


def _url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", ""))


def _honest_paid(run: Run, market: Any, job_id: int, between: Callable[[], None], w3: Web3) -> str:
    def checked() -> bool:
        claim_id = market.job(job_id).current_claim
        rec = run.tower.record(claim_id) if claim_id else None
        return (
            claim_id != 0
            and market.claim(claim_id).state == ClaimState.SUBMITTED
            and rec is not None
            and rec.stage.name == "CORRECT"
        )

    run.drive(checked, "the result checked correct", between, 150)
    advance(w3, TERMS.challenge_window + 1)

    def paid() -> bool:
        rec = run.provider.record(job_id)
        return (
            market.job(job_id).state == JobState.FINALIZED
            and rec is not None
            and rec.stage.name == "DONE"
            and market.credits(run.provider.ctx.address) == 0
        )

    run.drive(paid, "the job finalized and paid", between, 90)
    claim_id = market.job(job_id).current_claim
    assert market.claim(claim_id).state == ClaimState.ACCEPTED
    assert market.claim(claim_id).provider == run.provider.ctx.address
    return "finalized, paid"


def _liar_caught(run: Run, market: Any, job_id: int, between: Callable[[], None]) -> str:
    def over() -> bool:
        rec = run.provider.record(job_id)
        if rec is None or rec.claim_id is None or rec.live:
            return False
        games = market.games_of_claim(rec.claim_id)
        return (
            market.claim(rec.claim_id).state == ClaimState.REJECTED
            and bool(games)
            and all(not run.tower.ctx.deployment.game_view(g).active for g in games)
            and not run.tower.KIND.record.live_ones(run.tower.ctx.state)
        )

    run.drive(over, "the liar's games to end", between, 240)
    rec = run.provider.record(job_id)
    assert rec is not None and rec.claim_id is not None
    for game_id in market.games_of_claim(rec.claim_id):
        assert run.tower.ctx.deployment.game_view(game_id).status == GameStatus.CHALLENGER_WON
    return "liar slashed"


def _record(row: dict[str, Any]) -> None:
    folder = os.environ.get("POC_RELIABILITY_OUT")
    if folder:
        path = Path(folder) / "chain_faults.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


@pytest.mark.parametrize(("kind", "point", "liar"), CASES, ids=[f"{k}-{p}" for k, p, _ in CASES])
def test_daemons_through_chain_faults(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, point: str, liar: bool
) -> None:
    seed = 101 + CASES.index((kind, point, liar))
    if kind == "restart":
        node = AnvilNode.start(tmp_path / "anvil")
        restarter = Restarter(node, tmp_path)
        try:
            sc = LocalScenario(tmp_path / "own", connect(node.rpc_url))
            try:
                row = _play(sc, "run", kind, point, liar, seed, restarter)
            finally:
                sc.close()
        finally:
            restarter.close()
    else:
        sc = request.getfixturevalue("scenario")  # deployed before the snapshot: it stays
        request.getfixturevalue("anvil_snapshot")
        row = _play(sc, f"{kind}-{point}", kind, point, liar, seed)
    _record(row)
