"""Properties of the replicated mode's payout model (poc_lab/economics/replica_*, ReplicaMarket,
docs/protocol.md §6.8): money is conserved by every outcome and every round, an honest seat never
ends below its stake, a party that lies never gains by it, a copier cannot reveal, a watch game
pays as the optimistic v2 game, and the figures of docs/economics.md §6 are the model's."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poc_lab.economics import replica_rules as rr
from poc_lab.economics.replica_ledger import ReplicaLedger, RJob, RSeat
from poc_lab.economics.replica_outcomes import (
    GOOD,
    POSTER,
    SeatPlan,
    attack_rows,
    collusion_break_even,
    honest_seats,
    play,
    replica_cases,
)
from poc_lab.economics.rules import V2, Game, Terms
from poc_lab.economics.settlement import EconomicsError, Reason, Settlement

WEI = st.integers(min_value=1, max_value=10**24)
E = 10**18


@st.composite
def replica_terms(draw: st.DrawFn, window: int | None = None) -> rr.ReplicaTerms:
    r = draw(st.integers(rr.MIN_REPLICAS, rr.MAX_REPLICAS))
    return rr.ReplicaTerms(
        reward=draw(st.integers(r, 10**24)),
        stake=draw(WEI),
        bond=draw(WEI),
        replicas=r,
        window=draw(st.sampled_from([0, 600])) if window is None else window,
    )


def balanced(s: Settlement) -> None:
    assert s.taken_total == s.credited_total + s.unlocked_total + s.burned
    assert sum(s.delta(a) for a in s.accounts()) == -s.burned


@given(replica_terms(), st.integers(1, 5), st.integers(0, 10**24), st.booleans())
def test_every_replica_outcome_conserves_money(
    t: rr.ReplicaTerms, upheld: int, free: int, flag: bool
) -> None:
    seats = [f"p{i}" for i in range(min(upheld, t.replicas))]
    g = Game("p0", "w", t.bond, rr.backing(t, free))
    for s in (
        rr.finalized(t, seats, "poster"),
        rr.seat_expired(t, "p0", "poster"),
        rr.pair_game_lost(t, "p0", "p1", flag),
        rr.watch_won_by_provider(g),
        rr.watch_won_by_challenger(t, g, flag),
        rr.cancelled(t, "poster", seats),
    ):
        balanced(s)
    fin = rr.finalized(t, seats, "poster")
    # each upheld seat gets R // r whatever the others do; the poster the rest
    assert all(fin.credited(p, Reason.REWARD) == t.reward // t.replicas for p in seats)
    assert fin.credited("poster") == t.reward - len(seats) * (t.reward // t.replicas)


@given(WEI, st.integers(0, 10**24), st.booleans())
def test_a_watch_game_pays_as_the_optimistic_v2_game(
    stake: int, backing: int, upheld: bool
) -> None:
    """§6.8 step 6: a watch game is settled as 6.5 R2-R3, the seat lock burned as R1."""
    t = rr.ReplicaTerms(reward=10, stake=stake, bond=3, replicas=2, window=60)
    g = Game("seat", "w", t.bond, backing)
    opt = Terms(reward=10, stake=stake, bond=3, execute_within=60, window=60, clock=60)
    for mine, theirs in (
        (rr.watch_won_by_provider(g), V2.game_won_by_provider(g, False)),
        (rr.watch_won_by_challenger(t, g, upheld), V2.game_won_by_challenger(opt, g, upheld)),
    ):
        assert mine.credits == theirs.credits and mine.unlocked == theirs.unlocked
        assert mine.burned == theirs.burned and mine.taken_total == theirs.taken_total


# ---- whole rounds ----------------------------------------------------------------------------

KINDS = st.sampled_from(["honest", "bad", "bad2", "silent", "copier"])


def _plans(kinds: list[str]) -> list[SeatPlan]:
    plans = []
    for i, k in enumerate(kinds):
        name = f"s{i}"
        if k == "honest":
            plans.append(SeatPlan(name))
        elif k == "silent":
            plans.append(SeatPlan(name, reveals=False))
        elif k == "copier" and i > 0 and kinds[0] not in ("silent", "copier"):
            plans.append(SeatPlan(name, copies=0))
        else:
            plans.append(SeatPlan(name, "bad" if k == "copier" else k))
    return plans


@settings(max_examples=150, deadline=None)
@given(
    replica_terms(),
    st.lists(KINDS, min_size=5, max_size=5),
    st.integers(0, 10**24),
    st.booleans(),
    st.booleans(),
    st.randoms(use_true_random=False),
    st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_any_round_conserves_money_and_no_honest_seat_ends_below_its_stake(
    t: rr.ReplicaTerms,
    kinds: list[str],
    free: int,
    watcher: bool,
    grief: bool,
    rnd: random.Random,
    liar_games: list[bool],
) -> None:
    plans = _plans(kinds[: t.replicas])
    probe = play(t, plans, free=free)  # to learn how many pair games there are
    order = list(range(len(probe.pairs)))
    rnd.shuffle(order)
    led = play(t, plans, free=free, watcher=watcher, grief=grief, order=order,
               liar_games=liar_games)  # fmt: skip
    assert led.total() == 0 and led.escrow == 0 and led.bonds == 0
    assert sum(led.delta(n) for n in led.accounts) == -led.burned
    assert all(a.locked == 0 for a in led.accounts.values())
    for p, seat in zip(plans, led.seats, strict=True):
        if p.executes:  # an honest seat wins every game it plays: upheld and paid its share
            assert seat.state == RSeat.ACCEPTED
            assert led.delta(p.account) >= t.share
        if p.copies is not None or not p.reveals:
            assert seat.state == RSeat.EXPIRED
            assert led.delta(p.account) == -(t.stake * 1000 // 10_000)
    if any(p.executes for p in plans):
        assert led.state == RJob.FINALIZED
    # records: what the locks lost is what the poster was compensated plus what was slashed
    slashed = sum(r.slashed for r in led.records.values())
    assert slashed >= led.burned


@settings(max_examples=150, deadline=None)
@given(
    replica_terms(),
    st.integers(1, 4),
    st.integers(1, 4),
    st.booleans(),
    st.randoms(use_true_random=False),
    st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_a_party_that_lies_never_gains_by_it(
    t: rr.ReplicaTerms,
    k: int,
    j: int,
    alike: bool,
    rnd: random.Random,
    liar_games: list[bool],
) -> None:
    """One party holds k seats (at least one seat outside it, honest), j of them lie (alike or
    with different wrong results); pair games settle in any order. The party ends at most at
    (k - j) s - j ceil(L/2): below the k s of the same seats played honestly, and each liar's
    lock yields at most one bounty of L // 2 even to the party's own seats."""
    k = min(k, t.replicas - 1)
    j = min(j, k)
    plans = [
        SeatPlan(f"s{i}", ("bad" if alike else f"bad{i}") if i < j else GOOD)
        for i in range(t.replicas)
    ]
    rnd.shuffle(plans)
    party = [p.account for p in plans if p.account in {f"s{i}" for i in range(k)}]
    probe = play(t, plans)
    order = list(range(len(probe.pairs)))
    rnd.shuffle(order)
    led = play(t, plans, order=order, liar_games=liar_games)
    got = led.delta(*party)
    assert got <= (k - j) * t.share - j * (t.stake - t.stake // 2)
    assert got < k * t.share
    assert led.state == RJob.FINALIZED


@given(replica_terms(window=600), st.integers(0, 10**24))
def test_the_formulas_of_docs_economics_section_6_are_the_model(
    t: rr.ReplicaTerms, free: int
) -> None:
    """replica_cases raises unless every formula equals the party's wealth change in the
    round played on the ledger and the rows account for every wei."""
    assert len(replica_cases(t, free)) == 6


# ---- the contract's cases, amount for amount (tests/contracts/test_replica_attacks.py) -------


def test_copier_cannot_reveal_and_pays_the_missed_deadline_slash() -> None:
    t = rr.ReplicaTerms(reward=E // 10, stake=E // 2, bond=E // 50, replicas=2)
    led = ReplicaLedger(t)
    led.post()
    for n in ("a", "b"):
        led.deposit(n, t.stake)
    sa, sb = led.claim("a"), led.claim("b")
    led.commit(sa, (GOOD, "a", 1))
    led.commit(sb, (GOOD, "a", 1))  # b copies a's commitment
    led.reveal(sa, GOOD, 1)
    with pytest.raises(EconomicsError, match="BadReveal"):
        led.reveal(sb, GOOD, 1)  # the commitment binds a's address
    led.tally()
    assert led.seats[sb].state == RSeat.EXPIRED and led.seats[sa].state == RSeat.ACCEPTED
    slashed = t.stake * 1000 // 10_000
    assert led.accounts[POSTER].credits == slashed + (t.reward - t.reward // 2)
    assert led.accounts["b"].free == t.stake - slashed and led.records["b"].expired == 1


def test_the_attack_figures_match_the_contract_tests() -> None:
    """R = 0.1, L = 0.5 ETH, r = 3 as tests/contracts/test_replica_attacks.py plays them."""
    t = rr.ReplicaTerms(reward=E // 10, stake=E // 2, bond=E // 50, replicas=3)
    s, L = t.share, t.stake
    honest, liar, party, party_both, copier, *_ = attack_rows(t, 0, (0.0, 1.0))
    assert honest.money == s and liar.money == -L and liar.burned == L - L // 2
    # test_several_accounts_do_not_make_a_lie_pay: the party ends at s + L // 2 - L
    assert party.money == s + L // 2 - L and party.money < party.honest_money == 2 * s
    assert party_both.money == -2 * L
    assert copier.money == -(L // 10)
    alike = [r for r in attack_rows(t, 0, (0.0, 1.0)) if r.p is not None]
    assert alike[0].money == 3 * s and alike[0].poster == -3 * s  # uncaught: paid, wrong result
    assert alike[1].money == -3 * L and alike[1].poster == 0  # caught: no free stake, b = 0
    # test_all_honest_r2_zero_window..., test_all_honest_r3_waits_for_the_window_and_refunds_dust
    two = rr.ReplicaTerms(reward=E // 10, stake=L, bond=E // 50, replicas=2)
    led = play(two, honest_seats(two))
    assert all(led.delta(f"replica {i}") == E // 10 // 2 for i in (1, 2))
    dust = rr.ReplicaTerms(reward=E // 10 + 2, stake=L, bond=E // 50, replicas=3, window=600)
    led = play(dust, honest_seats(dust))
    assert led.delta(POSTER) == -3 * (dust.reward // 3)  # R - 3 s of dust refunded
    # test_one_liar_among_two_... (the liar defending or pointing): the honest seat gets
    # L // 2 + R // 2, L - L // 2 burned, the poster R - R // 2 back
    for plans in (
        [SeatPlan("b", "bad"), SeatPlan("a")],
        [SeatPlan("a"), SeatPlan("b", "bad")],
    ):
        led = play(two, plans)
        assert led.delta("a") == L // 2 + two.share and led.delta("b") == -L
        assert led.burned == L - L // 2
        assert led.accounts[POSTER].wallet == -two.reward + (two.reward - two.reward // 2)
    # test_one_liar_among_three_...: the liar gains nothing, the honest seats s and s + L // 2
    led = play(t, [SeatPlan("a"), SeatPlan("b", "bad"), SeatPlan("c")])
    assert led.delta("b") == -L and led.burned == L - L // 2
    assert sorted([led.delta("a"), led.delta("c")]) == [s, s + L // 2]
    # test_non_revealer_is_slashed_as_for_a_missed_deadline: the poster is credited the
    # slash and the silent seat's share; the silent seat gets L - L // 10 back free
    led = play(two, [SeatPlan("a"), SeatPlan("b", reveals=False)])
    slashed = L * 1000 // 10_000
    assert led.accounts[POSTER].wallet == -two.reward + slashed + two.reward - two.reward // 2
    assert led.delta("b") == -slashed
    # test_replicas_lying_alike_are_caught_by_a_watchtower (r = 2, free 2L: b = L)
    t2 = rr.ReplicaTerms(reward=E // 10, stake=L, bond=E // 50, replicas=2, window=600)
    led = play(t2, [SeatPlan("a", "bad"), SeatPlan("b", "bad")], free=2 * L, watcher=True)
    assert led.delta("watchtower") == 2 * (L // 2) and led.burned == 2 * (L + L - L // 2)


@settings(max_examples=50, deadline=None)
@given(replica_terms(window=600), st.integers(1, 10**22))
def test_collusion_of_every_seat_pays_only_below_the_break_even_watch_probability(
    t: rr.ReplicaTerms, compute: int
) -> None:
    """All r seats of one party lying alike beat the same seats played honestly exactly when
    the watch probability is below C / (s + L + b)."""
    t = rr.ReplicaTerms(3 * t.reward, t.stake, t.bond, max(3, t.replicas), t.window)
    p_star = collusion_break_even(t, compute, 0)
    for p in (p_star / 2, 2 * p_star):
        if p > 1:
            continue
        (row,) = [r for r in attack_rows(t, compute, (p,)) if r.p is not None]
        gap = row.profit(compute) - row.honest_profit(compute)  # r (C - p (s + L))
        if abs(gap) > 1e-9 * t.replicas * (t.share + t.stake):  # beyond float rounding
            assert (gap > 0) == (p < p_star)


def test_the_ledger_refuses_what_the_contract_refuses() -> None:
    t = rr.ReplicaTerms(reward=10, stake=5, bond=1, replicas=2)
    led = ReplicaLedger(t)
    led.post()
    led.deposit("a", 20)
    led.claim("a")
    with pytest.raises(EconomicsError, match="already holds a seat"):
        led.claim("a")
    with pytest.raises(EconomicsError, match="free stake"):
        led.claim("b")
    with pytest.raises(EconomicsError, match="needs WINDOW"):
        led.finalize()
    for bad, what in (
        ({"replicas": 1}, "replicas must be in"),
        ({"replicas": 6}, "replicas must be in"),
        ({"reward": 2, "replicas": 3}, "below replicas"),
        ({"stake": 0}, "stake must be positive"),
        ({"window": -1}, "window must be"),
    ):
        kw = {"reward": 10, "stake": 5, "bond": 1, "replicas": 2} | bad
        with pytest.raises(EconomicsError, match=what):
            rr.ReplicaTerms(**kw)
    with pytest.raises(EconomicsError, match="no upheld seat"):
        rr.finalized(t, [], "poster")
    assert len(honest_seats(t)) == 2


def test_the_tables_of_docs_economics_section_6_are_generated_from_the_model() -> None:
    """`python -m poc_lab.bench.economics --replicas-only` rewrites them; this says when to."""
    from poc_lab.bench.economics import ECON_DOC, replica_sections

    doc = ECON_DOC.read_text()
    for name, body in replica_sections().items():
        block = f"<!-- {name}:begin -->\n{body.rstrip()}\n<!-- {name}:end -->"
        assert block in doc, f"docs/economics.md {name} is stale: rerun --replicas-only"
