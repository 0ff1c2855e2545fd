"""Properties of the payout model (poc_lab/economics): money is conserved by every outcome and
every sequence of calls; under v2 an honest challenger that wins is paid its bond plus half its
game's backing whatever puppet games exist (P1), and a rejected provider loses at least its lock
(P2); v1 reproduces issue 11's F1 figures; the sizing helpers agree with node/roles/safety.py;
the simulation gives the documented signs."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.roles.safety import ChainConditions, JobCost, unsafe_terms
from poc_lab.economics import constants as c
from poc_lab.economics.agents import (
    POSTER,
    PROVIDER,
    TOWER,
    Draw,
    ProviderKind,
    Strategies,
    play_job,
)
from poc_lab.economics.constants import BILLION_MAC, ETHER, GWEI, MLP
from poc_lab.economics.ledger import ClaimState, JobLedger, JobState
from poc_lab.economics.outcomes import outcome_cases
from poc_lab.economics.rules import V1, V2, Game, Rules, Terms
from poc_lab.economics.settlement import (
    Credit,
    EconomicsError,
    Pot,
    Reason,
    Settlement,
    Taken,
)
from poc_lab.economics.simulate import (
    NO_LIARS,
    TOWER_LABEL,
    Mix,
    Params,
    scenarios,
    simulate,
)
from poc_lab.economics.sizing import safe_minimums, stake_against_lying

WEI = st.integers(min_value=1, max_value=10**24)
terms_st = st.builds(
    Terms,
    reward=WEI,
    stake=WEI,
    bond=WEI,
    execute_within=st.integers(60, 7 * 86400),
    window=st.integers(60, 14 * 86400),
    clock=st.integers(60, 7 * 86400),
    claim_within=st.integers(0, 30 * 86400),
)
RULES_ST = st.sampled_from([V1, V2])


def balanced(s: Settlement) -> None:
    assert s.taken_total == s.credited_total + s.unlocked_total + s.burned
    assert sum(s.delta(a) for a in s.accounts()) == -s.burned


# ---- every outcome conserves money ---------------------------------------------------------


@given(terms_st, st.integers(0, 10**24), st.booleans(), RULES_ST)
def test_every_outcome_conserves_money(t: Terms, backing: int, flag: bool, rules: Rules) -> None:
    game = Game("provider", "challenger", t.bond, backing if rules is V2 else 0)
    outcomes = [
        rules.finalized(t, "provider", "poster"),
        rules.expired(t, "provider", "poster"),
        rules.cancelled(t, "poster"),
        rules.game_won_by_provider(game, flag),
        rules.game_won_by_challenger(t, game, flag),
    ]
    if rules is V2:
        outcomes.append(rules.rejected_withheld(t, "provider"))
    for s in outcomes:
        balanced(s)


@given(terms_st, st.integers(0, 10**24))
def test_v2_game_won_by_challenger_pays_half_the_backing_and_burns_the_rest(
    t: Terms, backing: int
) -> None:
    g = Game("p", "c", t.bond, backing)
    rejecting = V2.game_won_by_challenger(t, g, claim_submitted=True)
    later = V2.game_won_by_challenger(t, g, claim_submitted=False)
    assert rejecting.credited("c", Reason.BOUNTY) == later.credited("c", Reason.BOUNTY)
    assert later.credited("c", Reason.BOUNTY) == backing * 5000 // 10_000
    assert rejecting.credited("c", Reason.BOND) == t.bond
    # R1: the claim lock never reaches a challenger, it is burned whole
    assert rejecting.burned - later.burned == t.stake
    assert rejecting.credited("c") == later.credited("c")


@given(terms_st, st.integers(0, 10**24))
def test_the_formulas_of_docs_economics_are_the_rules(t: Terms, backing: int) -> None:
    """outcome_cases raises unless every formula equals its settlement's amount and the rows
    account for every wei; the v1 rejected-claim game pays the same whoever wins."""
    cases = outcome_cases(t, backing)
    assert len(cases) == 10
    g = Game("provider", "challenger", t.bond)
    assert (
        V1.game_won_by_challenger(t, g, False).credits == V1.game_won_by_provider(g, True).credits
    )


def test_a_settlement_that_does_not_balance_is_refused() -> None:
    with pytest.raises(EconomicsError, match="takes 10 wei but pays out 9"):
        Settlement(
            "bad", taken=(Taken(Pot.ESCROW, "a", 10),), credits=(Credit("a", 9, Reason.REFUND),)
        )
    with pytest.raises(EconomicsError, match="negative"):
        Settlement("bad", taken=(Taken(Pot.ESCROW, "a", -1),), burned=-1)
    with pytest.raises(EconomicsError, match="no output-availability path"):
        V1.rejected_withheld(Terms(1, 1, 1, 60, 60, 60), "p")


# ---- sequences of calls ----------------------------------------------------------------------

# one claim's life: games opened by puppets (p), an honest challenger (h) or others (o), then
# resolved in any order with any winner, then the claim ended as the contracts allow
actions = st.lists(
    st.tuples(st.sampled_from(["p", "h", "o"]), st.booleans(), st.integers(0, 10**6)),
    max_size=8,
)


def _play_claim(
    rules: Rules, t: Terms, free: int, plan: list[tuple[str, bool, int]], end: str
) -> tuple[JobLedger, list[int]]:
    led = JobLedger(rules, t)
    led.deposit(PROVIDER, t.stake + free)
    led.post()
    led.claim(PROVIDER)
    led.submit()
    games = [led.challenge(f"{who}{i}") for i, (who, _, _) in enumerate(plan)]
    order = sorted(range(len(plan)), key=lambda i: plan[i][2])
    for i in order:
        led.resolve(games[i], provider_won=plan[i][1])
        assert led.total() == 0
    if end == "withheld" and rules is V2 and led.claim_state == ClaimState.SUBMITTED:
        led.output_timeout()
    if led.claim_state == ClaimState.SUBMITTED:
        led.finalize()
    if led.state == JobState.OPEN:
        led.cancel()
    for name in list(led.accounts):
        led.withdraw(name)
    assert led.total() == 0
    return led, games


@given(
    terms_st, st.integers(0, 10**25), actions, st.sampled_from(["finalize", "withheld"]), RULES_ST
)
@settings(max_examples=300)
def test_any_sequence_of_calls_conserves_money(
    t: Terms, free: int, plan: list[tuple[str, bool, int]], end: str, rules: Rules
) -> None:
    led, _ = _play_claim(rules, t, free, plan, end)
    assert sum(led.delta(n) for n in led.accounts) == -led.burned
    assert led.escrow == 0 and led.bonds == 0
    assert all(a.locked == 0 for a in led.accounts.values())


@given(
    terms_st,
    st.integers(0, 10**25),
    actions,
    st.lists(st.tuples(st.sampled_from(["p"]), st.booleans(), st.integers(0, 10**6)), max_size=4),
    st.integers(0, 10**6),
)
@settings(max_examples=300)
def test_p1_an_honest_challenger_that_wins_is_paid_bond_plus_half_its_backing(
    t: Terms,
    free: int,
    before: list[tuple[str, bool, int]],
    after: list[tuple[str, bool, int]],
    when: int,
) -> None:
    """Puppet games opened before and after the honest one (the first ones in the submit
    transaction), ending in any order with any winner, the honest game among them."""
    plan = [*before, ("h", False, when), *after]
    led, games = _play_claim(V2, t, free, plan, "finalize")
    h = len(before)
    honest = f"h{h}"
    backing = led.games[games[h]].game.backing
    paid = sum(s.credited(honest) for s in led.settlements)
    assert paid >= t.bond + backing // 2
    assert paid == t.bond + backing * 5000 // 10_000
    # its backing is what was free when it opened: requiredStake unless earlier games took it
    opened_before = sum(led.games[g].game.backing for g in games[:h])
    assert backing == min(t.stake, max(0, free - opened_before))


@given(terms_st, st.integers(0, 10**25), actions, st.sampled_from(["finalize", "withheld"]))
@settings(max_examples=300)
def test_p2_a_rejected_provider_loses_at_least_its_lock_whatever_games_it_opens(
    t: Terms, free: int, plan: list[tuple[str, bool, int]], end: str
) -> None:
    """The provider owns every puppet account (p0, p1, ...); the other challengers are
    strangers, whose bonds it may win (that is not money of its own games)."""
    led, _ = _play_claim(V2, t, free, plan, end)
    if led.claims[0].state != ClaimState.REJECTED:
        return
    own = [PROVIDER] + [n for n in led.accounts if re.fullmatch(r"p\d+", n)]
    won_from_strangers = sum(
        g.game.bond for g in led.games if g.provider_won and g.game.challenger[0] in "ho"
    )
    assert led.delta(*own) - won_from_strangers <= -t.stake


def test_v1_reproduces_f1_the_liar_loses_half_its_lock_and_the_watchtower_earns_nothing() -> None:
    t = Terms(ETHER // 10, ETHER // 2, ETHER // 50, 3600, 600, 600)
    run = play_job(
        V1, t, BILLION_MAC, Strategies(free_stake=0, puppets=1), Draw(ProviderKind.PUPPETEER)
    )
    assert run.money[PROVIDER] == -t.stake // 2  # the puppet took bond + L/2 back
    assert run.money[TOWER] == 0 and run.bounty.get(TOWER, 0) == 0
    # under v2 the same play costs the whole lock (the puppets are best left to lose)
    v2 = play_job(
        V2, t, BILLION_MAC, Strategies(free_stake=0, puppets=1), Draw(ProviderKind.PUPPETEER)
    )
    assert v2.money[PROVIDER] == -t.stake and v2.burned == t.stake


@given(terms_st, st.integers(0, 10**25), st.integers(1, 4), st.sampled_from(["best", "lose"]))
def test_v2_puppets_cost_the_liar_its_lock_and_take_only_the_free_stake_they_lock(
    t: Terms, free: int, puppets: int, policy: str
) -> None:
    """The limit of v2, as docs/economics.md states it: puppet games opened first lock the
    liar's free stake, so the watchtower's game is backed only by what is left; the liar still
    loses its whole lock, and more when it lets its puppets win (half their backing burned)."""
    st_ = Strategies(free_stake=free, puppets=puppets, puppet_policy=policy)
    run = play_job(V2, t, MLP, st_, Draw(ProviderKind.PUPPETEER))
    left = max(0, free - puppets * t.stake)
    assert run.bounty.get(TOWER, 0) == min(t.stake, left) * 5000 // 10_000
    locked_by_puppets = min(free, puppets * t.stake)
    if policy == "best":  # the puppets stop answering: the liar wins their games
        assert run.money[PROVIDER] == -t.stake - min(t.stake, left)
    else:  # F1 replayed: every puppet game lost burns half its backing
        assert run.money[PROVIDER] == (
            -t.stake
            - min(t.stake, left)
            - (locked_by_puppets - _bounties(locked_by_puppets, t.stake, puppets))
        )


def _bounties(locked: int, stake: int, puppets: int) -> int:
    """What `puppets` games backed in turn out of `locked` pay back as bounties."""
    total, rest = 0, locked
    for _ in range(puppets):
        b = min(stake, rest)
        total, rest = total + b * 5000 // 10_000, rest - b
    return total


def test_f2_a_clock_shorter_than_the_provider_moves_loses_honest_games() -> None:
    """With 10 provider moves at 12 s blocks a 60 s clock runs out: the griefer wins against an
    honest provider (v1: half the lock; v2: half the game's backing, the lock burned). The
    clock floor, not the payout rules, closes F2; at 600 s the honest provider wins."""
    short = Terms(ETHER // 10, ETHER // 2, ETHER // 50, 3600, 600, clock=60)
    draw = Draw(ProviderKind.HONEST, griefed=True)
    st_ = Strategies(free_stake=ETHER // 2)
    v1 = play_job(V1, short, BILLION_MAC, st_, draw, block_time=12.0)
    v2 = play_job(V2, short, BILLION_MAC, st_, draw, block_time=12.0)
    assert v1.money["griefer"] == short.stake // 2 and v1.money[PROVIDER] == -short.stake
    assert v2.money["griefer"] == short.stake // 2 and v2.money[PROVIDER] == -2 * short.stake
    assert not v1.delivered and not v2.delivered
    safe = play_job(V2, replace(short, clock=600), BILLION_MAC, st_, draw, block_time=12.0)
    assert safe.delivered and safe.money["griefer"] == -short.bond


def test_ledger_refuses_what_the_contracts_refuse() -> None:
    t = Terms(10, 100, 5, 60, 60, 60)
    led = JobLedger(V2, t)
    led.post()
    with pytest.raises(EconomicsError, match="0 wei free stake, the job locks 100"):
        led.claim(PROVIDER)
    led.deposit(PROVIDER, 100)
    led.claim(PROVIDER)
    with pytest.raises(EconomicsError, match="needs SUBMITTED"):
        led.challenge("c")
    led.submit()
    g = led.challenge("c")
    assert led.games[g].game.backing == 0  # no free stake left: an unbacked game
    with pytest.raises(EconomicsError, match="games pending"):
        led.finalize()
    led.resolve(g, provider_won=True)
    with pytest.raises(EconomicsError, match="already settled"):
        led.resolve(g, provider_won=False)
    led.finalize()
    assert led.account(PROVIDER).credits == 10 + 5


def test_v2_cancel_at_the_deadline_expires_the_claim_and_refunds() -> None:
    t = Terms(10, 100, 5, 60, 60, 60)
    led = JobLedger(V2, t)
    led.deposit(PROVIDER, 100)
    led.post()
    led.claim(PROVIDER)
    out = led.cancel()
    assert [s.outcome for s in out] == ["expired", "cancelled"]
    assert led.account(POSTER).credits == 10 + 10 and led.account(PROVIDER).free == 90
    v1 = JobLedger(V1, t)
    v1.deposit(PROVIDER, 100)
    v1.post()
    v1.claim(PROVIDER)
    with pytest.raises(EconomicsError, match="job is CLAIMED"):
        v1.cancel()


# ---- sizing agrees with node/roles/safety.py --------------------------------------------------


@given(st.floats(0.25, 30), st.integers(0, 500 * GWEI), st.sampled_from([BILLION_MAC, MLP]))
def test_safe_minimums_are_exactly_what_unsafe_terms_accepts(
    block_time: float, gas_price: int, dispute: object
) -> None:
    m = safe_minimums(dispute, block_time, gas_price)  # type: ignore[arg-type]
    chain = ChainConditions(block_time, gas_price)
    cost = JobCost(dispute.provider_moves, dispute.macs)  # type: ignore[attr-defined]

    def refused(**over: int) -> list[str]:
        kw = dict(
            clock=m.clock, execute_within=m.execute_within, challenge_window=m.window,
            challenger_bond=m.bond,
        )  # fmt: skip
        kw.update(over)
        return unsafe_terms(**kw, cost=cost, chain=chain)

    assert refused() == []
    assert refused(clock=m.clock - 1) and refused(execute_within=m.execute_within - 1)
    assert refused(challenge_window=m.window - 1)
    if m.bond > 0:
        assert refused(challenger_bond=m.bond - 1)


@given(st.integers(1, 10**21), st.floats(0.01, 1.0))
def test_the_stake_against_lying_is_the_smallest_that_makes_lying_lose(
    reward: int, p: float
) -> None:
    lock = stake_against_lying(reward, p)

    def ev(lock_: int) -> Fraction:  # the liar's expected profit at gas price 0
        q = Fraction(p)
        return (1 - q) * reward - q * lock_

    assert ev(lock) < 0
    assert lock == 1 or ev(lock - 1) >= 0


# ---- the gas figures are the measured ones of docs/benchmarks.md ------------------------------


def _section(name: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md").read_text()
    return text.split(f"<!-- {name}:begin -->")[1].split(f"<!-- {name}:end -->")[0]


def _num(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m, f"docs/benchmarks.md has no {pattern!r}"
    return int(m.group(1).replace(",", ""))


def test_gas_constants_are_the_figures_of_docs_benchmarks() -> None:
    """When `make bench` re-measures, this says which constant to update."""
    gas = _section("gas")
    table = {
        "JobMarket.post": c.POST_GAS,
        "JobMarket.claim": c.CLAIM_GAS,
        "JobMarket.submitResult": c.SUBMIT_GAS,
        "JobMarket.challenge (opens a game, locks its backing)": c.CHALLENGE_GAS,
        "DisputeGame.timeout (game lost: claim rejected, lock and half the backing burned)": c.TIMEOUT_GAS,
        "JobMarket.cancel": c.CANCEL_GAS,
        "JobMarket.expire": c.EXPIRE_GAS,
        "JobMarket.finalize": c.FINALIZE_GAS,
        "JobMarket.withdraw": c.WITHDRAW_GAS,
        "StakeManager.deposit": c.DEPOSIT_GAS,
    }
    for fn, const in table.items():
        assert _num(rf"\| `{re.escape(fn)}` \| ([\d,]+) \|", gas) == const, fn
    big = gas.split("### Full dispute")[1].split("###")[0]
    assert _num(r"whole dispute \(all moves, both sides\): \*\*([\d,]+)\*\*", big) == (
        BILLION_MAC.total
    )
    assert _num(r"provider side ([\d,]+)", big) == BILLION_MAC.provider
    assert _num(r"\| 1 \| provider \| `revealStates` \| execution \| ([\d,]+) \|", big) == (
        BILLION_MAC.first_provider_move
    )
    assert _num(r"provider moves: \*\*(\d+)\*\*", big) == BILLION_MAC.provider_moves
    mlp = _section("dispute")
    assert _num(r"provider ([\d,]+) \(max", mlp) == MLP.provider
    assert _num(r"challenger ([\d,]+) \(one step", mlp) == MLP.challenger
    assert _num(
        r"\| 1 \| provider \| `revealStates` \| execution \| [^|]+ \| ([\d,]+) \|", mlp
    ) == (MLP.first_provider_move)
    assert _num(r"\((\d+) provider,", mlp) == MLP.provider_moves


# ---- the simulation ----------------------------------------------------------------------------


def test_every_scenario_of_the_simulation_conserves_money() -> None:
    for rules in ("v1", "v2"):
        for code, run in scenarios(Params("t", rules=rules)).items():
            assert sum(run.money.values()) == -run.burned, code
            assert run.ledger.total() == 0


def test_the_simulation_is_seeded_and_gives_the_documented_signs() -> None:
    d = Params("default")
    a, b = simulate(d, 20_000, seed=3), simulate(d, 20_000, seed=3)
    assert a.stats == b.stats
    for kind in ProviderKind:
        if kind.lies:
            assert a.stats[kind.value].hi < 0, kind
    assert a.stats[TOWER_LABEL].lo > 0
    assert a.stats[ProviderKind.HONEST.value].lo > 0
    # nobody lies: no bounty, the watchtower pays its checks (the verifier's dilemma)
    idle = simulate(d.with_(mix=NO_LIARS), 20_000, seed=3)
    assert math.isclose(idle.tower_bounty_per_job, 0)
    assert idle.stats[TOWER_LABEL].hi < 0
    # liars that keep no free stake deny every bounty: still a loss for them, none for the tower
    deny = Mix(honest=0.9, liar=0, puppeteer=0.035, liar_no_free=0.035)
    denied = simulate(d.with_(mix=deny), 20_000, seed=3)
    assert denied.tower_bounty_per_job == 0 and denied.stats[TOWER_LABEL].hi < 0
    assert denied.stats[ProviderKind.PUPPETEER.value].hi < -d.terms.stake / ETHER


def test_bad_parameters_are_named() -> None:
    with pytest.raises(EconomicsError, match="sampler_q must be a probability"):
        Params("x", sampler_q=2)
    with pytest.raises(EconomicsError, match="summing to 1"):
        Params("x", mix=Mix(honest=0.5))
    with pytest.raises(EconomicsError, match="rules 'v3'"):
        Params("x", rules="v3")
    with pytest.raises(EconomicsError, match="reward must be positive"):
        Terms(0, 1, 1, 60, 60, 60)
