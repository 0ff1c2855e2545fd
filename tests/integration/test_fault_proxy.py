"""The daemons through a faulty network (issue 13): `poc provider run` and `poc watch run` talk
to anvil and to the IPFS node only through fault-injecting proxies (fault_proxy.py) that delay,
time out, answer 429/5xx, reset before or after forwarding, and cut answers, on a schedule
drawn from a seed. Through every schedule the honest job finalizes, the liar is caught, the
false challenger loses, no honest transaction reverts (a duplicate would), and the faults are
logged as warnings naming their cause, not as tracebacks. Each run adds its rows to the fault
matrix (docs/reliability.md) when POC_RELIABILITY_OUT names a folder."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy, Schedule
from roles_helpers import advance, daemon, lab, poc, reverted_from, role_config, wait_for

from node.chain.abi import protocol_abis as load_abis
from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.rpc import connect
from node.game.rules import GameStatus
from node.roles.client import JobClient, JobTerms
from node.roles.context import RoleContext
from node.roles.examples import tiny_mlp
from node.roles.localnet import deploy_local, dev_account
from node.storage.ipfs import IpfsStore

pytestmark = pytest.mark.integration
ETHER = 10**18
TERMS = JobTerms(
    ETHER // 10, ETHER // 2, ETHER // 50, execute_within=600, challenge_window=120, clock=300
)
PROVIDER, TOWER = 2, 3
RPC_TIMEOUT = 2.0


@dataclass
class Net:
    w3: Any
    rpc_url: str
    ipfs_api: str
    ipfs_http: str
    contracts: dict[str, str]
    start_block: int
    abis: dict[str, Any]


@pytest.fixture(scope="module")
def net(anvil_node: Any, ipfs_node: Any) -> Net:
    w3 = connect(anvil_node.rpc_url)
    local = deploy_local(w3, dev_account(0))
    host_port = ipfs_node.api_addr.split("/")  # /ip4/127.0.0.1/tcp/PORT/http
    return Net(
        w3,
        anvil_node.rpc_url,
        ipfs_node.api_addr,
        f"http://{host_port[2]}:{host_port[4]}",
        dict(local.deployment.addresses),
        local.deployment.block,
        load_abis(local.abi_dir),
    )


@dataclass
class Faulty:
    """One role's view of the network: a proxy to anvil and one to the IPFS node."""

    rpc: FaultProxy
    ipfs: FaultProxy

    def stop(self) -> None:
        self.rpc.stop()
        self.ipfs.stop()


@contextmanager
def faulty(net: Net, seed: int, role: str) -> Iterator[Faulty]:
    f = Faulty(
        FaultProxy(net.rpc_url, Schedule(seed, timeout_s=RPC_TIMEOUT + 1.5), f"{role}-rpc"),
        FaultProxy(net.ipfs_http, Schedule(seed + 1000, timeout_s=6.5), f"{role}-ipfs"),
    )
    f.rpc.start(), f.ipfs.start()
    try:
        yield f
    finally:
        f.stop()


