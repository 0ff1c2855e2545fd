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
