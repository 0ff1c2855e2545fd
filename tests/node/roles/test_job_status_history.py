"""`poc job status` tells the whole story of a job (issue 17, items 6 and 13): every claim,
rejected and expired ones included, with provider, cause, games (challenger, status, winner,
bond, backing, bounty, burn), the output demand and publication, and the job's terms (clock,
window, execute deadline, stake, bond) in ETH and readable durations and times."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from poc_cli_support import Ran, poc
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState
from node.cli import job_cmds
from node.readable import duration, eth
from node.roles.client import JobClient
from node.roles.provider import Provider
from node.roles.watchtower import Watchtower
from poc_lab.adversary import ProviderCheat, cheating_provider


@pytest.fixture
def status(capsys: Any, monkeypatch: Any) -> Any:
    """`poc job status ARGS` read through a given client of the test's chain."""

    def run(client: JobClient, *args: str) -> Ran:
        monkeypatch.setattr(job_cmds, "_client", lambda *_a, **_k: client)
        return poc(capsys, monkeypatch, "job", "status", *args)

    return run


def test_status_shows_the_rejected_claim_its_game_and_the_payouts(
    chain: Any, make_ctx: Any, status: Any
) -> None:
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = post_tiny(poster)
    liar = cheating_provider(make_ctx(2, "provider"), ProviderCheat("op"))
    liar.stake(ETHER)
    tower = Watchtower(make_ctx(3, "tower"))
    liar.tick()
    d = poster.deployment
    claim_id = d.market.job(job_id).current_claim
    drive(
        chain,
        [liar, tower],
        lambda: d.market.claim(claim_id).state == ClaimState.REJECTED,
        seconds_per_round=1,
    )
    assert d.market.job(job_id).state == JobState.OPEN  # the claim is gone from the job itself

    done = status(client, str(job_id))
    assert done.code == 0, done.out
    text = done.out
    lock = TERMS.required_stake
    # the terms, in ETH and words (item 13)
    assert f"job {job_id}: open, reward {eth(TERMS.reward)}" in text
    assert (
        f"terms: stake {eth(lock)}, challenger bond {eth(TERMS.challenger_bond)}, "
        f"clock {duration(TERMS.clock)} per side, window {duration(TERMS.challenge_window)}, "
        f"execute within {duration(TERMS.execute_within)}"
    ) in text
    assert "clock 10 min per side, window 10 min, execute within 15 min" in text
    assert re.search(r"claimable again from \d{4}-\d\d-\d\d .* UTC \(in \d+ (s|min)", text)
    # the rejected claim, its cause and its game (item 6)
    (game_id,) = d.market.games_of_claim(claim_id)
    assert (
        f"claim {claim_id} by {liar.ctx.address}: rejected: game lost (game {game_id}), "
        f"lock {eth(lock)} slashed and burned"
    ) in text
    bounty = lock // 2  # the game's backing is the required stake: the liar had it free
    assert f"game {game_id}, challenger {tower.ctx.address}: challenger won\n" in text
    assert (
        f"bond {eth(TERMS.challenger_bond)} back to the challenger, bounty {eth(bounty)} of the "
        f"backing {eth(lock)}, {eth(lock - bounty)} burned"
    ) in text
    assert "output: behind its locator (not demanded on chain)" in text
    assert " wei" not in text  # one unit in text

    as_json = status(client, str(job_id), "--json")
    assert as_json.code == 0, as_json.out
    st = json.loads(as_json.out)
    assert "claim" not in st  # no current claim: the job is open again
    (claim,) = st["claims"]
    assert claim["claim_id"] == claim_id and claim["provider"] == liar.ctx.address
    assert (claim["state"], claim["cause"], claim["lost_game"]) == (
        "rejected",
        "game lost",
        game_id,
    )
    assert claim["slashed"] == lock
    game = claim["games"][str(game_id)]
    assert game["challenger"] == tower.ctx.address and game["winner"] == tower.ctx.address
    assert game["status"] == "challenger_won"
    assert (game["bond"], game["backing"], game["bounty"], game["burned"]) == (
        TERMS.challenger_bond,
        lock,
        bounty,
        lock - bounty,
    )
    assert st["params"]["clock"] == TERMS.clock and st["reopens_at"] > st["now"]


