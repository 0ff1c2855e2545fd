"""`--executor ray` (node/compute/fleet.py) on a local Ray started by these tests: executions
and trace queries leave the daemon's process for Ray workers, and come back bit-identical to the
local ones; a worker killed (SIGKILL) in the middle of an execution, or under a game's trace, is
replaced and the work retried, so the job is still claimed right and the game still won. The
daemons run in this process on the session anvil (one process holds the key)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roles_helpers import advance

from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.rpc import connect
from node.compute.config import ComputeConfig
from node.compute.fleet import RayFleet, RemoteTrace, execute_claim
from node.devnet.anvil import AnvilNode
from node.game.rules import GameStatus
from node.roles.client import JobClient, JobTerms
from node.roles.examples import random_mlp, tiny_mlp
from node.roles.localnet import LocalScenario
from node.roles.provider import Provider, ProviderPolicy
from node.roles.watchtower import WatchPolicy, Watchtower
from node.trace.lazy import TraceProvider, TraceQueryError
from poc_lab.adversary import ProviderCheat, cheating_provider, lying_trace

pytestmark = pytest.mark.integration
ETHER = 10**18
TERMS = JobTerms(
    ETHER // 10, ETHER // 2, ETHER // 50, execute_within=600, challenge_window=120, clock=600
)
RAY = ProviderPolicy(executor="ray", block_time=1.0, gas_price=10**9)


@pytest.fixture(scope="module")
def fleet() -> Iterator[RayFleet]:
    pytest.importorskip("ray")
    f = RayFleet("local", num_cpus=2)
    yield f
    f.shutdown()


@pytest.fixture(scope="module")
def scenario(anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sc = LocalScenario(tmp_path_factory.mktemp("fleet"), connect(anvil_node.rpc_url))
    yield sc
    sc.close()


def _ray_pids(title: str) -> list[int]:
    """Processes whose title (set by Ray: `ray::<task or actor>`) starts with `title`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(title):
                pids.append(int(entry.name))
    return pids


class Killer:
    """Kills (SIGKILL) the first process titled `title` that appears, `times` times."""

    def __init__(self, title: str, times: int = 1) -> None:
        self.title, self.times = title, times
        self.killed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.02) and len(self.killed) < self.times:
            for pid in _ray_pids(self.title):
                if pid not in self.killed:
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
                    break


def test_an_execution_on_the_fleet_is_the_local_one_bit_for_bit(fleet: RayFleet) -> None:
    spec, data = random_mlp((128, 256, 256, 32), rows=16, seed=3)
    inputs = spec.input_values(data)
    cfg = ComputeConfig()
    assert fleet.claim(spec, inputs, cfg) == execute_claim(spec, inputs, cfg)
    assert "CPUs" in fleet.describe()


def test_trace_queries_on_the_fleet_answer_as_the_local_trace(fleet: RayFleet) -> None:
    spec, data = tiny_mlp(seed=4)
    prog = spec.program
    inputs = dict(enumerate(spec.input_values(data)))
    remote = fleet.trace(prog, inputs, ComputeConfig())
    local = TraceProvider(prog, inputs, ComputeConfig())
    assert isinstance(remote, RemoteTrace)
    n = len(prog.ops)
    for i in range(n + 1):
        assert remote.state_root(i) == local.state_root(i)
    out = prog.output_slot
    assert remote.state_proof(n, out) == local.state_proof(n, out)
    assert (remote.values(out) == local.values(out)).all()
    assert remote.partial_sums(0, 0, 1) == local.partial_sums(0, 0, 1)
    assert remote.children(out, 2, 0, 1) == local.children(out, 2, 0, 1)
    # a query the trace refuses raises the trace's own error, as in process
    with pytest.raises(TraceQueryError, match="cannot go 2 levels below level 1"):
        remote.children(out, 1, 0, 2)


def test_a_worker_killed_mid_execution_is_replaced_and_the_claim_is_the_same(
    fleet: RayFleet,
) -> None:
    """A job big enough to be caught running (about a second on this CPU): the worker that runs
    it is killed; Ray retries the task on another worker."""
    spec, data = random_mlp((1024, 1024, 1024, 32), rows=256, seed=5)
    inputs = spec.input_values(data)
    cfg = ComputeConfig()
    with Killer("ray::execute_claim") as killer:
        got = fleet.claim(spec, inputs, cfg)
    assert killer.killed, "the execution finished before its worker could be killed"
    assert got == execute_claim(spec, inputs, cfg)


