"""The replicated mode's payout rules (ReplicaMarket, docs/protocol.md §6.8) as pure functions,
in the style of `rules`: each returns a `Settlement` in wei with the contract's integer
arithmetic, and a settlement that does not balance cannot exist.

Outcomes, each as ReplicaMarket pays it:

- `finalized`: the window closed (or W = 0: the last reveal); every upheld seat is credited
  `share = R // r` and its lock released; the poster gets `R - share x upheld` back (the
  shares of seats that failed, and the rounding dust).
- `seat_expired`: a seat missed its commit or its reveal (`_tally`): MISSED_DEADLINE_SLASH_BPS
  of its lock to the poster, the rest released, as a missed execution deadline.
- `pair_game_lost`: a pair game between two disagreeing seats settles; the loser's first lost
  game slashes its whole lock, CHALLENGER_SHARE_BPS of it to the winner and the rest burned;
  a seat already rejected loses nothing more, and its winner gets nothing (`_rejectPair`).
- `watch_won_by_provider`, `watch_won_by_challenger`: a watchtower's game against an upheld
  seat in the agreement window, settled as the optimistic v2 game (§6.5 R2-R3): the seat's
  first lost game burns its lock whole (R1).
- `cancelled`: the poster (no seat taken) or anyone after claimBy: seats released, escrow back.

A round in which no seat stands moves no money of its own: the job reopens with its escrow
(`ReplicaLedger` keeps it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poc_lab.economics.constants import CHALLENGER_SHARE_BPS, MISSED_DEADLINE_SLASH_BPS
from poc_lab.economics.rules import (
    Game,
    backed_game_won_by_challenger,
    backed_game_won_by_provider,
    share,
)
from poc_lab.economics.settlement import (
    Credit,
    EconomicsError,
    Pot,
    Reason,
    Settlement,
    Taken,
    Unlock,
)

MIN_REPLICAS = 2
MAX_REPLICAS = 5  # ReplicaMarket.MAX_REPLICAS


@dataclass(frozen=True)
class ReplicaTerms:
    """A replicated job's money terms (wei) as `post` takes them: the reward `R` split over
    `replicas` seats, each seat's lock `L` (requiredStake), the watchtowers' bond `B` and the
    poster's agreement window `W` in seconds (0: final at the last reveal)."""

    reward: int
    stake: int
    bond: int
    replicas: int
    window: int = 0

    def __post_init__(self) -> None:
        if not MIN_REPLICAS <= self.replicas <= MAX_REPLICAS:
            raise EconomicsError(
                f"replica terms: replicas must be in [{MIN_REPLICAS}, {MAX_REPLICAS}], "
                f"got {self.replicas}"
            )
        # ReplicaMarket._checkReward: every seat's share is at least 1
        if self.reward < self.replicas:
            raise EconomicsError(
                f"replica terms: reward {self.reward} is below replicas {self.replicas} "
                "(each seat's share must be at least 1 wei)"
            )
        for name in ("stake", "bond"):
            if getattr(self, name) <= 0:
                raise EconomicsError(f"replica terms: {name} must be positive, got {self}")
        if self.window < 0:
            raise EconomicsError(f"replica terms: window must be >= 0, got {self.window}")

    @property
    def share(self) -> int:
        """What each upheld seat is paid, whatever the other seats do."""
        return self.reward // self.replicas


def backing(t: ReplicaTerms, free_stake: int) -> int:
    """A watch game's backing: up to one lock of the seat holder's free stake (R2)."""
    return max(0, min(t.stake, free_stake))


def finalized(t: ReplicaTerms, upheld: Sequence[str], poster: str) -> Settlement:
    if not upheld:
        raise EconomicsError("finalize with no upheld seat: the job reopens instead")
    if len(upheld) > t.replicas:
        raise EconomicsError(f"{len(upheld)} upheld seats of {t.replicas}")
    refund = t.reward - t.share * len(upheld)
    return Settlement(
        "finalized",
        taken=(
            Taken(Pot.ESCROW, poster, t.reward),
            *(Taken(Pot.SEAT_LOCK, p, t.stake) for p in upheld),
        ),
        credits=(
            *(Credit(p, t.share, Reason.REWARD) for p in upheld),
            Credit(poster, refund, Reason.REFUND),
        ),
        unlocked=tuple(Unlock(p, t.stake) for p in upheld),
    )


def seat_expired(t: ReplicaTerms, provider: str, poster: str) -> Settlement:
    slashed = share(t.stake, MISSED_DEADLINE_SLASH_BPS)
    return Settlement(
        "seat expired (missed commit or reveal)",
        taken=(Taken(Pot.SEAT_LOCK, provider, t.stake),),
        credits=(Credit(poster, slashed, Reason.COMPENSATION),),
        unlocked=(Unlock(provider, t.stake - slashed),),
    )


def pair_game_lost(t: ReplicaTerms, loser: str, winner: str, first_loss: bool) -> Settlement:
    """`first_loss`: the loser's seat was still Revealed (no game lost yet)."""
    if not first_loss:
        return Settlement("pair game lost by a seat already rejected", taken=())
    bounty = share(t.stake, CHALLENGER_SHARE_BPS)
    return Settlement(
        "pair game lost (seat rejected)",
        taken=(Taken(Pot.SEAT_LOCK, loser, t.stake),),
        credits=(Credit(winner, bounty, Reason.BOUNTY),),
        burned=t.stake - bounty,
    )


def watch_won_by_provider(game: Game) -> Settlement:
    return backed_game_won_by_provider(game, "watch game won by the seat")


def watch_won_by_challenger(t: ReplicaTerms, game: Game, seat_upheld: bool) -> Settlement:
    """`seat_upheld`: the seat was still Revealed, so this game rejects it and burns its lock."""
    lock = Taken(Pot.SEAT_LOCK, game.provider, t.stake) if seat_upheld else None
    label = "watch game won by the watchtower" + (" (seat rejected)" if seat_upheld else "")
    return backed_game_won_by_challenger(game, lock, label)


def cancelled(t: ReplicaTerms, poster: str, seated: Sequence[str]) -> Settlement:
    return Settlement(
        "cancelled",
        taken=(
            Taken(Pot.ESCROW, poster, t.reward),
            *(Taken(Pot.SEAT_LOCK, p, t.stake) for p in seated),
        ),
        credits=(Credit(poster, t.reward, Reason.REFUND),),
        unlocked=tuple(Unlock(p, t.stake) for p in seated),
    )
