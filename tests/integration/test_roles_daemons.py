"""The roles on a real anvil and a real IPFS node: `poc provider run` and `poc watch run` as
subprocess daemons, SIGKILLed mid-game and restarted; bad inputs that must cost nothing."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from roles_helpers import advance, daemon, lab, poc, role_config, wait_for

from node.chain.abi import protocol_abis as load_abis
from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.rpc import connect
from node.game.rules import GameStatus, Phase
from node.roles.client import JobClient, JobTerms
from node.roles.context import RoleContext
from node.roles.examples import tiny_mlp
from node.roles.localnet import deploy_local, dev_account
from node.roles.package import JobPackage
from node.roles.provider import Provider, ProviderPolicy
from node.storage.ipfs import IpfsStore

pytestmark = pytest.mark.integration
ETHER = 10**18
TERMS = JobTerms(
    ETHER // 10, ETHER // 2, ETHER // 50, execute_within=600, challenge_window=120, clock=300
)


@dataclass
class Net:
    w3: Any
    rpc_url: str
    ipfs_api: str
    contracts: dict[str, str]
    start_block: int
    abis: dict[str, Any]

    def ctx(self, index: int, folder: Path) -> RoleContext:
        return RoleContext.build(
            self.w3,
            dev_account(index),
            IpfsStore(self.ipfs_api, 5.0),
            folder,
            dict(self.contracts),
            self.abis,
            self.start_block,
        )

    def config(self, folder: Path, index: int, **over: Any) -> Path:
        rpc_url = over.pop("rpc_url", self.rpc_url)
        return role_config(
            folder, index, rpc_url, self.ipfs_api, self.contracts, self.start_block, **over
        )


@pytest.fixture(scope="session")
def net_session(anvil_node: Any, ipfs_node: Any) -> Net:
    w3 = connect(anvil_node.rpc_url)
    local = deploy_local(w3, dev_account(0))
    return Net(
        w3,
        anvil_node.rpc_url,
        ipfs_node.api_addr,
        dict(local.deployment.addresses),
        local.deployment.block,
        load_abis(local.abi_dir),
    )


@pytest.fixture
def net(net_session: Net, anvil_snapshot: Any) -> Iterator[Net]:
    yield net_session


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            _kill(proc)


@dataclass
class Dispute:
    """A tiny job on the chain, `poc provider run` (account 2) and `poc watch run` (account 3)
    as daemons, and the game the watchtower opened on the provider's claim."""

    client: JobClient
    job_id: int
    claim_id: int
    game_id: int
    daemons: dict[str, tuple[list[str], Path, Path, list[str] | None]]  # args, config, log, cmd
    procs: dict[str, subprocess.Popen[bytes]]

    def config(self, role: str) -> Path:
        return self.daemons[role][1]

    def start(self, role: str) -> None:
        args, cfg, log, command = self.daemons[role]
        self.procs[role] = daemon(args, cfg, log, command)

    def restart_killed(self, role: str) -> None:
        """SIGKILL the role's daemon and start it again on the same data folder."""
        _kill(self.procs[role])
        self.start(role)

    def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        wait_for(cond, timeout, what, list(self.procs.values()))


@contextmanager
def disputed_job(
    net: Net,
    tmp_path: Path,
    seed: int,
    provider_lab: list[str] | None = None,
    tower_lab: list[str] | None = None,
) -> Iterator[Dispute]:
    """Posts tiny_mlp(seed), stakes the provider, starts both daemons (an adversary from
    poc_lab where `*_lab` says) and yields once the game is open; stops the daemons on exit."""
    client = JobClient(net.ctx(1, tmp_path / "poster"))
    job_id = client.post(*tiny_mlp(seed=seed), TERMS)
    prov_cfg = net.config(tmp_path / "provider", 2)
    tower_cfg = net.config(tmp_path / "tower", 3)
    assert poc(["provider", "stake", "1"], prov_cfg).returncode == 0
    d = client.ctx.deployment
    dispute = Dispute(
        client,
        job_id,
        0,
        0,
        {
            "provider": (["provider", "run"], prov_cfg, tmp_path / "provider.log", provider_lab),
            "tower": (["watch", "run"], tower_cfg, tmp_path / "tower.log", tower_lab),
        },
        {},
    )
    try:
        dispute.start("provider")
        dispute.start("tower")
        dispute.wait_for(
            lambda: (
                d.market.job(job_id).current_claim != 0
                and d.market.games_of_claim(d.market.job(job_id).current_claim) != []
            ),
            90,
            "a challenge",
        )
        dispute.claim_id = d.market.job(job_id).current_claim
        (dispute.game_id,) = d.market.games_of_claim(dispute.claim_id)
        yield dispute
    finally:
        for proc in dispute.procs.values():
            _stop(proc)


