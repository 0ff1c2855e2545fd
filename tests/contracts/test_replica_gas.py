"""Gas of every ReplicaMarket call on the embedded chain (docs/economics.md, replicated mode):
printed with -s, and bounded so that a regression shows. The figures in the docs are these."""

from __future__ import annotations

import pytest
from conftest import BOND, STAKE, deploy_system, job_params
from contracts_trace import Trace, play_traces
from replicas import commit, deploy_replicas, pair_games, post, reveal, seat, terms

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

GAS: dict[str, int] = {}


@pytest.fixture(scope="module")
def rep(project, accounts):  # noqa: ANN001, ANN201
    return deploy_replicas(project, deploy_system(project, accounts[0]))


def _gas(name: str, receipt) -> None:  # noqa: ANN001
    GAS[name] = int(receipt.gas_used)


def _round(
    rep, chain, accounts, replicas: int, window: int, traces: list[Trace], tag: str
) -> tuple:  # noqa: ANN001
    poster = accounts[1]
    p_before = int(rep.market.jobCount())
    post(rep, poster, traces[0], chain, replicas=replicas, window=window)
    job = p_before + 1
    ids = []
    for i in range(replicas):
        acct = accounts[2 + i]
        free = int(rep.stake.freeStake(acct))
        if free < 2 * STAKE:
            rep.stake.deposit(value=2 * STAKE - free, sender=acct)
        receipt = rep.market.claim(job, sender=acct)
        _gas(f"claim ({tag}, seat {i + 1})", receipt)
        ids.append(int(rep.market.seatCount()))
    for i, sid in enumerate(ids):
        _gas(f"commit ({tag})", commit(rep, sid, accounts[2 + i], traces[i]))
    last = None
    for i, sid in enumerate(ids):
        last = reveal(rep, sid, accounts[2 + i], traces[i])
        _gas(f"reveal ({tag}, {'last' if i == len(ids) - 1 else 'not last'})", last)
    return job, ids, last


def test_gas_of_each_call(rep, chain, accounts, honest_trace):  # noqa: ANN001
    liar = Trace(honest_trace.program, honest_trace.values, corrupt=(3, 7, 1))
    p = job_params(honest_trace, chain, challengeWindow=0)
    _gas(
        "post (r=2)", rep.market.post(p, terms(2), "ipfs://spec", value=10**17, sender=accounts[1])
    )
    # all honest, W = 0: the last reveal tallies and finalizes
    _round(rep, chain, accounts, 2, 0, [honest_trace] * 2, "r=2 agree W=0")
    _round(rep, chain, accounts, 3, 0, [honest_trace] * 3, "r=3 agree W=0")
    # W > 0: finalize after the window; a watch game on one seat
    job, ids, _ = _round(rep, chain, accounts, 2, 120, [honest_trace] * 2, "r=2 agree W=120")
    _gas(
        "challenge (watch game)", rep.market.challenge(job, ids[0], value=BOND, sender=accounts[7])
    )
    gid = int(rep.game.gameCount())
    res = play_traces(
        rep.game, gid, honest_trace, liar, (accounts[2], accounts[7], accounts[4]), chain
    )
    GAS["watch game, all moves of both sides"] = sum(sum(v) for v in res.gas.values())
    chain.pending_timestamp = chain.pending_timestamp + 121
    _gas("finalize (r=2)", rep.market.finalize(job, sender=accounts[4]))
    # one liar of two: the last reveal opens one pair game
    job, ids, last = _round(rep, chain, accounts, 2, 0, [honest_trace, liar], "r=2 disagree")
    ((gid, _, _),) = pair_games(rep, last)
    res = play_traces(
        rep.game, gid, honest_trace, liar, (accounts[2], accounts[3], accounts[4]), chain
    )
    GAS["pair game, all moves of both sides (incl. settlement)"] = sum(
        sum(v) for v in res.gas.values()
    )
    # one liar of three: two pair games
    _round(rep, chain, accounts, 3, 0, [honest_trace, liar, honest_trace], "r=3 disagree")
    # silence: tally after the reveal window
    job = int(rep.market.jobCount()) + 1
    post(rep, accounts[1], honest_trace, chain, replicas=2)
    sa = seat(rep, job, accounts[2])
    seat(rep, job, accounts[3])  # takes its seat and stays silent
    commit(rep, sa, accounts[2], honest_trace)
    chain.pending_timestamp = chain.pending_timestamp + 901
    reveal(rep, sa, accounts[2], honest_trace)
    chain.pending_timestamp = chain.pending_timestamp + 601
    _gas("tally (one seat expired, W>0)", rep.market.tally(job, sender=accounts[4]))
    _gas("withdraw", rep.market.withdraw(sender=accounts[2]))
    for k, v in GAS.items():
        print(f"GAS | {k} | {v:,} |")
    assert GAS["commit (r=2 agree W=0)"] < 60_000
    assert GAS["reveal (r=2 agree W=0, last)"] < 400_000
    assert GAS["reveal (r=2 disagree, last)"] < 600_000
