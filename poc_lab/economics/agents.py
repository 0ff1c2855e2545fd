"""Strategic agents and one job played out between them on a `JobLedger`.

A job has a poster, one provider of some kind, an honest watchtower (re-executes every claim it
sees), a sampling watchtower (re-executes a fraction q), and a griefer (challenges correct
claims). `play_job` takes the job's random circumstances (`Draw`: the provider's kind, who
checks, who challenges first) and returns each role's money (exact wei, from the ledger), gas
(units, from the measured table of `constants`) and compute (re-executions). Prices are applied
by the simulation, per job.

Provider kinds:
- honest: executes, submits, defends every game, finalizes.
- liar: submits a wrong result without executing (saves the compute), keeps `free_stake`.
- puppeteer: a liar that opens `puppets` games against its own claim from puppet accounts in
  the submit transaction (a contract does both), so that they lock its free stake before any
  watchtower's game. Its best response to a watchtower's challenge: under v1 let the first
  puppet win at once (F1: the puppet takes half the lock); under v2 win every puppet game (the
  puppets stop answering: bonds and backing come back), since losing one only burns half its
  backing. `puppet_policy="lose"` replays F1 under v2 (every puppet game lost).
- liar without free stake: deposits exactly the lock, so every game against it is unbacked.
- hostage griefer (F4): claims and never submits. v1: at each deadline `expire` + `claim` in
  one transaction until `claimBy`; v2: the poster cancels at the first deadline.
- withholder (P6): executes, submits the correct root, never publishes the output. v2: the
  poster demands it and calls `outputTimeout`; v1: paid in full.

A caught liar answers every move (`liar_plays`, the default: the watchtower pays a whole game,
the conservative case for it) or stops (its challengers pay a `timeout` only)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from poc_lab.economics.constants import (
    CANCEL_GAS,
    CHALLENGE_GAS,
    CLAIM_GAS,
    DEMAND_OUTPUT_GAS,
    EXPIRE_GAS,
    FINALIZE_GAS,
    OUTPUT_TIMEOUT_GAS,
    POST_GAS,
    SUBMIT_GAS,
    TIMEOUT_GAS,
    WITHDRAW_GAS,
    DisputeGas,
)
from poc_lab.economics.constants import MISSED_DEADLINE_SLASH_BPS as _EXPIRY_BPS
from poc_lab.economics.ledger import JobLedger
from poc_lab.economics.rules import Rules, Terms, share
from poc_lab.economics.settlement import EconomicsError

POSTER, PROVIDER, TOWER, SAMPLER, GRIEFER = "poster", "provider", "tower", "sampler", "griefer"


class ProviderKind(Enum):
    HONEST = "honest provider"
    LIAR = "lying provider (plain)"
    PUPPETEER = "lying provider (self-challenging puppets)"
    LIAR_NO_FREE = "lying provider (no free stake)"
    HOSTAGE = "hostage griefer"
    WITHHOLDER = "withholding provider"

    @property
    def correct_result(self) -> bool:
        return self in (ProviderKind.HONEST, ProviderKind.WITHHOLDER)

    @property
    def lies(self) -> bool:
        return self in (ProviderKind.LIAR, ProviderKind.PUPPETEER, ProviderKind.LIAR_NO_FREE)


@dataclass(frozen=True)
class Strategies:
    free_stake: int  # stake a provider keeps free beyond the claim lock (wei)
    puppets: int = 2
    puppet_policy: str = "best"  # best | lose
    liar_plays: bool = True

    def __post_init__(self) -> None:
        if self.puppet_policy not in ("best", "lose"):
            raise EconomicsError(f"puppet policy {self.puppet_policy!r}: best or lose")
        if self.puppets < 1 or self.free_stake < 0:
            raise EconomicsError(f"strategies: at least one puppet, free stake >= 0: {self}")


@dataclass(frozen=True)
class Draw:
    """One job's circumstances."""

    kind: ProviderKind
    tower_checks: bool = True
    sampler_checks: bool = False
    griefed: bool = False
    tower_first: bool = True