def _config(net: Net, folder: Path, index: int, f: Faulty) -> Path:
    return role_config(
        folder,
        index,
        f.rpc.url,
        f.ipfs.multiaddr,
        net.contracts,
        net.start_block,
        rpc_timeout=RPC_TIMEOUT,
        storage_timeout=5.0,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _log_lines(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _matrix_rows(case: str, seed: int, proxies: list[FaultProxy], outcome: str) -> None:
    folder = os.environ.get("POC_RELIABILITY_OUT")
    if not folder:
        return
    path = Path(folder) / "fault_matrix.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for p in proxies:
            for (method, fault), n in sorted(p.counts().items(), key=lambda kv: str(kv[0])):
                row = {
                    "case": case,
                    "seed": seed,
                    "link": p.label,
                    "method": method,
                    "fault": fault.value,
                    "count": n,
                    "requests": p.requests,
                    "outcome": outcome,
                }
                fh.write(json.dumps(row) + "\n")


def _faults_are_warnings(logs: list[Path]) -> int:
    """Faults of the network are retried and logged as warnings naming their cause; an error
    record would mean one went unhandled. Returns the number of warnings about faults."""
    warned = 0
    for log in logs:
        for rec in _log_lines(log):
            if rec.get("level") in ("error", "critical"):
                raise AssertionError(f"{log.name}: error logged under network faults: {rec}")
            if rec.get("level") == "warning":
                warned += 1
    return warned


CASES = {
    "honest": (None, None),
    "liar caught": (lab("--provider-cheat", "element"), None),
    "false challenge refused": (None, lab("--tower", "false-challenge")),
}


# one schedule per case in `make test`; `make reliability` sets POC_FAULT_SEEDS for more
SEEDS_PER_CASE = int(os.environ.get("POC_FAULT_SEEDS", "1"))
RUNS = [(case, 11 + 10 * k + n) for n, case in enumerate(CASES) for k in range(SEEDS_PER_CASE)]
# the honest daemons a crash run kills, by case
VICTIMS = {
    "honest": ("provider", "tower"),
    "liar caught": ("tower",),
    "false challenge refused": ("provider",),
}


class Chaos:
    """Kills (SIGKILL) one of `victims`' daemons at a random moment after it has started
    working (logged its start line), and starts it again on the same data folder:
    random points over the whole life of the job and its game (fetching, executing, between
    signing and sending, mid-write)."""

    def __init__(
        self,
        seed: int,
        procs: dict[str, subprocess.Popen[bytes]],
        victims: tuple[str, ...],
        start: Callable[[str], subprocess.Popen[bytes]],
        logs: dict[str, Path],
    ) -> None:
        self.rng = random.Random(seed)
        self.procs, self.victims, self.start, self.logs = procs, victims, start, logs
        self.kills: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _lines(self, role: str) -> list[str]:
        log = self.logs[role]
        return log.read_text(errors="replace").splitlines() if log.exists() else []

    def _starts(self, role: str) -> int:
        return sum(", resuming " in line for line in self._lines(role))

    def _run(self) -> None:
        seen = {role: 0 for role in self.victims}
        while not self._stop.is_set():
            role = self.rng.choice(self.victims)
            while self._starts(role) <= seen[role]:  # not working yet: a kill now tests nothing
                if self._stop.wait(0.1):
                    return
            seen[role] = self._starts(role)
            # the kill comes after the n-th line the daemon logs once started (its actions come
            # in bursts: claim, execute, submit, each move), or after a random delay when it
            # is quiet, whichever is first
            base, n = len(self._lines(role)), self.rng.randint(1, 6)
            deadline = time.monotonic() + self.rng.uniform(0.1, 3.0)
            while len(self._lines(role)) < base + n and time.monotonic() < deadline:
                if self._stop.wait(0.02):
                    return
            if self._stop.wait(self.rng.uniform(0.0, 0.2)):
                return
            proc = self.procs[role]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            self.kills.append((role, round(time.monotonic() - self._t0, 1)))
            self.procs[role] = self.start(role)


def _poster(net: Net, folder: Path) -> JobClient:
    return JobClient(
        RoleContext.build(
            net.w3,
            dev_account(1),
            IpfsStore(net.ipfs_api, 5.0),
            folder,
            dict(net.contracts),
            net.abis,
            net.start_block,
        )
    )


def _until(
    cond: Callable[[], bool],
    timeout: float,
    what: str,
    procs: dict[str, subprocess.Popen[bytes]],
    chaos: bool,
) -> None:
    """wait_for, except that under chaos a daemon's exit is the monkey's doing."""
    wait_for(cond, timeout, what, [] if chaos else list(procs.values()))


def _play(
    net: Net, tmp_path: Path, case: str, seed: int, configs: dict[str, Path], chaos: bool
) -> tuple[str, dict[str, Path], int]:
    """Posts a job, runs both daemons (an adversary where the case says) and waits for the
    case's end; returns the outcome, the logs, and the number of kills."""
    provider_lab, tower_lab = CASES[case]
    client = _poster(net, tmp_path / "poster")
    d = client.ctx.deployment
    job_id = client.post(*tiny_mlp(seed=seed), TERMS)
    logs = {"provider": tmp_path / "provider.log", "tower": tmp_path / "tower.log"}
    commands = {
        "provider": (["provider", "run"], provider_lab),
        "tower": (["watch", "run"], tower_lab),
    }

    def start(role: str) -> subprocess.Popen[bytes]:
        args, command = commands[role]
        return daemon(args, configs[role], logs[role], command)

    procs = {role: start(role) for role in commands}
    monkey = Chaos(seed, procs, VICTIMS[case], start, logs) if chaos else None
    try:
        with monkey or nullcontext():
            outcome = _await_end(net, d, case, job_id, logs, procs, chaos)
    finally:
        for p in procs.values():
            _stop(p)
    return outcome, logs, len(monkey.kills) if monkey else 0


def _await_end(
    net: Net,
    d: Any,
    case: str,
    job_id: int,
    logs: dict[str, Path],
    procs: dict[str, subprocess.Popen[bytes]],
    chaos: bool,
) -> str:
    """Waits for the case's end and checks it; returns the outcome."""
    _until(lambda: _submitted(d, job_id), 240, "the provider's result", procs, chaos)
    claim_id = d.market.job(job_id).current_claim
    if case == "honest":
        # the watchtower re-executes and stays quiet; then the window passes
        _until(lambda: _checked(logs["tower"], claim_id), 240, "the check", procs, chaos)
        assert d.market.games_of_claim(claim_id) == []
        advance(net.w3, TERMS.challenge_window + 1)
        _until(
            lambda: d.market.job(job_id).state == JobState.FINALIZED,
            120,
            "finalization",
            procs,
            chaos,
        )
        return "finalized"
    _until(lambda: d.market.games_of_claim(claim_id) != [], 240, "a game", procs, chaos)
    (game_id,) = d.market.games_of_claim(claim_id)
    # decided by the step, then paid by a separate settle: wait for both
    _until(lambda: not d.game_view(game_id).open, 420, "the game's end", procs, chaos)
    status = d.game_view(game_id).status
    if case == "liar caught":
        assert status == GameStatus.CHALLENGER_WON
        assert d.market.claim(claim_id).state == ClaimState.REJECTED
        return "liar slashed"
    assert status == GameStatus.PROVIDER_WON
    return "challenger lost"


def _honest_accounts(case: str) -> list[str]:
    provider_lab, tower_lab = CASES[case]
    return ([] if provider_lab else [dev_account(PROVIDER).address]) + (
        [] if tower_lab else [dev_account(TOWER).address]
    )


@pytest.mark.parametrize(("case", "seed"), RUNS)
def test_daemons_through_faults(net: Net, tmp_path: Path, case: str, seed: int) -> None:
    since = net.w3.eth.block_number
    with faulty(net, seed, "provider") as fp, faulty(net, seed + 1, "tower") as ft:
        configs = {
            "provider": _config(net, tmp_path / "provider", PROVIDER, fp),
            "tower": _config(net, tmp_path / "tower", TOWER, ft),
        }
        fp.rpc.enabled = False  # set-up through the proxy, calm
        assert poc(["provider", "stake", "1"], configs["provider"]).returncode == 0
        fp.rpc.enabled = True
        outcome, logs, _ = _play(net, tmp_path, case, seed, configs, chaos=False)
    for address in _honest_accounts(case):
        assert reverted_from(net.w3, address, since) == [], f"{address} sent a reverting tx"
    injected = sum(len(p.injected) for p in (fp.rpc, fp.ipfs, ft.rpc, ft.ipfs))
    assert injected >= 5, f"the schedule injected only {injected} faults: it tested nothing"
    assert _faults_are_warnings(list(logs.values())) > 0
    _matrix_rows(case, seed, [fp.rpc, fp.ipfs, ft.rpc, ft.ipfs], outcome)


# the honest job's whole life is about a second of work: kills land there by chance only, so
# crash runs cover the two cases with a game
CRASH_RUNS = [(case, seed) for case, seed in RUNS if case != "honest"]


@pytest.mark.parametrize(("case", "seed"), CRASH_RUNS)
def test_daemons_killed_at_random_points(net: Net, tmp_path: Path, case: str, seed: int) -> None:
    """kill -9 of the honest daemons at random points over the whole life of the job and
    its game, each restarted on its data folder: the honest side still ends as it should,
    and no honest transaction reverts (a restart that re-sent a move or a claim would)."""
    since = net.w3.eth.block_number
    configs = {
        "provider": role_config(
            tmp_path / "provider",
            PROVIDER,
            net.rpc_url,
            net.ipfs_api,
            net.contracts,
            net.start_block,
        ),
        "tower": role_config(
            tmp_path / "tower", TOWER, net.rpc_url, net.ipfs_api, net.contracts, net.start_block
        ),
    }
    assert poc(["provider", "stake", "1"], configs["provider"]).returncode == 0
    outcome, logs, kills = _play(net, tmp_path, case, seed, configs, chaos=True)
    assert kills >= 2, f"only {kills} kills: the run tested little"
    for address in _honest_accounts(case):
        assert reverted_from(net.w3, address, since) == [], f"{address} sent a reverting tx"
    _crash_rows(case, seed, kills, outcome)


def _crash_rows(case: str, seed: int, kills: int, outcome: str) -> None:
    folder = os.environ.get("POC_RELIABILITY_OUT")
    if folder:
        path = Path(folder) / "crashes.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(
                json.dumps({"case": case, "seed": seed, "kills": kills, "outcome": outcome}) + "\n"
            )


def _submitted(d: Any, job_id: int) -> bool:
    claim_id = d.market.job(job_id).current_claim
    return claim_id != 0 and d.market.claim(claim_id).submitted_at != 0


def _checked(log: Path, claim_id: int) -> bool:
    return any(
        str(rec.get("msg", "")).startswith(f"claim {claim_id}: correct") for rec in _log_lines(log)
    )