def test_provider_killed_mid_game_restarts_and_wins(net: Net, tmp_path: Path) -> None:
    with disputed_job(net, tmp_path, 0, tower_lab=lab("--tower", "false-challenge")) as x:
        d, game_id = x.client.ctx.deployment, x.game_id
        x.wait_for(
            lambda: d.game_view(game_id).phase.order >= Phase.OP_OPEN.order, 60, "the opening"
        )
        x.restart_killed("provider")
        x.wait_for(lambda: not d.game_view(game_id).active, 90, "the game's end")
        assert d.game_view(game_id).status == GameStatus.PROVIDER_WON
        advance(net.w3, TERMS.challenge_window + 1)
        x.wait_for(lambda: d.market.job(x.job_id).state == JobState.FINALIZED, 60, "finalization")
        x.wait_for(lambda: d.market.credits(dev_account(2).address) == 0, 30, "the withdrawal")
    assert d.stake.free_stake(dev_account(2).address) == ETHER
    res = x.client.result(x.job_id)
    assert res.output.shape == (3, 32)


def test_watchtower_killed_mid_game_restarts_and_wins(net: Net, tmp_path: Path) -> None:
    with disputed_job(net, tmp_path, 2, provider_lab=lab("--provider-cheat", "element")) as x:
        d, game_id = x.client.ctx.deployment, x.game_id
        x.wait_for(
            lambda: d.game_view(game_id).phase.order >= Phase.TENSOR_REVEAL.order,
            60,
            "tensor level",
        )
        x.restart_killed("tower")
        x.wait_for(
            lambda: d.market.claim(x.claim_id).state == ClaimState.REJECTED, 90, "the rejection"
        )
        assert d.game_view(game_id).status == GameStatus.CHALLENGER_WON
        x.wait_for(
            lambda: d.market.credits(dev_account(3).address) == 0, 30, "the bounty withdrawal"
        )
    status = poc(["watch", "status", "--json"], x.config("tower"))
    assert status.returncode == 0 and '"done"' in status.stdout


def _post_raw(net: Net, tmp_path: Path, locator: str, seed_for_roots: int = 0) -> int:
    """Post a job whose on-chain roots come from tiny_mlp(seed_for_roots) but whose locator
    is whatever the test says."""
    ctx = net.ctx(1, tmp_path / "raw-poster")
    c = JobPackage(*tiny_mlp(seed=seed_for_roots)).commitments()
    d = ctx.deployment
    params = JobClient(ctx).params(c, replace(TERMS, claim_within=3600))
    receipt = ctx.send(d.market.post(params, locator, TERMS.reward))
    return d.market.posted_in(receipt)[0].job_id


def test_bad_jobs_are_refused_and_cost_nothing(net: Net, tmp_path: Path) -> None:
    store = IpfsStore(net.ipfs_api, 5.0)
    garbage = _post_raw(net, tmp_path, store.put(b"{not a job package"))
    # a real package, but of other data than the roots posted on chain
    other = JobPackage(*tiny_mlp(seed=5)).upload(store, tmp_path / "pkg")
    mismatched = _post_raw(net, tmp_path, other, seed_for_roots=0)
    missing = _post_raw(
        net, tmp_path, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    )
    not_a_cid = _post_raw(net, tmp_path, "ipfs://definitely not a cid")
    ctx = net.ctx(2, tmp_path / "provider")
    provider = Provider(ctx, ProviderPolicy(fetch_timeout=2.0))
    provider.stake(ETHER)
    provider.tick()
    jobs = provider.status()["jobs"]
    for job_id, words in (
        (garbage, "not"),
        (mismatched, "S_0"),
        (missing, "bafkrei"),
        (not_a_cid, "cid"),
    ):
        assert jobs[job_id]["stage"] == "refused", jobs[job_id]
        assert words.lower() in jobs[job_id]["reason"].lower(), jobs[job_id]["reason"]
        assert ctx.deployment.market.job(job_id).state == JobState.OPEN  # never claimed
    assert ctx.deployment.stake.free_stake(ctx.address) == ETHER  # nothing locked, nothing lost


def test_insufficient_stake_waits_without_claiming(net: Net, tmp_path: Path) -> None:
    client = JobClient(net.ctx(1, tmp_path / "poster"))
    job_id = client.post(*tiny_mlp(), TERMS)
    provider = Provider(net.ctx(4, tmp_path / "poor"))
    provider.tick()
    rec = provider.status()["jobs"][job_id]
    assert rec["stage"] == "new" and "free stake" in rec["note"]
    assert client.ctx.deployment.market.job(job_id).state == JobState.OPEN


