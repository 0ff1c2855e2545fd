"""The provider daemon's replica role (docs/protocol.md 6.8) on the embedded chain: two
provider daemons take the seats of a replicated job, commit, reveal and are paid; with one of
them lying (the adversary of poc_lab, in tests only) the pair game is played by the daemons
themselves and the honest one wins it; with both lying alike they agree, and the watchtower
daemon catches them in the agreement window (node.roles.replica_watch), resuming after a
restart; a replica skips a job whose terms are unsafe. The poster's view of seats and the
providers' records come from node.roles.replica_client."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from roles_support import ETHER, TERMS, drive

from node.chain.abi import build_artifacts
from node.chain.contracts.replica_market import ReplicaJobState, SeatState
from node.chain.contracts.token import ETHER_ADDRESS
from node.roles.context import RoleContext
from node.roles.errors import NoReplicaMarket
from node.roles.examples import tiny_mlp
from node.roles.provider import Provider, ProviderPolicy
from node.roles.records import SeatWatchRecord, WatchStage
from node.roles.replica_client import (
    ReplicaOptions,
    post_replicated,
    provider_records,
    replica_status,
)
from node.roles.safety import DEVNET_FLOORS, GWEI
from node.roles.watchtower import Watchtower
from node.storage.local import LocalStore
from poc_lab.adversary import ProviderCheat, cheating_provider

ROOT = Path(__file__).resolve().parents[3]
ETHER_ASSET = "0x" + "00" * 20


@pytest.fixture(scope="module")
def replica_deployed(project: Any, accounts: Any) -> tuple[dict[str, str | None], dict[str, Any]]:
    d = accounts[0]
    floors = DEVNET_FLOORS
    stake = d.deploy(project.StakeManager, ETHER_ASSET)
    step = d.deploy(project.TensorStep)
    market = d.deploy(project.JobMarket, stake.address, floors.min_clock, floors.min_bond)
    game = d.deploy(project.DisputeGame, market.address, step.address, 4)
    market.setGame(game.address, sender=d)
    stake.setMarket(market.address, sender=d)
    replicas = d.deploy(project.ReplicaMarket, stake.address, floors.min_clock, floors.min_bond)
    rgame = d.deploy(project.DisputeGame, replicas.address, step.address, 4)
    replicas.setGame(rgame.address, sender=d)
    stake.setReplicaMarket(replicas.address, sender=d)
    built = build_artifacts(ROOT / ".build")
    names = ("JobMarket", "StakeManager", "DisputeGame", "TensorStep", "ReplicaMarket")
    addresses: dict[str, str | None] = {
        "job_market": market.address, "stake_manager": stake.address, "dispute_game": game.address,
        "tensor_step": step.address, "replica_market": replicas.address, "replica_game": rgame.address,
    }  # fmt: skip
    return addresses, {n: built[n].abi for n in names}


@pytest.fixture
def rctx(chain: Any, accounts: Any, tmp_path: Path, replica_deployed: tuple) -> Any:
    addresses, abis = replica_deployed
    store = LocalStore(tmp_path / "store")
    made: list[RoleContext] = []

    def make(index: int, name: str, with_replicas: bool = True) -> RoleContext:
        acct = Account.from_key(accounts[index].private_key)
        addr = (
            addresses
            if with_replicas
            else {k: v for k, v in addresses.items() if "replica" not in k}
        )
        ctx = RoleContext.build(chain.provider.web3, acct, store, tmp_path / name, addr, abis)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


OPTIONS = ReplicaOptions(replicas=2, reveal_window=600)
W0 = dataclasses.replace(TERMS, challenge_window=0)


def _post(rctx: Any, terms: Any = W0, options: ReplicaOptions = OPTIONS) -> tuple[RoleContext, int]:
    poster = rctx(1, "poster")
    spec, data = tiny_mlp(seed=0)
    return poster, post_replicated(poster, spec, data, terms, options)


def _staked(provider: Provider) -> Provider:
    provider.stake(ETHER)
    return provider


def test_two_honest_replicas_are_paid_at_the_last_reveal(chain: Any, rctx: Any) -> None:
    poster, job_id = _post(rctx)
    a, b = _staked(Provider(rctx(2, "a"))), _staked(Provider(rctx(3, "b")))
    market = poster.deployment.replicas
    assert market is not None
    balances = {p: chain.provider.web3.eth.get_balance(p.ctx.address) for p in (a, b)}
    drive(chain, [a, b], lambda: market.job(job_id).state == ReplicaJobState.FINALIZED, rounds=6)
    status = replica_status(poster, job_id)
    assert (
        status["state"] == "finalized" and [s["stage"] for s in status["seats"]] == ["accepted"] * 2
    )
    assert len({s["s_n"] for s in status["seats"]}) == 1
    for p in (a, b):
        p.tick()  # one more tick withdraws the share
        assert market.credits(p.ctx.address) == 0
        assert market.record_of(p.ctx.address).accepted >= 1
    records = {r["provider"]: r for r in provider_records(poster)}
    assert records[a.ctx.address]["accepted"] >= 1 and records[b.ctx.address]["rejected"] == 0
    # each got its share (less gas, which is far below it)
    share = TERMS.reward // 2
    for p in (a, b):  # the ledger has the share and its withdrawal, once each
        p.tick()  # scans the withdrawal
        (totals,) = p.ledger.summary()["totals"].values()
        assert (totals["reward"], totals["withdrawn"]) == (share, share), totals
        assert totals["net"] == share - totals["gas"]
    for p in (a, b):
        assert chain.provider.web3.eth.get_balance(p.ctx.address) > balances[p] + share // 2


def test_a_lying_replica_loses_its_pair_game_to_the_honest_daemon(chain: Any, rctx: Any) -> None:
    poster, job_id = _post(rctx)
    market = poster.deployment.replicas
    assert market is not None
    liar = _staked(cheating_provider(rctx(2, "liar"), ProviderCheat("op")))
    honest = _staked(Provider(rctx(3, "honest")))
    drive(chain, [liar, honest], lambda: market.job(job_id).state == ReplicaJobState.FINALIZED,
          rounds=60, seconds_per_round=5)  # fmt: skip
    seats = {market.seat(s).provider: market.seat(s) for s in market.seats_of(job_id)}
    assert seats[honest.ctx.address].state == SeatState.ACCEPTED
    assert seats[liar.ctx.address].state == SeatState.REJECTED
    assert market.pair_games(job_id), "the disagreement was settled by a pair game"
    assert market.record_of(liar.ctx.address).slashed >= TERMS.required_stake
    # the ledgers: the liar's seat lock slashed, the honest replica's bounty out of it
    liar.tick()
    honest.tick()
    lost = liar.ledger.summary()["totals"][ETHER_ADDRESS]
    assert lost["slashed"] == market.record_of(liar.ctx.address).slashed
    won = honest.ledger.summary()["totals"][ETHER_ADDRESS]
    assert won["bounty"] > 0 and "slashed" not in won and won["reward"] > 0
    stages = [s["stage"] for s in replica_status(poster, job_id)["seats"]]
    assert sorted(stages) == ["accepted", "rejected"]


def test_a_provider_skips_a_job_it_is_not_eligible_for(chain: Any, rctx: Any) -> None:
    a = _staked(Provider(rctx(2, "a")))
    listed = ReplicaOptions(replicas=2, reveal_window=600, allow=(rctx(3, "b").address,))
    poster, job_id = _post(rctx, options=listed)
    market = poster.deployment.replicas
    assert market is not None
    a.tick()
    assert all(market.seat(s).provider != a.ctx.address for s in market.seats_of(job_id))
    assert market.eligible(job_id, a.ctx.address) == 1


def test_without_a_replica_market_the_client_says_so(rctx: Any) -> None:
    poster = rctx(1, "poster-plain", with_replicas=False)
    with pytest.raises(NoReplicaMarket, match="no replica market"):
        replica_status(poster, 1)


def test_cli_posts_a_replicated_job_shows_its_seats_and_lists_records(
    chain: Any, rctx: Any, capsys: Any, monkeypatch: Any
) -> None:
    """`poc job post --replicas 2`, `poc job status --replicated`, `poc provider list`."""
    import json

    from poc_cli_support import poc

    poster = rctx(1, "cli-poster")
    monkeypatch.setattr(RoleContext, "from_settings", classmethod(lambda cls, *a, **k: poster))
    ran = poc(capsys, monkeypatch, "job", "post", "--example", "tiny-mlp", "--replicas", "2",
              "--reveal-window", "600", "--agreement-window", "0", "--execute-within", "900", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    job_id = json.loads(ran.out)["job_id"]
    market = poster.deployment.replicas
    assert market is not None and market.job(job_id).replicas == 2
    assert market.job(job_id).params.challenge_window == 0
    a = _staked(Provider(rctx(2, "cli-a")))
    a.tick()
    ran = poc(capsys, monkeypatch, "job", "status", "--replicated", str(job_id))
    assert ran.code == 0, ran.err
    assert f"replicated job {job_id}: open, 2 replicas" in ran.out
    assert f"{a.ctx.address}: committed" in ran.out
    ran = poc(capsys, monkeypatch, "provider", "list", "--json")
    assert ran.code == 0, ran.err
    rows = {r["provider"]: r for r in json.loads(ran.out)["providers"]}
    assert a.ctx.address in rows and rows[a.ctx.address]["expired"] == 0


def test_replicas_lying_alike_are_caught_by_a_watchtower_in_the_window(
    chain: Any, rctx: Any
) -> None:
    """r = 2, both replicas lie the same way: they agree, the job enters its agreement window W,
    and the watchtower challenges each seat in W and wins both games (it is restarted from its
    state folder mid-game); both liars are slashed and the job reopens."""
    poster, job_id = _post(rctx, terms=TERMS)  # W = 600 s
    market = poster.deployment.replicas
    assert market is not None
    liars = [_staked(cheating_provider(rctx(i, f"liar{i}"), ProviderCheat("op"))) for i in (2, 3)]
    tower = Watchtower(rctx(4, "tower"))
    w3 = chain.provider.web3
    before = w3.eth.get_balance(tower.ctx.address)

    def seats() -> dict[int, SeatWatchRecord]:
        return SeatWatchRecord.all(tower.ctx.state)

    drive(chain, [*liars, tower], lambda: any(r.stage == WatchStage.PLAYING for r in seats().values()),
          rounds=10, seconds_per_round=5)  # fmt: skip
    assert market.job(job_id).state == ReplicaJobState.WINDOW  # they agreed: only W is left
    assert len(seats()) == 2 and len({r.s_n for r in seats().values()}) == 1
    tower = Watchtower(rctx(4, "tower"))  # a restart: the records and the scan resume
    drive(chain, [*liars, tower], lambda: all(r.stage == WatchStage.DONE for r in seats().values()),
          rounds=60, seconds_per_round=5)  # fmt: skip
    for seat_id, rec in seats().items():
        assert market.seat(seat_id).state == SeatState.REJECTED, rec
        assert rec.reason is not None and rec.reason.startswith("won games")
    for liar in liars:
        record = market.record_of(liar.ctx.address)
        assert record.rejected == 1 and record.slashed >= 2 * TERMS.required_stake // 2
    assert market.job(job_id).state == ReplicaJobState.OPEN  # no replica was honest
    tower.tick()  # withdraws what is left
    # two bonds back and half of each game's backing (the other half of the liar's free stake)
    bounty = 2 * (TERMS.required_stake // 2)
    assert w3.eth.get_balance(tower.ctx.address) > before + bounty // 2
    # the ledgers: each game's bounty to the tower; each liar's seat lock and game backing lost
    for daemon in (tower, *liars):
        daemon.tick()
    paid = tower.ledger.summary()["totals"][ETHER_ADDRESS]
    assert paid["bounty"] == bounty and "bond_lost" not in paid, paid
    for liar in liars:
        lost = liar.ledger.summary()["totals"][ETHER_ADDRESS]
        assert lost["lost"] == market.record_of(liar.ctx.address).slashed, lost
        assert lost["backing_lost"] > 0 and lost["slashed"] > 0
    assert "replica_seats" in tower.status() and len(tower.status()["replica_seats"]) == 2


def test_a_replica_skips_a_job_whose_terms_are_unsafe(
    chain: Any, rctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock so small that half of it (what a disagreeing replica forfeits to the winner of a
    pair game) does not pay a defence at 1 gwei: the replica does not take a seat, and says why."""
    poster, job_id = _post(rctx, terms=dataclasses.replace(W0, required_stake=10**12))
    market = poster.deployment.replicas
    assert market is not None
    a = _staked(Provider(rctx(2, "unsafe"), ProviderPolicy(gas_price=GWEI, block_time=1.0)))
    with caplog.at_level("INFO", logger="node.roles.replica"):
        a.tick()
        a.tick()
    assert all(market.seat(s).provider != a.ctx.address for s in market.seats_of(job_id))
    said = [r.getMessage() for r in caplog.records if f"job {job_id}" in r.getMessage()]
    assert any("unsafe terms" in m and "a pair game against a liar" in m for m in said), said
    assert sum("refused" in m for m in said) == 1, said  # judged once, not on every tick
