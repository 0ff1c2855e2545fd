"""The payout rules as pure functions, one per outcome: v2 (issue 11, the rules the contracts
implement now) and v1 (the rules before it, kept to show what the attacks of issue 11 earned).

Each function returns a `Settlement` in wei with the contracts' integer arithmetic (products
before the division, rounding down). Names of the outcomes:

- `finalized`: the window closed with no game lost; reward to the provider, lock released.
- `expired`: the execution deadline passed; MISSED_DEADLINE_SLASH_BPS of the lock to the poster.
- `game_won_by_provider`, `game_won_by_challenger`: one game settles (v2: on its own, whatever
  the claim's state; v1: the claim's state decides who gets what).
- `rejected_withheld`: v2 only, the output was demanded and not published in time.
- `cancelled`: the poster takes its escrow back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from poc_lab.economics.constants import BPS, CHALLENGER_SHARE_BPS, MISSED_DEADLINE_SLASH_BPS
from poc_lab.economics.settlement import (
    Credit,
    EconomicsError,
    Pot,
    Reason,
    Settlement,
    Taken,
    Unlock,
)


@dataclass(frozen=True)
class Terms:
    """A job's money and time parameters (wei, seconds), as `post` takes them."""

    reward: int
    stake: int  # requiredStake: the claim lock L
    bond: int  # challengerBond
    execute_within: int
    window: int
    clock: int
    claim_within: int = 86_400  # claimBy - post time

    def __post_init__(self) -> None:
        for name in ("reward", "stake", "bond", "execute_within", "window", "clock"):
            if getattr(self, name) <= 0:
                raise EconomicsError(f"job terms: {name} must be positive, got {self}")


@dataclass(frozen=True)
class Game:
    """One game of a claim: who plays it, the bond, and (v2) the provider stake backing it."""

    provider: str
    challenger: str
    bond: int
    backing: int = 0


def share(amount: int, bps: int) -> int:
    return amount * bps // BPS


class Rules(Protocol):
    name: str

    def backing(self, terms: Terms, free_stake: int) -> int: ...

    def finalized(self, terms: Terms, provider: str, poster: str) -> Settlement: ...

    def expired(self, terms: Terms, provider: str, poster: str) -> Settlement: ...

    def game_won_by_provider(self, game: Game, claim_rejected: bool) -> Settlement: ...

    def game_won_by_challenger(
        self, terms: Terms, game: Game, claim_submitted: bool
    ) -> Settlement: ...

    def rejected_withheld(self, terms: Terms, provider: str) -> Settlement: ...

    def cancelled(self, terms: Terms, poster: str) -> Settlement: ...


class _Common:
    """Outcomes that v1 and v2 settle alike."""

    def finalized(self, terms: Terms, provider: str, poster: str) -> Settlement:
        return Settlement(
            "finalized",
            taken=(
                Taken(Pot.ESCROW, poster, terms.reward),
                Taken(Pot.CLAIM_LOCK, provider, terms.stake),
            ),
            credits=(Credit(provider, terms.reward, Reason.REWARD),),
            unlocked=(Unlock(provider, terms.stake),),
        )

    def expired(self, terms: Terms, provider: str, poster: str) -> Settlement:
        slashed = share(terms.stake, MISSED_DEADLINE_SLASH_BPS)
        return Settlement(
            "expired",
            taken=(Taken(Pot.CLAIM_LOCK, provider, terms.stake),),
            credits=(Credit(poster, slashed, Reason.COMPENSATION),),
            unlocked=(Unlock(provider, terms.stake - slashed),),
        )

    def cancelled(self, terms: Terms, poster: str) -> Settlement:
        return Settlement(
            "cancelled",
            taken=(Taken(Pot.ESCROW, poster, terms.reward),),
            credits=(Credit(poster, terms.reward, Reason.REFUND),),
        )


