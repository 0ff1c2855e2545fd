"""Fixtures of the contract suite: the deployed system and a job helper.

Runs on ape's embedded chain (default) and on anvil (`--network ethereum:local:foundry`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from contracts_trace import Trace, sample_program

LOG2_ARITY = 4
ARITY = 1 << LOG2_ARITY
ETHER = 10**18
REWARD = ETHER // 10
STAKE = ETHER // 2
BOND = ETHER // 50
CLOCK = 3600
WINDOW = 600
EXECUTE = 900
# the market's deployment floors here: the old fixed clock floor, any positive bond (the suite
# posts bonds down to 1 wei); tests of the floors deploy their own market
MIN_CLOCK = 60
MIN_BOND = 1
ETHER_ASSET = "0x" + "00" * 20  # the asset address of an ether market (protocol.md 6.7)

FUZZ = os.environ.get("POC_FUZZ") == "1"


@dataclass
class System:
    stake: object
    step: object
    market: object
    game: object
    deployer: object


def deploy_system(
    project,  # noqa: ANN001
    deployer,  # noqa: ANN001
    log2_arity: int = LOG2_ARITY,
    min_clock: int = MIN_CLOCK,
    min_bond: int = MIN_BOND,
    asset: str = ETHER_ASSET,
) -> System:
    """The protocol on `asset`: ETHER_ASSET (address 0) or an ERC-20's address."""
    stake = deployer.deploy(project.StakeManager, asset)
    step = deployer.deploy(project.TensorStep)
    market = deployer.deploy(project.JobMarket, stake.address, min_clock, min_bond)
    game = deployer.deploy(project.DisputeGame, market.address, step.address, log2_arity)
    market.setGame(game.address, sender=deployer)
    stake.setMarket(market.address, sender=deployer)
    return System(stake, step, market, game, deployer)


def _account_fixture(name: str, index: int):  # noqa: ANN202
    @pytest.fixture(scope="session", name=name)
    def account(accounts):  # noqa: ANN001, ANN202
        return accounts[index]

    return account


def _part_fixture(name: str):  # noqa: ANN202
    @pytest.fixture(scope="session", name=name)
    def part(system):  # noqa: ANN001, ANN202
        return getattr(system, name)

    return part


# the named test accounts: deployer = accounts[0], poster = accounts[1], ...
deployer, poster, provider, challenger, anyone = (
    _account_fixture(name, i)
    for i, name in enumerate(("deployer", "poster", "provider", "challenger", "anyone"))
)


@pytest.fixture(scope="session")
def system(project, deployer) -> System:  # noqa: ANN001
    return deploy_system(project, deployer)


@pytest.fixture(scope="session")
def players(provider, challenger, anyone) -> tuple:  # noqa: ANN001
    """The three movers of a game, as play_traces takes them."""
    return provider, challenger, anyone


# the deployed contracts, one fixture each: system.stake, .market, .game, .step
stake, market, game, step = (_part_fixture(n) for n in ("stake", "market", "game", "step"))


@pytest.fixture(scope="session")
def honest_trace() -> Trace:
    prog, vals = sample_program(np.random.default_rng(1))
    return Trace(prog, vals)


def job_params(trace: Trace, chain, **over) -> tuple:  # noqa: ANN001
    p = trace.program
    d = {
        "programRoot": p.root,
        "s0": trace.states[0],
        "nInputs": p.n_inputs,
        "nOps": len(p.ops),
        "outputSlot": p.output_slot,
        "requiredStake": STAKE,
        "challengerBond": BOND,
        "claimBy": chain.pending_timestamp + 10 * 86400,
        "executeWithin": EXECUTE,
        "challengeWindow": WINDOW,
        "clock": CLOCK,
    }
    d.update(over)
    return tuple(d.values())


def post_job(market, poster, trace: Trace, chain, reward: int = REWARD, **over) -> int:  # noqa: ANN001
    market.post(job_params(trace, chain, **over), "ipfs://spec", value=reward, sender=poster)
    return int(market.jobCount())


def submit(market, provider, job_id: int, trace: Trace, uri: str = "ipfs://out"):  # noqa: ANN001, ANN201
    """`trace`'s result for `job_id` (S_N, output root and its proof); returns the receipt."""
    p = trace.program
    return market.submitResult(
        job_id,
        trace.states[-1],
        trace.slot_root(p.output_slot),
        trace.output_proof(p.output_slot),
        uri,
        sender=provider,
    )


def claimed_submitted(sys_: System, poster, provider, trace: Trace, chain, **over) -> int:  # noqa: ANN001
    """Posts a job for `trace`'s program (S_0 from the honest inputs), stakes, claims and submits
    `trace`'s result. Returns the job id."""
    job_id = post_job(sys_.market, poster, trace, chain, **over)
    if sys_.stake.freeStake(provider) < STAKE:
        sys_.stake.deposit(value=STAKE, sender=provider)
    sys_.market.claim(job_id, sender=provider)
    submit(sys_.market, provider, job_id, trace)
    return job_id


def open_game(sys_: System, job_id: int, challenger) -> int:  # noqa: ANN001
    sys_.market.challenge(job_id, value=BOND, sender=challenger)
    return int(sys_.game.gameCount())


def challenged(sys_: System, poster, players: tuple, trace: Trace, chain) -> tuple[int, int, int]:  # noqa: ANN001
    """A job with `trace`'s result submitted by players[0] and challenged by players[1]:
    (job id, claim id, game id)."""
    provider, challenger, _ = players
    job_id = claimed_submitted(sys_, poster, provider, trace, chain)
    claim_id = int(sys_.market.claimCount())
    return job_id, claim_id, open_game(sys_, job_id, challenger)


def balances_ok(sys_: System) -> None:
    m, s = sys_.market, sys_.stake
    assert m.balance == m.totalEscrow() + m.totalBonds() + m.totalCredits()
    assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()
