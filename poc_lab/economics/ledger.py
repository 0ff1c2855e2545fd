"""One job's money, call by call, as JobMarket and StakeManager hold it: the escrow, the bonds,
every account's wallet, credits, free and locked stake, and the burned wei. Each call mirrors a
contract function, refuses what the contract refuses (wrong state, too little free stake) and
applies the rules' settlement for the outcome it causes.

Time is not modelled (deadlines, windows and clocks are the caller's to respect); the order of
calls is. Conservation holds after every call: the wallets, credits, stake, escrow and bonds
of everyone, plus the burned wei, always sum to zero (every account starts at zero; what it
deposits, posts or bonds leaves its wallet)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from poc_lab.economics.rules import Game, Rules, Terms
from poc_lab.economics.settlement import EconomicsError, Pot, Settlement


class JobState(Enum):
    NONE = 0
    OPEN = 1
    CLAIMED = 2
    FINALIZED = 3
    CANCELLED = 4


class ClaimState(Enum):
    ACTIVE = 1
    SUBMITTED = 2
    ACCEPTED = 3
    REJECTED = 4
    EXPIRED = 5


@dataclass
class Account:
    wallet: int = 0  # wei the account paid in (negative) or withdrew
    credits: int = 0
    free: int = 0
    locked: int = 0

    @property
    def wealth(self) -> int:
        return self.wallet + self.credits + self.free + self.locked


@dataclass
class ClaimRecord:
    provider: str
    state: ClaimState = ClaimState.ACTIVE
    games: list[int] = field(default_factory=list)


@dataclass
class GameRecord:
    claim: int
    game: Game
    settled: bool = False
    provider_won: bool | None = None


class Books:
    """The money of one job's model, whichever market: the accounts, the escrow, the bonds
    held and what was burned; a settlement moves it, and every wei in must equal every wei out
    after each one."""

    def __init__(self, poster: str) -> None:
        self.poster = poster
        self.accounts: dict[str, Account] = defaultdict(Account)
        self.escrow = 0
        self.bonds = 0
        self.burned = 0
        self.settlements: list[Settlement] = []

    def total(self) -> int:
        """Zero at all times (conservation)."""
        held = sum(a.wealth for a in self.accounts.values())
        return held + self.escrow + self.bonds + self.burned

    def delta(self, *names: str) -> int:
        """Wealth change of the named accounts together (a provider and its puppets)."""
        return sum(self.accounts[n].wealth for n in names)

    def _apply(self, s: Settlement) -> Settlement:
        for t in s.taken:
            if t.pot == Pot.ESCROW:
                self._take("escrow", t.amount)
            elif t.pot == Pot.BOND:
                self._take("bonds", t.amount)
            else:
                a = self.accounts[t.owner]
                if a.locked < t.amount:
                    raise EconomicsError(f"{s.outcome}: {t.owner} has only {a.locked} locked")
                a.locked -= t.amount
        for c in s.credits:
            self.accounts[c.account].credits += c.amount
        for u in s.unlocked:
            self.accounts[u.account].free += u.amount
        self.burned += s.burned
        self.settlements.append(s)
        if self.total() != 0:
            raise EconomicsError(f"{s.outcome}: money not conserved ({self.total()} wei)")
        return s

    def _take(self, pot: str, amount: int) -> None:
        have = getattr(self, pot)
        if have < amount:
            raise EconomicsError(f"{pot} holds {have} wei, cannot pay {amount}")
        setattr(self, pot, have - amount)


class JobLedger(Books):
    def __init__(self, rules: Rules, terms: Terms, poster: str = "poster") -> None:
        super().__init__(poster)
        self.rules = rules
        self.terms = terms
        self.state = JobState.NONE
        self.claims: list[ClaimRecord] = []
        self.games: list[GameRecord] = []

    # ---- reads ---------------------------------------------------------------------------

    def account(self, name: str) -> Account:
        return self.accounts[name]

    @property
    def claim_state(self) -> ClaimState | None:
        return self.claims[-1].state if self.claims else None

    def active_games(self, claim: int) -> list[int]:
        return [g for g in self.claims[claim].games if not self.games[g].settled]

    # ---- calls -------------------------------------------------------------------------

    def deposit(self, who: str, amount: int) -> None:
        a = self.accounts[who]
        a.wallet -= amount
        a.free += amount

    def post(self) -> None:
        self._expect_job(JobState.NONE)
        self.accounts[self.poster].wallet -= self.terms.reward
        self.escrow += self.terms.reward
        self.state = JobState.OPEN

    def claim(self, provider: str) -> int:
        self._expect_job(JobState.OPEN)
        a = self.accounts[provider]
        if a.free < self.terms.stake:
            raise EconomicsError(
                f"claim: {provider} has {a.free} wei free stake, the job locks {self.terms.stake}"
            )
        a.free -= self.terms.stake
        a.locked += self.terms.stake
        self.claims.append(ClaimRecord(provider))
        self.state = JobState.CLAIMED
        return len(self.claims) - 1

    def submit(self) -> None:
        self._expect_claim(ClaimState.ACTIVE)
        self.claims[-1].state = ClaimState.SUBMITTED

    def challenge(self, challenger: str) -> int:
        """Opens a game against the current (Submitted) claim; returns its index. v2 locks the
        game's backing out of the provider's free stake now."""
        self._expect_claim(ClaimState.SUBMITTED)
        c = self.claims[-1]
        prov = self.accounts[c.provider]
        backing = self.rules.backing(self.terms, prov.free)
        prov.free -= backing
        prov.locked += backing
        self.accounts[challenger].wallet -= self.terms.bond
        self.bonds += self.terms.bond
        self.games.append(
            GameRecord(len(self.claims) - 1, Game(c.provider, challenger, self.terms.bond, backing))
        )
        c.games.append(len(self.games) - 1)
        return len(self.games) - 1

    def resolve(self, game: int, provider_won: bool) -> Settlement:
        """The game ends (by its moves or by `timeout`)."""
        g = self.games[game]
        if g.settled:
            raise EconomicsError(f"game {game} is already settled")
        c = self.claims[g.claim]
        if provider_won:
            s = self.rules.game_won_by_provider(g.game, c.state == ClaimState.REJECTED)
        else:
            submitted = c.state == ClaimState.SUBMITTED
            s = self.rules.game_won_by_challenger(self.terms, g.game, submitted)
            if submitted:
                self._reject(g.claim)
        g.settled, g.provider_won = True, provider_won
        return self._apply(s)

    def finalize(self) -> Settlement:
        self._expect_claim(ClaimState.SUBMITTED)
        if self.active_games(len(self.claims) - 1):
            raise EconomicsError("finalize: games pending")
        c = self.claims[-1]
        c.state = ClaimState.ACCEPTED
        self.state = JobState.FINALIZED
        return self._apply(self.rules.finalized(self.terms, c.provider, self.poster))

    def expire(self) -> Settlement:
        self._expect_claim(ClaimState.ACTIVE)
        c = self.claims[-1]
        c.state = ClaimState.EXPIRED
        self.state = JobState.OPEN
        return self._apply(self.rules.expired(self.terms, c.provider, self.poster))

    def output_timeout(self) -> Settlement:
        """v2: the poster demanded the output and the provider did not publish it in time."""
        self._expect_claim(ClaimState.SUBMITTED)
        c = self.claims[-1]
        s = self.rules.rejected_withheld(self.terms, c.provider)
        self._reject(len(self.claims) - 1)
        return self._apply(s)

    def cancel(self) -> list[Settlement]:
        """The poster's cancel: while Open; under v2 also on an Active claim past its
        deadline, which it first expires (the caller checks the deadline)."""
        out = []
        if self.state == JobState.CLAIMED and self.rules.name == "v2":
            out.append(self.expire())
        self._expect_job(JobState.OPEN)
        self.state = JobState.CANCELLED
        out.append(self._apply(self.rules.cancelled(self.terms, self.poster)))
        return out

    def withdraw(self, who: str) -> int:
        a = self.accounts[who]
        amount, a.credits = a.credits, 0
        a.wallet += amount
        return amount

    # ---- internals -----------------------------------------------------------------------

    def _reject(self, claim: int) -> None:
        self.claims[claim].state = ClaimState.REJECTED
        self.state = JobState.OPEN  # the job reopens with its escrow

    def _expect_job(self, want: JobState) -> None:
        if self.state != want:
            raise EconomicsError(f"job is {self.state.name}, the call needs {want.name}")

    def _expect_claim(self, want: ClaimState) -> None:
        if self.state != JobState.CLAIMED or self.claim_state != want:
            raise EconomicsError(
                f"claim is {self.claim_state}, job {self.state.name}: the call needs {want.name}"
            )