class RulesV2(_Common):
    """Issue 11: the claim lock is burned whole (R1); each game is backed by up to
    requiredStake of the provider's free stake locked when it opens (R2) and settles on its own
    (R3); a withheld output burns the lock (R4)."""

    name = "v2"

    def backing(self, terms: Terms, free_stake: int) -> int:
        return max(0, min(terms.stake, free_stake))

    def game_won_by_provider(self, game: Game, claim_rejected: bool) -> Settlement:
        # R3: whatever the claim's state, the bond to the provider, the backing back to it
        return backed_game_won_by_provider(game, "game won by provider")

    def game_won_by_challenger(self, terms: Terms, game: Game, claim_submitted: bool) -> Settlement:
        # R1: the first lost game rejects the claim, its lock burned whole
        lock = Taken(Pot.CLAIM_LOCK, game.provider, terms.stake) if claim_submitted else None
        label = "game won by challenger" + (" (claim rejected)" if claim_submitted else "")
        return backed_game_won_by_challenger(game, lock, label)

    def rejected_withheld(self, terms: Terms, provider: str) -> Settlement:
        return Settlement(
            "rejected: output withheld",
            taken=(Taken(Pot.CLAIM_LOCK, provider, terms.stake),),
            burned=terms.stake,
        )


class RulesV1(_Common):
    """Before issue 11: the first game the provider loses rejects the claim and pays its
    challenger bond + CHALLENGER_SHARE_BPS of the lock, the rest burned; every other game of a
    rejected claim returns its bond to its challenger. Games have no backing."""

    name = "v1"

    def backing(self, terms: Terms, free_stake: int) -> int:
        return 0

    def game_won_by_provider(self, game: Game, claim_rejected: bool) -> Settlement:
        to = game.challenger if claim_rejected else game.provider
        return Settlement(
            "game won by provider" + (" (claim already rejected)" if claim_rejected else ""),
            taken=(Taken(Pot.BOND, game.challenger, game.bond),),
            credits=(Credit(to, game.bond, Reason.BOND),),
        )

    def game_won_by_challenger(self, terms: Terms, game: Game, claim_submitted: bool) -> Settlement:
        if not claim_submitted:
            return Settlement(
                "game won by challenger (claim already rejected)",
                taken=(Taken(Pot.BOND, game.challenger, game.bond),),
                credits=(Credit(game.challenger, game.bond, Reason.BOND),),
            )
        reward = share(terms.stake, CHALLENGER_SHARE_BPS)
        return Settlement(
            "game won by challenger (claim rejected)",
            taken=(
                Taken(Pot.BOND, game.challenger, game.bond),
                Taken(Pot.CLAIM_LOCK, game.provider, terms.stake),
            ),
            credits=(
                Credit(game.challenger, game.bond, Reason.BOND),
                Credit(game.challenger, reward, Reason.BOUNTY),
            ),
            burned=terms.stake - reward,
        )

    def rejected_withheld(self, terms: Terms, provider: str) -> Settlement:
        raise EconomicsError("v1 has no output-availability path: a withheld output is paid")


V1 = RulesV1()
V2 = RulesV2()
RULES: dict[str, Rules] = {"v1": V1, "v2": V2}


def backed_game_won_by_provider(game: Game, label: str) -> Settlement:
    """A game backed by the provider's free stake (R2), won by the provider: the challenger's
    bond to it, the backing unlocked. The replica market's watch games pay the same."""
    return Settlement(
        label,
        taken=(
            Taken(Pot.BOND, game.challenger, game.bond),
            Taken(Pot.GAME_BACKING, game.provider, game.backing),
        ),
        credits=(Credit(game.provider, game.bond, Reason.BOND),),
        unlocked=(Unlock(game.provider, game.backing),),
    )


def backed_game_won_by_challenger(game: Game, lock: Taken | None, label: str) -> Settlement:
    """A backed game won by the challenger: its bond back, CHALLENGER_SHARE_BPS of the backing,
    the rest burned; `lock` (the claim's or the seat's, when this game rejects it) burned whole."""
    bounty = share(game.backing, CHALLENGER_SHARE_BPS)
    taken = [
        Taken(Pot.BOND, game.challenger, game.bond),
        Taken(Pot.GAME_BACKING, game.provider, game.backing),
    ]
    burned = game.backing - bounty
    if lock is not None:
        taken.append(lock)
        burned += lock.amount
    return Settlement(
        label,
        taken=tuple(taken),
        credits=(
            Credit(game.challenger, game.bond, Reason.BOND),
            Credit(game.challenger, bounty, Reason.BOUNTY),
        ),
        burned=burned,
    )
