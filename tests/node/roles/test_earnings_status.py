"""Operators see what they earned (issue 17, item 7): the daemons withdraw their credits as they
come, so `poc provider status` and `poc watch status` show the earnings ledger instead (rewards,
bonds won, bounties; slashes, backings and bonds lost; gas) over the node's life and per job,
claim and game, in ETH (wei with --json); the log says when a game is won or lost and what it
paid; `withdraw` prints a sentence."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from poc_cli_support import Ran, poc
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.contracts.token import ETHER_ADDRESS
from node.cli import provider_cmds, watch_cmds
from node.readable import eth
from node.roles.provider import Provider
from node.roles.watchtower import Watchtower
from poc_lab.adversary import ProviderCheat, cheating_provider, false_challenger

BOND = TERMS.challenger_bond
LOCK = TERMS.required_stake


@pytest.fixture
def cli(capsys: Any, monkeypatch: Any) -> Any:
    """`poc provider|watch ARGS` on the given daemon of the test's chain."""

    def run(daemon: Any, *args: str) -> Ran:
        monkeypatch.setattr(provider_cmds, "_provider", lambda *_a, **_k: daemon)
        monkeypatch.setattr(watch_cmds, "_tower", lambda *_a, **_k: daemon)
        return poc(capsys, monkeypatch, *args)

    return run


def _balance(daemon: Any) -> int:
    return int(daemon.ctx.w3.eth.get_balance(daemon.ctx.address))


def test_provider_status_shows_reward_and_bond_won_and_the_log_says_so(
    chain: Any, make_ctx: Any, cli: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="node.roles.earnings")
    job_id = post_tiny(make_ctx(1, "poster"))
    provider = Provider(make_ctx(2, "provider"))
    start = _balance(provider)
    provider.stake(ETHER)
    provider.tick()
    d = provider.ctx.deployment
    claim_id = d.market.job(job_id).current_claim
    liar = false_challenger(make_ctx(3, "liar"))
    liar.tick()
    (game_id,) = d.market.games_of_claim(claim_id)
    drive(chain, [provider, liar], lambda: not d.game_view(game_id).active, seconds_per_round=1)
    advance(chain, TERMS.challenge_window)
    drive(chain, [provider, liar], lambda: d.market.job(job_id).state == JobState.FINALIZED)
    provider.tick()  # scans its withdrawal
    liar.tick()
    assert d.market.credits(provider.ctx.address) == 0  # withdrawn: credits say nothing

    shown = cli(provider, "provider", "status")
    assert shown.code == 0, shown
    text = shown.out
    assert "credits     0.0000 ETH (the daemon withdraws them as they are credited)" in text
    earned = TERMS.reward + BOND
    assert f"earned      {eth(earned)} (reward {eth(TERMS.reward)}, bond won {eth(BOND)})" in text
    assert "lost        0.0000 ETH\n" in text
    assert f"withdrawn   {eth(earned)} of market credits" in text
    assert (
        f"job {job_id}: done (finalized); reward +0.1000 ETH, bond won +0.0200 ETH, gas -" in text
    )
    assert f"    game {game_id}: bond won +0.0200 ETH, gas -" in text
    assert " wei" not in text

    st = json.loads(cli(provider, "provider", "status", "--json").out)
    assert st["earnings"]["assets"] == {ETHER_ADDRESS: {"symbol": "ETH", "decimals": 18}}
    (totals,) = st["earnings"]["totals"].values()  # an ether market: one asset
    assert (totals["reward"], totals["bond_won"], totals["earned"]) == (TERMS.reward, BOND, earned)
    assert totals["lost"] == 0 and totals["withdrawn"] == earned
    assert totals["net"] == earned - totals["gas"] and totals["gas"] > 0
    # the ledger's gas is what the account paid: the balance moved by exactly
    # -stake - gas + withdrawn since the daemon was made
    assert _balance(provider) - start == -ETHER - totals["gas"] + totals["withdrawn"]
    per_job = st["earnings"]["jobs"][str(job_id)][ETHER_ADDRESS]
    per_game = st["earnings"]["games"][str(game_id)][ETHER_ADDRESS]
    assert per_job["bond_won"] == BOND and per_game["bond_won"] == BOND
    assert st["earnings"]["game_ids"][str(game_id)] == {"job_id": job_id, "claim_id": claim_id}
    assert 0 < per_game["gas"] < per_job["gas"] <= totals["gas"]

    said = caplog.text
    assert (
        f"game {game_id} (claim {claim_id}, job {job_id}) won as the provider: "
        f"+0.0200 ETH (the challenger's bond); backing {eth(LOCK)} unlocked"
    ) in said
    assert f"job {job_id} finalized (claim {claim_id}): reward +0.1000 ETH" in said

    # the false challenger's side: its bond lost, nothing earned
    lost = cli(liar, "watch", "status")
    assert lost.code == 0, lost
    assert f"lost        {eth(BOND)} (bond lost {eth(BOND)})" in lost.out
    assert f"claim {claim_id}: done (lost every game); bond lost -0.0200 ETH, gas -" in lost.out
    assert (
        f"game {game_id} (claim {claim_id}, job {job_id}) lost as the challenger: "
        "bond -0.0200 ETH to the provider"
    ) in caplog.text


