"""What one outcome does with money: which holdings it takes wei from (escrow, a bond, a lock)
and where every wei goes (a credit, stake unlocked back to its owner, the burn address).

A `Settlement` refuses to exist unless the wei it takes equal the wei it gives out, so every
outcome function of the rules conserves money exactly or raises."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from node.errors import PocError


class EconomicsError(PocError):
    """A settlement that does not balance, or a move the contracts would refuse."""

    exit_code = 2


class Reason(IntEnum):
    """JobMarket's (and ReplicaMarket's) credit reasons (`Credited(account, amount, reason)`)."""

    REWARD = 1
    REFUND = 2
    BOND = 3
    BOUNTY = 4
    COMPENSATION = 5


class Pot(Enum):
    """Where wei wait until an outcome moves them."""

    ESCROW = "escrow"  # the job's reward, held by JobMarket (funded by the poster)
    BOND = "bond"  # a challenger's bond, held by JobMarket
    CLAIM_LOCK = "claim lock"  # the provider's stake locked by `claim`, in StakeManager
    GAME_BACKING = "game backing"  # v2: the provider's stake locked by `challenge` for a game
    SEAT_LOCK = "seat lock"  # ReplicaMarket: a replica's stake locked by `claim` for its seat


@dataclass(frozen=True)
class Taken:
    pot: Pot
    owner: str  # who funded it
    amount: int


@dataclass(frozen=True)
class Credit:
    account: str
    amount: int
    reason: Reason


@dataclass(frozen=True)
class Unlock:
    """Locked stake returned to its owner's free stake."""

    account: str
    amount: int


@dataclass(frozen=True)
class Settlement:
    outcome: str
    taken: tuple[Taken, ...]
    credits: tuple[Credit, ...] = ()
    unlocked: tuple[Unlock, ...] = ()
    burned: int = 0

    def __post_init__(self) -> None:
        amounts = [t.amount for t in self.taken] + [c.amount for c in self.credits]
        amounts += [u.amount for u in self.unlocked] + [self.burned]
        if any(a < 0 for a in amounts):
            raise EconomicsError(f"{self.outcome}: a negative amount in {self}")
        out = self.credited_total + self.unlocked_total + self.burned
        if self.taken_total != out:
            raise EconomicsError(
                f"{self.outcome}: takes {self.taken_total} wei but pays out {out} "
                f"(credits {self.credited_total}, unlocked {self.unlocked_total}, "
                f"burned {self.burned})"
            )

    @property
    def taken_total(self) -> int:
        return sum(t.amount for t in self.taken)

    @property
    def credited_total(self) -> int:
        return sum(c.amount for c in self.credits)

    @property
    def unlocked_total(self) -> int:
        return sum(u.amount for u in self.unlocked)

    def credited(self, account: str, reason: Reason | None = None) -> int:
        return sum(
            c.amount
            for c in self.credits
            if c.account == account and (reason is None or c.reason == reason)
        )

    def unlocked_to(self, account: str) -> int:
        return sum(u.amount for u in self.unlocked if u.account == account)

    def taken_from(self, account: str, pot: Pot | None = None) -> int:
        return sum(
            t.amount for t in self.taken if t.owner == account and (pot is None or t.pot == pot)
        )

    def delta(self, account: str) -> int:
        """The account's wealth change: what it receives (credits and unlocked stake) minus
        what it had put in the pots this outcome empties. Over all accounts these sum to
        -burned."""
        return self.credited(account) + self.unlocked_to(account) - self.taken_from(account)

    def accounts(self) -> set[str]:
        names = {t.owner for t in self.taken} | {c.account for c in self.credits}
        return names | {u.account for u in self.unlocked}