@dataclass
class JobRun:
    money: dict[str, int]  # wealth change in wei (puppets counted with their provider)
    gas: dict[str, int]
    compute: dict[str, int]  # executions of the job's program
    delivered: bool  # the poster got a correct, available result
    burned: int
    bounty: dict[str, int]  # credits with reason BOUNTY, per role
    ledger: JobLedger = field(repr=False)


class _Play:
    def __init__(self, rules: Rules, terms: Terms) -> None:
        self.ledger = JobLedger(rules, terms, POSTER)
        self.gas: dict[str, int] = defaultdict(int)
        self.compute: dict[str, int] = defaultdict(int)
        self.owner: dict[str, str] = {}  # puppet -> provider

    def tx(self, who: str, gas: int) -> None:
        self.gas[self.owner.get(who, who)] += gas

    def withdraw_all(self) -> None:
        for name, acct in list(self.ledger.accounts.items()):
            if acct.credits:
                self.ledger.withdraw(name)
                self.tx(name, WITHDRAW_GAS)


def loses_by_clock(provider_moves: int, block_time: float, clock: int) -> bool:
    """An honest provider answers each move in the block after the challenger's: its clock is
    charged at least one block time per move (docs/protocol.md §6.5, clock floor)."""
    return provider_moves * block_time > clock


def play_job(
    rules: Rules,
    terms: Terms,
    dispute: DisputeGas,
    strategies: Strategies,
    draw: Draw,
    block_time: float = 0.0,
) -> JobRun:
    """One job. `block_time` decides whether an honest provider loses a game by clock (F2:
    `clock` shorter than its moves times the block time)."""
    p = _Play(rules, terms)
    led, kind = p.ledger, draw.kind
    free = 0 if kind == ProviderKind.LIAR_NO_FREE else strategies.free_stake
    if kind == ProviderKind.HOSTAGE:
        free += hostage_claims(terms, rules.name) * share(terms.stake, _EXPIRY_BPS)
    led.deposit(PROVIDER, terms.stake + free)  # stake is wealth: depositing changes nothing
    led.post()
    p.tx(POSTER, POST_GAS)
    led.claim(PROVIDER)
    p.tx(PROVIDER, CLAIM_GAS)
    if kind == ProviderKind.HOSTAGE:
        _hostage(p, rules.name)
        delivered = False
    else:
        delivered = _submitted(p, rules, dispute, strategies, draw, block_time)
    p.withdraw_all()
    if led.total() != 0:  # the ledger checks every call; this is the job as a whole
        raise EconomicsError(f"job not conserved: {led.total()} wei")
    money: dict[str, int] = defaultdict(int)
    bounty: dict[str, int] = defaultdict(int)
    for name in led.accounts:
        money[p.owner.get(name, name)] += led.delta(name)
    for s in led.settlements:
        for c in s.credits:
            if c.reason.name == "BOUNTY":
                bounty[p.owner.get(c.account, c.account)] += c.amount
    return JobRun(
        dict(money), dict(p.gas), dict(p.compute), delivered, led.burned, dict(bounty), led
    )


def hostage_claims(terms: Terms, rules: str) -> int:
    """Claims the hostage griefer makes: one under v2; under v1 one per deadline until claimBy
    (each `expire` + `claim` lands one second after the previous claim's deadline)."""
    if rules == "v2":
        return 1
    return terms.claim_within // (terms.execute_within + 1) + 1


def _hostage(p: _Play, rules: str) -> None:
    led = p.ledger
    for _ in range(hostage_claims(led.terms, rules) - 1):  # v1: expire + claim, one tx
        led.expire()
        led.claim(PROVIDER)
        p.tx(PROVIDER, EXPIRE_GAS + CLAIM_GAS)
    if rules == "v2":
        led.cancel()  # at the deadline: expires the claim and cancels in one call
        p.tx(POSTER, EXPIRE_GAS + CANCEL_GAS)
    else:  # past claimBy nobody can claim: the poster expires the last claim and cancels
        led.expire()
        led.cancel()
        p.tx(POSTER, EXPIRE_GAS + CANCEL_GAS)


