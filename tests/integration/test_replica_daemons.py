"""Replicated jobs (docs/protocol.md 6.8) on a real anvil and a real IPFS node, with `poc
provider run` and `poc watch run` as subprocess daemons: r = 2 all honest (the watchtower
recomputes both seats in the agreement window and lets them be; finalized, both paid), and r = 3
with one liar (the poc_lab adversary: slashed by its pair games, the honest replicas paid at
the last game, the agreement window being 0)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from daemon_net import DaemonNet, daemons
from roles_helpers import advance, lab, poc, wait_for

from node.chain.contracts.replica_market import ReplicaJobState, SeatState
from node.chain.rpc import connect
from node.roles.client import JobTerms
from node.roles.examples import tiny_mlp
from node.roles.localnet import dev_account
from node.roles.replica_client import ReplicaOptions, post_replicated

pytestmark = pytest.mark.integration
ETHER = 10**18
TERMS = JobTerms(
    ETHER // 10, ETHER // 2, ETHER // 50, execute_within=600, challenge_window=0, clock=300
)


@pytest.fixture
def net(protocol_deployment: Any, anvil_snapshot: Any, ipfs_node: Any, tmp_path: Path) -> DaemonNet:
    w3 = connect(protocol_deployment.rpc_url)
    return DaemonNet(w3, tmp_path, protocol_deployment, ipfs_node.api_addr)


def _post(net: DaemonNet, replicas: int, terms: JobTerms) -> tuple[Any, int]:
    ctx = net.ctx(1, "poster")
    job_id = post_replicated(
        ctx, *tiny_mlp(seed=replicas), terms, ReplicaOptions(replicas, reveal_window=300)
    )
    market = ctx.deployment.replicas
    assert market is not None
    return market, job_id


def _balances(net: DaemonNet, indices: list[int]) -> dict[int, int]:
    return {i: net.w3.eth.get_balance(dev_account(i).address) for i in indices}


def test_two_honest_replicas_are_checked_by_the_watchtower_finalized_and_paid(
    net: DaemonNet,
) -> None:
    terms = dataclasses.replace(TERMS, challenge_window=120)  # W: the watchtower checks in it
    market, job_id = _post(net, 2, terms)
    roles = [("a", 2, ["provider", "run"], None), ("b", 3, ["provider", "run"], None),
             ("tower", 5, ["watch", "run"], None)]  # fmt: skip
    with daemons(net, roles) as procs:
        before = _balances(net, [2, 3])
        wait_for(lambda: market.job(job_id).state == ReplicaJobState.WINDOW, 60, "agreement",
                 procs)  # fmt: skip
        seats = market.seats_of(job_id)

        def checked() -> bool:
            ran = poc(["watch", "status", "--json"], net.config("tower", 5))
            got = json.loads(ran.stdout).get("replica_seats", {}) if ran.returncode == 0 else {}
            return [r["stage"] for r in got.values()] == ["correct", "correct"]

        wait_for(checked, 40, "the watchtower's checks", procs)
        assert market.watch_games(seats[0], dev_account(5).address) == []
        advance(net.w3, terms.challenge_window + 1)
        wait_for(lambda: market.job(job_id).state == ReplicaJobState.FINALIZED, 30,
                 "finalization", procs)  # fmt: skip
        wait_for(lambda: all(market.credits(dev_account(i).address) == 0 for i in (2, 3)), 30,
                 "the withdrawals", procs)  # fmt: skip
    assert [market.seat(s).state for s in seats] == [SeatState.ACCEPTED] * 2
    share = terms.reward // 2
    after = _balances(net, [2, 3])
    for i in (2, 3):
        assert market.record_of(dev_account(i).address).accepted == 1
        assert after[i] > before[i] + share // 2  # the share, less the gas of a few txs


def test_one_liar_of_three_is_slashed_by_its_pair_games_and_the_honest_are_paid(
    net: DaemonNet,
) -> None:
    market, job_id = _post(net, 3, TERMS)
    liar = lab("--provider-cheat", "op")
    roles = [("a", 2, ["provider", "run"], None), ("b", 3, ["provider", "run"], None),
             ("liar", 4, ["provider", "run"], liar)]  # fmt: skip
    with daemons(net, roles) as procs:
        before = _balances(net, [2, 3])
        wait_for(lambda: market.job(job_id).state == ReplicaJobState.FINALIZED, 90,
                 "the pair games and finalization", procs)  # fmt: skip
        wait_for(lambda: all(market.credits(dev_account(i).address) == 0 for i in (2, 3)), 30,
                 "the withdrawals", procs)  # fmt: skip
    by_provider = {market.seat(s).provider: market.seat(s) for s in market.seats_of(job_id)}
    assert by_provider[dev_account(4).address].state == SeatState.REJECTED
    assert market.pair_games(job_id), "the disagreement went to pair games"
    assert market.record_of(dev_account(4).address).slashed >= TERMS.required_stake
    after = _balances(net, [2, 3])
    for i in (2, 3):
        assert by_provider[dev_account(i).address].state == SeatState.ACCEPTED
        assert after[i] > before[i] + TERMS.reward // 3 // 2


@pytest.mark.parametrize("cheat", ["copy", "withhold"])
def test_a_copier_or_a_silent_replica_expires_and_the_honest_one_is_paid(
    net: DaemonNet, cheat: str
) -> None:
    """r = 2: the honest replica reveals; the other (a poc_lab adversary) either committed
    nothing real and tries to reveal the honest seat's S_N with its own salt (the commitment
    binds the committer's address: BadReveal), or committed its result and never reveals.
    Once reveals close, the round is tallied: that seat expires (a tenth of its lock to the
    poster) and the honest replica alone is accepted and paid."""
    market, job_id = _post(net, 2, TERMS)
    roles = [("a", 2, ["provider", "run"], None),
             ("cheat", 4, ["provider", "run"], lab("--replica", cheat))]  # fmt: skip
    with daemons(net, roles) as procs:
        wait_for(lambda: len(market.seats_of(job_id)) == 2, 60, "both seats", procs)
        by = {market.seat(s).provider: s for s in market.seats_of(job_id)}
        honest, cheater = by[dev_account(2).address], by[dev_account(4).address]
        wait_for(lambda: market.seat(honest).state == SeatState.REVEALED, 60, "the reveal", procs)
        if cheat == "copy":
            log = net.tmp / "cheat.log"
            wait_for(lambda: "does not match its commitment" in log.read_text(), 30,
                     "the copier's attempt refused", procs)  # fmt: skip
        assert market.seat(cheater).state == SeatState.COMMITTED
        before = _balances(net, [2])
        advance(
            net.w3, market.job(job_id).reveal_by - net.w3.eth.get_block("latest")["timestamp"] + 1
        )
        wait_for(lambda: market.job(job_id).state == ReplicaJobState.FINALIZED, 60,
                 "the tally and finalization", procs)  # fmt: skip
        wait_for(lambda: market.credits(dev_account(2).address) == 0, 30, "the withdrawal", procs)
    assert market.seat(cheater).state == SeatState.EXPIRED
    assert market.seat(honest).state == SeatState.ACCEPTED
    record = market.record_of(dev_account(4).address)
    assert record.expired == 1 and record.slashed > 0
    assert market.record_of(dev_account(2).address).accepted == 1
    assert _balances(net, [2])[2] > before[2] + TERMS.reward // 2 // 2


def test_replicas_lying_alike_are_caught_by_the_watchtower(net: DaemonNet) -> None:
    """r = 2, both replicas lie the same way (the same poc_lab cheat): their roots agree and
    the job enters its agreement window, where the watchtower recomputes, challenges both
    seats and wins both games; both liars are slashed and the job reopens."""
    terms = dataclasses.replace(TERMS, challenge_window=120)
    market, job_id = _post(net, 2, terms)
    liar = lab("--provider-cheat", "op")
    roles = [("l1", 2, ["provider", "run"], liar), ("l2", 3, ["provider", "run"], liar),
             ("tower", 5, ["watch", "run"], None)]  # fmt: skip
    with daemons(net, roles) as procs:
        wait_for(lambda: len(market.seats_of(job_id)) == 2, 60, "both seats", procs)
        seats = market.seats_of(job_id)
        wait_for(lambda: all(market.seat(s).state == SeatState.REJECTED for s in seats), 150,
                 "both liars rejected by the watch games", procs)  # fmt: skip
    tower = dev_account(5).address
    assert all(len(market.watch_games(s, tower)) == 1 for s in seats)
    assert len({market.seat(s).s_n for s in seats}) == 1, "the liars agreed"
    for i in (2, 3):
        record = market.record_of(dev_account(i).address)
        assert record.rejected == 1 and record.slashed >= TERMS.required_stake // 2
    assert market.job(job_id).state == ReplicaJobState.OPEN  # no replica was honest