def test_cli_errors_are_clear(net: Net, tmp_path: Path) -> None:
    cfg = net.config(tmp_path / "p", 2)
    (tmp_path / "p" / "password").write_text("wrong\n")
    bad_pw = poc(["provider", "status"], cfg)
    assert bad_pw.returncode == 4 and "wrong password" in bad_pw.stderr
    cfg2 = net.config(tmp_path / "q", 2, rpc_url="http://127.0.0.1:9")
    no_rpc = poc(["provider", "run", "--once"], cfg2)
    assert no_rpc.returncode == 7 and "unreachable" in no_rpc.stderr
    # the `poc` executable has no way to cheat: an adversary's option is an unknown option
    cheat = poc(["provider", "run", "--once", "--test-cheat", "op"], cfg)
    assert cheat.returncode == 2 and "no such option" in cheat.stderr.lower()


def test_job_cli_post_status_result(net: Net, tmp_path: Path) -> None:
    import json

    import numpy as np

    poster_cfg = net.config(tmp_path / "poster", 1)
    posted = poc(["job", "post", "--example", "tiny-mlp", "--window", "60", "--json"], poster_cfg)
    assert posted.returncode == 0, posted.stderr
    job_id = json.loads(posted.stdout)["job_id"]
    early = poc(["job", "result", str(job_id), "--out", str(tmp_path / "o.npy")], poster_cfg)
    assert early.returncode == 14 and "not finalized" in early.stderr
    provider = Provider(net.ctx(2, tmp_path / "provider"))
    provider.stake(ETHER)
    provider.tick()
    advance(net.w3, 61)
    provider.tick()
    st = poc(["job", "status", str(job_id), "--json"], poster_cfg)
    assert json.loads(st.stdout)["state"] == "finalized"
    # --watch --json: one JSON document; --watch into a pipe: the status as text lines
    watched = poc(["job", "status", str(job_id), "--watch", "--json"], poster_cfg)
    assert watched.returncode == 0 and json.loads(watched.stdout)["state"] == "finalized"
    piped = poc(["job", "status", str(job_id), "--watch"], poster_cfg)
    assert piped.returncode == 0 and f"job {job_id}" in piped.stdout
    # an id never posted is an error, also with --watch (which would otherwise wait forever)
    for extra in ([], ["--watch"]):
        unknown = poc(["job", "status", "999", *extra], poster_cfg, timeout=30)
        assert unknown.returncode == 16 and "job 999 does not exist" in unknown.stderr
    nowhere = poc(["job", "result", str(job_id), "--out", "/nonexistent/dir/x.npy"], poster_cfg)
    assert nowhere.returncode == 2 and "/nonexistent/dir does not exist" in nowhere.stderr
    out = tmp_path / "out.npy"
    res = poc(["job", "result", str(job_id), "--out", str(out), "--json"], poster_cfg)
    assert res.returncode == 0 and json.loads(res.stdout)["verified"] is True
    spec, data = tiny_mlp()
    from node.trace.lazy import provider_for_spec

    expected = provider_for_spec(spec, data).values(spec.program.output_slot)
    assert np.allclose(np.load(out), expected.astype(np.float64))

    # reading needs no key: status and result work from a config without a keystore
    reader = json.loads(poster_cfg.read_text())
    del reader["keystore"], reader["password_file"]
    reader["data_dir"] = str(tmp_path / "reader")
    reader_cfg = tmp_path / "reader.json"
    reader_cfg.write_text(json.dumps(reader))
    st = poc(["job", "status", str(job_id), "--json"], reader_cfg)
    assert st.returncode == 0 and json.loads(st.stdout)["state"] == "finalized", st.stderr
    res = poc(["job", "result", str(job_id), "--out", str(tmp_path / "r.npy")], reader_cfg)
    assert res.returncode == 0 and np.array_equal(np.load(tmp_path / "r.npy"), np.load(out))


def test_dispute_benchmark_runs_every_level(tmp_path: Path) -> None:
    from poc_lab.bench.dispute import mlp_case, report, run

    spec, data, cheat, about = mlp_case()
    res = run(tmp_path, spec, data, cheat)
    levels = [m.level for m in res["moves"]]  # type: ignore[attr-defined]
    assert {"execution", "opening", "tensor", "reduction", "step"} <= set(levels)
    assert levels[-2:] == ["step", "settle"]  # the payouts in their own transaction
    assert "| 1 | provider | `revealStates`" in report(res, about, "cmd", "Dispute")


def test_dispute_benchmark_over_a_training_job_ends_at_the_lied_update(tmp_path: Path) -> None:
    """The issue-15 figure's run (a few steps here): the lie in the last update is caught at
    that op's step, within a dozen provider moves."""
    from poc_lab.bench.dispute import run, training_case

    spec, data, cheat, _ = training_case(8)
    res = run(tmp_path, spec, data, cheat)
    moves = res["moves"]
    assert moves[-1].level == "settle"  # type: ignore[index]
    assert moves[-2].level == "step" and moves[-2].lo == cheat.op_index  # type: ignore[index]
    assert sum(m.side == "provider" for m in moves) <= 12  # type: ignore[attr-defined]