def test_watch_status_shows_the_bounty_and_provider_status_the_slash(
    chain: Any, make_ctx: Any, cli: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="node.roles.earnings")
    job_id = post_tiny(make_ctx(1, "poster"))
    liar = cheating_provider(make_ctx(2, "provider"), ProviderCheat("op"))
    liar.stake(ETHER)
    liar.tick()
    tower = Watchtower(make_ctx(3, "tower"))
    start = _balance(tower)
    d = liar.ctx.deployment
    claim_id = d.market.job(job_id).current_claim
    drive(
        chain,
        [liar, tower],
        lambda: d.market.claim(claim_id).state == ClaimState.REJECTED,
        seconds_per_round=1,
    )
    liar.tick()
    tower.tick()
    tower.tick()  # scans its withdrawal
    (game_id,) = d.market.games_of_claim(claim_id)
    bounty = LOCK // 2

    shown = cli(tower, "watch", "status")
    assert shown.code == 0, shown
    assert f"earned      {eth(bounty)} (bounty {eth(bounty)})" in shown.out
    assert f"withdrawn   {eth(bounty + BOND)} of market credits" in shown.out
    assert f"claim {claim_id}: done (won games [{game_id}]); bounty +0.2500 ETH, gas -" in shown.out
    totals = json.loads(cli(tower, "watch", "status", "--json").out)["earnings"]["totals"][
        ETHER_ADDRESS
    ]
    assert totals["bounty"] == bounty and totals["withdrawn"] == bounty + BOND
    # it posted the bond, got it back with the bounty, and paid gas: nothing else moved
    assert _balance(tower) - start == -BOND - totals["gas"] + totals["withdrawn"]
    assert (
        f"game {game_id} (claim {claim_id}, job {job_id}) won as the challenger: bond "
        f"{eth(BOND)} back, bounty +0.2500 ETH"
    ) in caplog.text

    lost = cli(liar, "provider", "status", "--json")
    totals = json.loads(lost.out)["earnings"]["totals"][ETHER_ADDRESS]
    assert (totals["slashed"], totals["backing_lost"]) == (LOCK, LOCK)
    assert totals["net"] == -2 * LOCK - totals["gas"]
    text = cli(liar, "provider", "status").out
    assert f"lost        {eth(2 * LOCK)} (slashed {eth(LOCK)}, backing lost {eth(LOCK)})" in text
    assert f"net         -{eth(2 * LOCK + totals['gas'])}" in text
    (job_line,) = [line for line in text.splitlines() if line.startswith(f"  job {job_id}: lost")]
    assert "; slashed -0.5000 ETH, backing lost -0.5000 ETH, gas -" in job_line
    assert f"    game {game_id}: backing lost -0.5000 ETH, gas -" in text  # the lock is the claim's
    assert (
        f"claim {claim_id} (job {job_id}) rejected, game {game_id} lost: lock -0.5000 ETH "
        "slashed and burned"
    ) in caplog.text
    assert f"game {game_id} (claim {claim_id}, job {job_id}) lost as the provider" in caplog.text


def test_withdraw_prints_a_sentence(chain: Any, make_ctx: Any, cli: Any) -> None:
    poster = make_ctx(1, "poster")
    job_id = post_tiny(poster)
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    provider.tick()
    d = provider.ctx.deployment
    advance(chain, TERMS.challenge_window + 1)
    poster.send(d.market.finalize(job_id, d.market.job(job_id).current_claim))  # anyone may

    done = cli(provider, "provider", "withdraw")
    assert done.code == 0, done
    said = done.out.splitlines()[0]
    assert said == f"withdrew {eth(TERMS.reward)} of market credits to {provider.ctx.address}"
    again = cli(provider, "provider", "withdraw", "--json")
    assert json.loads(again.out)["withdrawn"] == {"credits": 0, "stake": 0}
    nothing = cli(provider, "provider", "withdraw")
    assert nothing.out.startswith(
        f"nothing to withdraw for {provider.ctx.address}: no market credits"
    )
    assert "{" not in nothing.out

    tower = Watchtower(make_ctx(3, "tower"))
    empty = cli(tower, "watch", "withdraw")
    assert empty.code == 0 and empty.out.strip() == (
        f"nothing to withdraw for {tower.ctx.address}: no market credits (the daemon withdraws "
        "them as they are credited)"
    )