def test_status_shows_an_expired_claim_and_the_current_one(
    chain: Any, make_ctx: Any, status: Any
) -> None:
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = post_tiny(poster)
    d = poster.deployment
    slow = make_ctx(3, "slow")  # claims and never submits
    slow.send(d.stake.deposit(ETHER))
    slow.send(d.market.claim_job(job_id))
    first = d.market.job(job_id).current_claim

    active = status(client, str(job_id))
    assert active.code == 0, active.out
    assert f"claim {first} by {slow.address}: active" in active.out
    assert re.search(r"executes by \d{4}-.* UTC \(in 15 min\)", active.out), active.out

    advance(chain, TERMS.execute_within + 1)
    poster.send(d.market.expire(job_id, first))
    advance(chain, d.market.min_clock() + 1)  # the reopened job cools down first
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    provider.tick()
    second = d.market.job(job_id).current_claim
    assert second != first

    done = status(client, str(job_id))
    assert done.code == 0, done.out
    missed = TERMS.required_stake // 10
    assert (
        f"claim {first} by {slow.address}: expired: deadline missed, "
        f"{eth(missed)} of the lock to the poster"
    ) in done.out
    assert "had to execute by" in done.out
    assert f"claim {second} by {provider.ctx.address}: submitted" in done.out
    assert re.search(r"challenge window ends \d{4}-.* UTC \(in 10 min\)", done.out)
    st = json.loads(status(client, str(job_id), "--json").out)
    assert [c["state"] for c in st["claims"]] == ["expired", "submitted"]
    assert st["claims"][0]["cause"] == "deadline missed"
    assert st["claims"][0]["slashed"] == missed
    assert st["claim"]["claim_id"] == second  # the current claim, as before


def test_status_shows_the_output_demand_and_its_publication(
    chain: Any, make_ctx: Any, status: Any
) -> None:
    poster = make_ctx(1, "poster")
    client = JobClient(poster)
    job_id = post_tiny(poster)
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    provider.tick()
    due = client.demand_output(job_id)

    demanded = status(client, str(job_id))
    assert demanded.code == 0, demanded.out
    assert "output: demanded by the poster, not published yet: due " in demanded.out
    assert re.search(r"due \d{4}-.* UTC \(in 10 min\)", demanded.out), demanded.out

    provider.tick()  # publishes on demand
    shown = status(client, str(job_id), "--json")
    output = json.loads(shown.out)["claim"]["output"]
    assert output["demanded"] and output["due"] == due and output["published"], output
    assert output["size"] > 0 and output["leaf_size"] in (32, 128)
    text = status(client, str(job_id)).out
    assert f"output: demanded by the poster and published on chain ({output['size']} bytes)" in text

    # --watch into a pipe: the status once per change; the chain's clock moving is none
    class Later:
        """The poster's client, while time passes: 5 s, 5 s, then past the window and a
        provider tick (finalized)."""

        calls = 0

        def status(self, job: int) -> Any:
            self.calls += 1
            if self.calls in (2, 3):
                advance(chain, 5)
            elif self.calls == 4:
                advance(chain, TERMS.challenge_window)
                provider.tick()
            return client.status(job)

    watched = status(Later(), str(job_id), "--watch", "--interval", "0")  # type: ignore[arg-type]
    assert watched.code == 0, watched
    assert watched.out.count(f"job {job_id}: ") == 2, watched.out
    assert f"job {job_id}: claimed" in watched.out and f"job {job_id}: finalized" in watched.out
    assert "accepted, reward 0.1000 ETH paid" in watched.out


def test_status_of_an_unknown_job_is_an_error(make_ctx: Any, status: Any) -> None:
    done = status(JobClient(make_ctx(1, "poster")), "999")
    assert done.code == 16 and "job 999 does not exist" in done.err, done