def _submitted(
    p: _Play, rules: Rules, dispute: DisputeGas, st: Strategies, draw: Draw, block_time: float
) -> bool:
    """Submission, checks, games and the end of the claim. Returns whether the poster got a
    correct, available result."""
    led, kind = p.ledger, draw.kind
    if kind.correct_result:
        p.compute[PROVIDER] += 1
    led.submit()
    p.tx(PROVIDER, SUBMIT_GAS)
    puppet_games = []
    if kind == ProviderKind.PUPPETEER:  # in the submit transaction: before anyone else
        for i in range(st.puppets):
            name = f"puppet{i + 1}"
            p.owner[name] = PROVIDER
            puppet_games.append(led.challenge(name))
            p.tx(PROVIDER, CHALLENGE_GAS)
    order = [TOWER, SAMPLER] if draw.tower_first else [SAMPLER, TOWER]
    finders = []
    for w in order:
        if draw.tower_checks if w == TOWER else draw.sampler_checks:
            p.compute[w] += 1
            if kind.lies:
                finders.append(w)
    tower_games = []
    for w in finders:  # in the order they land
        tower_games.append((w, led.challenge(w)))
        p.tx(w, CHALLENGE_GAS)
    if kind.correct_result and draw.griefed:
        g = led.challenge(GRIEFER)
        p.tx(GRIEFER, CHALLENGE_GAS)
        p.tx(PROVIDER, dispute.provider)  # the griefer plays to the step and loses there
        p.tx(GRIEFER, dispute.challenger)
        by_clock = loses_by_clock(dispute.provider_moves, block_time, led.terms.clock)
        if by_clock:  # F2: unless the provider's clock runs out first
            p.tx(GRIEFER, TIMEOUT_GAS)
        else:  # lost at the step: counted as the provider's settle (it is owed; the griefer need not)
            p.tx(PROVIDER, dispute.settle)
        led.resolve(g, provider_won=not by_clock)
        if by_clock:
            _poster_cancels(p)
            return False

    if kind.lies and tower_games:
        lose_puppets = rules.name == "v1" or st.puppet_policy == "lose"
        for i, g in enumerate(puppet_games):
            # v1 best response: only the first puppet game is lost, the others are won
            if lose_puppets and (i == 0 or st.puppet_policy == "lose"):
                p.tx(PROVIDER, dispute.total + dispute.settle)  # both sides the liar's, fast
                led.resolve(g, provider_won=False)
            else:
                p.tx(PROVIDER, dispute.first_provider_move + TIMEOUT_GAS)
                led.resolve(g, provider_won=True)
        for w, g in tower_games:
            if st.liar_plays:
                p.tx(PROVIDER, dispute.provider)
                p.tx(w, dispute.challenger + dispute.settle)  # its step, then its settle
            else:
                p.tx(w, TIMEOUT_GAS)
            led.resolve(g, provider_won=False)
        _poster_cancels(p)
        return False
    for g in puppet_games:  # nobody caught it: the puppets stop answering and lose
        p.tx(PROVIDER, dispute.first_provider_move + TIMEOUT_GAS)
        led.resolve(g, provider_won=True)
    if kind == ProviderKind.WITHHOLDER and rules.name == "v2":
        p.tx(POSTER, DEMAND_OUTPUT_GAS + OUTPUT_TIMEOUT_GAS)
        led.output_timeout()
        _poster_cancels(p)
        return False
    led.finalize()
    p.tx(PROVIDER, FINALIZE_GAS)
    return kind == ProviderKind.HONEST


def _poster_cancels(p: _Play) -> None:
    """A reopened job: the poster takes its escrow back (the simulation counts every claim as
    one job; reposting it would be a new one)."""
    p.ledger.cancel()
    p.tx(POSTER, CANCEL_GAS)
