"""The attacks of issue 11 priced under v1 and v2 on the exact ledger: F1 (a liar challenges its
own claim from puppets), F2 (a clock too short for the honest provider's moves), F4 (a job
held hostage by claims that are never submitted) and P6 (a correct root whose output is never
published). Each row is one attacker strategy under one set of rules: the attacker's money
(wei, exact), its gas (units) and what the honest party gets or loses."""

from __future__ import annotations

from dataclasses import dataclass

from poc_lab.economics.agents import (
    POSTER,
    PROVIDER,
    TOWER,
    Draw,
    ProviderKind,
    Strategies,
    hostage_claims,
    loses_by_clock,
    play_job,
)
from poc_lab.economics.constants import (
    CANCEL_GAS,
    CHALLENGE_GAS,
    POST_GAS,
    TIMEOUT_GAS,
    WITHDRAW_GAS,
    DisputeGas,
)
from poc_lab.economics.ledger import JobLedger
from poc_lab.economics.rules import RULES, Terms


@dataclass(frozen=True)
class AttackRow:
    attack: str
    rules: str
    strategy: str
    attacker_money: int  # wei, the attacker's wealth change before gas (puppets included)
    attacker_gas: int
    honest: str  # who the honest party is
    honest_money: int  # wei, its wealth change before gas
    burned: int
    note: str = ""


def f1_self_challenge(
    terms: Terms, dispute: DisputeGas, free_stakes: tuple[int, ...], puppets: int = 1
) -> list[AttackRow]:
    """A liar caught by one honest watchtower, having opened `puppets` games against itself in
    the submit transaction; for each free stake it keeps: v1 (the first puppet wins at once),
    v2 best response (the puppets stop answering, the liar wins their games) and v2 with F1
    replayed (every puppet game lost)."""
    rows = []
    for free in free_stakes:
        for rules, policy in (("v1", "best"), ("v2", "best"), ("v2", "lose")):
            st = Strategies(free_stake=free, puppets=puppets, puppet_policy=policy)
            run = play_job(
                RULES[rules], terms, dispute, st, Draw(ProviderKind.PUPPETEER, tower_checks=True)
            )
            what = {
                ("v1", "best"): "first puppet game lost at once",
                ("v2", "best"): "puppet games won (puppets stop)",
                ("v2", "lose"): "puppet games lost (F1 replayed)",
            }[(rules, policy)]
            rows.append(
                AttackRow(
                    "F1",
                    rules,
                    f"{puppets} puppet(s), free stake {free / 10**18:g} ETH: {what}",
                    run.money[PROVIDER],
                    run.gas[PROVIDER],
                    "watchtower",
                    run.money.get(TOWER, 0),
                    run.burned,
                )
            )
    return rows


def f2_short_clock(
    terms: Terms, dispute: DisputeGas, honest_free: int, block_time: float, clock: int
) -> list[AttackRow]:
    """The attacker posts a job with a short clock and challenges the honest provider's
    correct result; the provider loses by clock when `loses_by_clock`. The attacker then
    cancels the reopened job. v2 rows assume the clock were accepted (a deployment floor below
    the formula's): with the floor, `post` reverts and nothing happens."""
    rows = []
    lost = loses_by_clock(dispute.provider_moves, block_time, clock)
    for rules in ("v1", "v2"):
        led = JobLedger(RULES[rules], terms, poster="attacker")
        led.deposit(PROVIDER, terms.stake + honest_free)
        led.post()
        led.claim(PROVIDER)
        led.submit()
        g = led.challenge("attacker")
        led.resolve(g, provider_won=not lost)
        gas = POST_GAS + CHALLENGE_GAS + dispute.challenger + TIMEOUT_GAS
        if lost:
            led.cancel()
            gas += CANCEL_GAS
        else:
            led.finalize()
        led.withdraw("attacker")
        rows.append(
            AttackRow(
                "F2",
                rules,
                f"clock {clock} s, {dispute.provider_moves} provider moves x {block_time:g} s "
                f"blocks: the honest provider {'loses' if lost else 'wins'} by clock",
                led.delta("attacker"),
                gas + WITHDRAW_GAS,
                "honest provider",
                led.delta(PROVIDER),
                led.burned,
            )
        )
    return rows


def f4_hostage(terms: Terms, dispute: DisputeGas) -> list[AttackRow]:
    rows = []
    for rules in ("v1", "v2"):
        run = play_job(
            RULES[rules], terms, dispute, Strategies(free_stake=0), Draw(ProviderKind.HOSTAGE)
        )
        claims = hostage_claims(terms, rules)
        held = (
            terms.execute_within
            if rules == "v2"
            else claims * (terms.execute_within + 1)  # until the last claim's deadline
        )
        rows.append(
            AttackRow(
                "F4",
                rules,
                f"{claims} claim(s), never submitted",
                run.money[PROVIDER],
                run.gas[PROVIDER],
                "poster",
                run.money[POSTER],
                run.burned,
                note=f"escrow held up to {held / 3600:.1f} h",
            )
        )
    return rows


def p6_withholding(terms: Terms, dispute: DisputeGas) -> list[AttackRow]:
    rows = []
    for rules in ("v1", "v2"):
        run = play_job(
            RULES[rules],
            terms,
            dispute,
            Strategies(free_stake=0),
            Draw(ProviderKind.WITHHOLDER, tower_checks=True),
        )
        rows.append(
            AttackRow(
                "P6",
                rules,
                "correct root, output never published",
                run.money[PROVIDER],
                run.gas[PROVIDER],
                "poster",
                run.money[POSTER],
                run.burned,
                note="poster gets its escrow back" if rules == "v2" else "poster paid, no result",
            )
        )
    return rows