def test_provider_on_the_fleet_is_paid_and_defends_through_a_lost_trace_worker(
    fleet: RayFleet, scenario: Any
) -> None:
    """The provider daemon executes on the fleet; a watchtower that believes a wrong result
    challenges it; the actor holding the provider's trace is killed during the game: restarted
    on another worker, it answers the same, and the provider wins and is paid."""
    sc = scenario
    provider = Provider(sc.ctx(2, "fleet-provider"), RAY)
    assert provider.fleet is not None and "ray" in provider.describe()
    tower = Watchtower(sc.ctx(3, "fleet-tower"), trace_factory=lying_trace(ProviderCheat("op")))
    provider.stake(ETHER)
    job_id = JobClient(sc.ctx(1, "fleet-poster")).post(*tiny_mlp(seed=8), TERMS)
    d = provider.ctx.deployment

    def game() -> int | None:
        claim_id = d.market.job(job_id).current_claim
        games = d.market.games_of_claim(claim_id) if claim_id else []
        return games[0] if games else None

    for _ in range(20):
        provider.tick()
        tower.tick()
        if game() is not None:
            break
    game_id = game()
    assert game_id is not None, "the watchtower never challenged"
    with Killer("ray::TraceHost") as killer:
        deadline = time.monotonic() + 120
        while d.game_view(game_id).active and time.monotonic() < deadline:
            provider.tick()
            tower.tick()
    assert killer.killed, "no trace actor was found to kill"
    assert d.game_view(game_id).status == GameStatus.PROVIDER_WON
    advance(sc.w3, TERMS.challenge_window + 1)
    for _ in range(10):
        provider.tick()
        if d.market.job(job_id).state == JobState.FINALIZED:
            break
    assert d.market.job(job_id).state == JobState.FINALIZED


def test_watchtower_on_the_fleet_catches_a_liar(fleet: RayFleet, scenario: Any) -> None:
    """The watchtower's re-execution and its side of the game run on the fleet: a provider
    that lies in one op is challenged and loses, its claim rejected."""
    sc = scenario
    liar = cheating_provider(sc.ctx(4, "fleet-liar"), ProviderCheat("op", op_index=1))
    tower = Watchtower(
        sc.ctx(5, "fleet-tower-ray"),
        WatchPolicy(executor="ray", block_time=1.0),
    )
    assert tower.fleet is not None
    liar.stake(ETHER)
    job_id = JobClient(sc.ctx(1, "fleet-poster")).post(*tiny_mlp(seed=9), TERMS)
    market = liar.ctx.deployment.market
    deadline = time.monotonic() + 180
    claim_id = 0
    while time.monotonic() < deadline:
        liar.tick()
        tower.tick()
        claim_id = claim_id or market.job(job_id).current_claim  # the first claim, the lie
        if claim_id and market.claim(claim_id).state == ClaimState.REJECTED:
            break
    assert claim_id and market.claim(claim_id).state == ClaimState.REJECTED


def test_an_unknown_executor_or_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from node.config.settings import ConfigError
    from node.roles.daemon import RoleDaemon

    with pytest.raises(ConfigError, match="executor 'gpu-farm': local or ray"):
        RoleDaemon._fleet(dataclasses.replace(RAY, executor="gpu-farm"))


def test_poc_provider_run_executor_ray_says_where_it_executes(
    protocol_deployment: Any, anvil_snapshot: Any, ipfs_node: Any, tmp_path: Path
) -> None:
    """The operator's command line: `poc provider run --executor ray` starts a Ray of its own
    (no --ray-address) and names it in its start line; an address where no cluster answers is
    refused with the reason."""
    from daemon_net import DaemonNet
    from roles_helpers import poc

    net = DaemonNet(
        connect(protocol_deployment.rpc_url), tmp_path, protocol_deployment, ipfs_node.api_addr
    )
    cfg = net.config("provider", 2)
    ran = poc(["provider", "run", "--once", "--executor", "ray"], cfg, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert "executing on ray local (1 node(s)" in ran.stderr + ran.stdout
    bad = poc(
        ["provider", "run", "--once", "--executor", "ray", "--ray-address", "127.0.0.1:9"],
        cfg,
        timeout=180,
    )
    assert bad.returncode == 3 and "no Ray cluster at '127.0.0.1:9'" in bad.stderr
