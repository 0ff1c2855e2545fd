"""Issue 11, F2 / I2 / P3: safe clocks and bonds.

The attack: a job with a short clock, challenged by a griefer that always picks segment 0 and
answers at once, while each honest provider move costs one 12 s block. On a 12 s chain the
honest provider used to lose by clock at the old fixed floor (60 s); at the floor `poc deploy`
derives for that chain it wins, the honest provider node refuses the short-clock job (with its
reason recorded) and the poster's client warns about it. The contract side (a clock or bond
below the deployed floors reverts) is in tests/contracts/test_market.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from roles_support import ETHER, TERMS, advance, drive

from node.chain.contracts.job_market import ClaimState
from node.game.rules import GameStatus
from node.roles import safety
from node.roles.client import JobClient
from node.roles.examples import random_mlp
from node.roles.provider import Provider, ProviderPolicy
from node.roles.records import ProviderStage
from poc_lab.adversary import false_challenger

BLOCK = 12  # seconds: an L1-like chain
SLOW_FLOORS = safety.deploy_floors(BLOCK, 10**9)  # what `poc deploy` derives for it: 648 s


def _job() -> tuple[Any, Any]:
    """An MLP whose first matmul (K = 1024, 32 output leaves) puts 8 provider moves on the
    segment-0 path: 1 execution reveal, the opening's two (v7), 2 tensor reveals, the leaf, 2 sum
    reveals."""
    return random_mlp((1024, 64, 32), rows=16, seed=3)


def _segment_zero(_view: Any, _disagrees: Any) -> int:
    return 0


def _play(chain: Any, make_ctx: Any, clock: int) -> GameStatus:
    """Post the job with `clock`, let an honest provider claim and submit, have a griefer
    challenge and play segment 0 instantly while every provider move costs one block."""
    spec, data = _job()
    terms = dataclasses.replace(TERMS, clock=clock)
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, terms)
    # a node that believes its chain is fast: it takes the job whatever the clock
    fast = ProviderPolicy(block_time=1.0)
    provider = Provider(make_ctx(2, "provider"), fast)
    provider.stake(ETHER)
    provider.tick()
    d = provider.ctx.deployment
    claim_id = d.market.job(job_id).current_claim
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED
    griefer = false_challenger(make_ctx(3, "griefer"), choose=_segment_zero)
    griefer.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    assert safety.JobCost.of(spec.program).moves >= 8
    advance(chain, BLOCK)  # the provider's first answer lands one block after the challenge
    # per round: the provider answers (one block after the griefer's move), the griefer at once
    drive(
        chain,
        [provider, griefer],
        lambda: not d.game_view(game_id).active,
        rounds=60,
        seconds_per_round=BLOCK,
    )
    return d.game_view(game_id).status


def test_attack_old_floor_60s_clock_beats_an_honest_provider_on_12s_blocks(
    chain: Any, make_ctx: Any
) -> None:
    """The replay of F2: at 60 s (the old fixed MIN_CLOCK, still accepted by a market deployed
    for 1 s blocks) the honest provider's moves outlast its clock and the griefer wins."""
    assert _play(chain, make_ctx, 60) == GameStatus.CHALLENGER_WON


def test_at_the_deployed_floor_the_honest_provider_wins(chain: Any, make_ctx: Any) -> None:
    assert SLOW_FLOORS.min_clock == 648
    assert _play(chain, make_ctx, SLOW_FLOORS.min_clock) == GameStatus.PROVIDER_WON


def test_provider_node_refuses_a_short_clock_and_records_why(chain: Any, make_ctx: Any) -> None:
    spec, data = _job()
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, dataclasses.replace(TERMS, clock=60))
    provider = Provider(make_ctx(2, "provider"), ProviderPolicy(block_time=BLOCK))
    provider.stake(ETHER)
    provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.REFUSED
    assert rec.reason is not None and "clock 60 s < " in rec.reason
    assert provider.ctx.deployment.market.job(job_id).current_claim == 0  # never claimed
    shown = provider.status()["jobs"][job_id]  # what `poc provider status` prints
    assert shown["stage"] == "refused" and "clock" in shown["reason"]


def test_provider_node_refuses_a_bond_below_a_defence(chain: Any, make_ctx: Any) -> None:
    spec, data = _job()
    terms = dataclasses.replace(TERMS, clock=SLOW_FLOORS.min_clock, challenger_bond=2 * 10**15)
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, terms)
    # above the market's minimum (0.0018 ETH) but at 30 gwei a defence of 8 moves (the
    # opening's two within 200k gas) costs 0.024 ETH (800k gas), and twice that is asked for
    policy = ProviderPolicy(block_time=BLOCK, gas_price=30 * 10**9)
    provider = Provider(make_ctx(2, "provider"), policy)
    provider.stake(ETHER)
    provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.REFUSED
    assert rec.reason is not None and "challenger bond" in rec.reason
    assert "clock" not in rec.reason


def test_safe_terms_are_taken(chain: Any, make_ctx: Any) -> None:
    spec, data = _job()
    terms = dataclasses.replace(TERMS, clock=SLOW_FLOORS.min_clock)
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, terms)
    provider = Provider(make_ctx(2, "provider"), ProviderPolicy(block_time=BLOCK))
    provider.stake(ETHER)
    provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.SUBMITTED, rec


def test_poster_is_warned_about_terms_providers_refuse(make_ctx: Any) -> None:
    client = JobClient(make_ctx(1, "poster"))
    spec, _ = _job()
    short = dataclasses.replace(TERMS, clock=60, challenge_window=60, challenger_bond=1)
    found = client.warnings(spec, short, block_time=BLOCK)
    assert any("clock 60 s <" in w for w in found)
    assert any("challenger bond 1 wei < the market's minimum" in w for w in found)
    assert all(w.startswith(("honest providers refuse", "c")) for w in found)
    ok = dataclasses.replace(TERMS, clock=SLOW_FLOORS.min_clock)
    assert client.warnings(spec, ok, block_time=BLOCK) == []


def test_job_post_command_prints_the_warnings(make_ctx: Any, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from node.cli import job_cmds

    client = JobClient(make_ctx(1, "poster"))
    monkeypatch.setattr(job_cmds, "_client", lambda *_a, **_k: client)
    args = ["post", "--example", "tiny-mlp", "--clock", "60", "--block-time", "12", "--json"]
    done = CliRunner().invoke(job_cmds.job, args)
    assert done.exit_code == 0, done.output
    assert "warning: honest providers refuse: clock 60 s <" in done.output
