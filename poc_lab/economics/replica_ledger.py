"""One replicated job's money, call by call, as ReplicaMarket and StakeManager hold it
(docs/protocol.md §6.8): the escrow, the watchtowers' bonds, every account's wallet, credits,
free and locked stake, the burned wei, and each provider's record. Each call mirrors a contract
function, refuses what the contract refuses, and applies the `replica_rules` settlement of the
outcome it causes.

Results are labels (`"good"`, `"bad"`): two seats disagree when their labels differ. A
commitment is the tuple the contract hashes, `(sN, provider, salt)`: comparing tuples is
comparing hashes, so a copied commitment binds the address of the seat it was copied from.
Time is not modelled (the caller respects commitBy, revealBy, windows and clocks); the order of
calls is. Conservation holds after every call, as in `ledger.JobLedger`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import Enum

from poc_lab.economics import replica_rules as rr
from poc_lab.economics.ledger import Books
from poc_lab.economics.rules import Game
from poc_lab.economics.settlement import EconomicsError, Settlement

Commitment = tuple[str, str, int]  # (sN, provider, salt): keccak256(abi.encode(...)) on chain


class RJob(Enum):
    NONE = 0
    OPEN = 1
    RUNNING = 2
    DISPUTING = 3
    WINDOW = 4
    FINALIZED = 5
    CANCELLED = 6


class RSeat(Enum):
    CLAIMED = 1
    COMMITTED = 2
    REVEALED = 3
    ACCEPTED = 4
    REJECTED = 5
    EXPIRED = 6
    RELEASED = 7


@dataclass
class SeatRecord:
    provider: str
    round: int
    state: RSeat = RSeat.CLAIMED
    commitment: Commitment | None = None
    result: str | None = None
    watch_games: int = 0  # open watch games against it


@dataclass
class ProviderRecord:
    """ReplicaMarket.recordOf: how a provider's seats ended and what its locks lost."""

    accepted: int = 0
    rejected: int = 0
    expired: int = 0
    slashed: int = 0


@dataclass
class PairGame:
    defender: int  # the earlier seat
    challenger: int
    settled: bool = False


@dataclass
class WatchGame:
    seat: int
    game: Game
    settled: bool = False


class ReplicaLedger(Books):
    def __init__(self, terms: rr.ReplicaTerms, poster: str = "poster") -> None:
        super().__init__(poster)
        self.terms = terms
        self.records: dict[str, ProviderRecord] = defaultdict(ProviderRecord)
        self.state = RJob.NONE
        self.round = 0
        self.seats: list[SeatRecord] = []  # every seat of every round, in claim order
        self.pairs: list[PairGame] = []
        self.watches: list[WatchGame] = []
        self.pending_pairs = 0

    # ---- reads ---------------------------------------------------------------------------

    def current(self) -> list[int]:
        """The seats of the current round, in claim order (`seatsOf`)."""
        return [i for i, s in enumerate(self.seats) if s.round == self.round]

    def upheld(self) -> list[int]:
        return [i for i in self.current() if self.seats[i].state == RSeat.REVEALED]

    # ---- calls ---------------------------------------------------------------------------

    def deposit(self, who: str, amount: int) -> None:
        a = self.accounts[who]
        a.wallet -= amount
        a.free += amount

    def post(self) -> None:
        self._expect(RJob.NONE)
        self.accounts[self.poster].wallet -= self.terms.reward
        self.escrow += self.terms.reward
        self.state = RJob.OPEN

    def claim(self, provider: str) -> int:
        self._expect(RJob.OPEN)
        seated = self.current()
        if any(self.seats[i].provider == provider for i in seated):
            raise EconomicsError(f"claim: {provider} already holds a seat (NotEligible 4)")
        a = self.accounts[provider]
        if a.free < self.terms.stake:
            raise EconomicsError(
                f"claim: {provider} has {a.free} wei free stake, a seat locks {self.terms.stake}"
            )
        a.free -= self.terms.stake
        a.locked += self.terms.stake
        self.seats.append(SeatRecord(provider, self.round))
        if len(seated) + 1 == self.terms.replicas:
            self.state = RJob.RUNNING
        return len(self.seats) - 1

    def commit(self, seat: int, commitment: Commitment) -> None:
        s = self._seat(seat, RSeat.CLAIMED)
        if self.state not in (RJob.OPEN, RJob.RUNNING):
            raise EconomicsError(f"commit: job is {self.state.name}")
        s.commitment = commitment
        s.state = RSeat.COMMITTED

    def reveal(self, seat: int, result: str, salt: int) -> Settlement | None:
        """The seat's holder opens its commitment; the last reveal tallies (and with W = 0 may
        finalize: the returned settlement is the last one applied, if any)."""
        self._expect(RJob.RUNNING)
        s = self._seat(seat, RSeat.COMMITTED)
        opened = (result, s.provider, salt)  # msg.sender is the seat's holder
        if opened != s.commitment:
            raise EconomicsError(
                f"reveal: BadReveal for seat {seat}: {opened} does not open {s.commitment}"
            )
        s.result = result
        s.state = RSeat.REVEALED
        if all(self.seats[i].state == RSeat.REVEALED for i in self.current()):
            return self.tally()
        return None

    def tally(self) -> Settlement | None:
        """After revealBy (the caller's to check) or at the last reveal: the silent seats
        expire; each two revealed seats that disagree play a pair game."""
        self._expect(RJob.RUNNING)
        seats = self.current()
        last: Settlement | None = None
        for i in seats:
            s = self.seats[i]
            if s.state == RSeat.REVEALED:
                continue
            s.state = RSeat.EXPIRED
            st = rr.seat_expired(self.terms, s.provider, self.poster)
            rec = self.records[s.provider]
            rec.expired += 1
            rec.slashed += st.credited(self.poster)
            last = self._apply(st)
        revealed = [i for i in seats if self.seats[i].state == RSeat.REVEALED]
        for x, a in enumerate(revealed):
            for b in revealed[x + 1 :]:
                if self.seats[a].result != self.seats[b].result:
                    self.pairs.append(PairGame(a, b))
                    self.pending_pairs += 1
        if self.pending_pairs == 0:
            return self._after_games() or last
        self.state = RJob.DISPUTING
        return last

    def pair_games(self) -> list[int]:
        return [g for g, p in enumerate(self.pairs) if not p.settled]

    def resolve_pair(self, game: int, defender_won: bool) -> Settlement:
        g = self.pairs[game]
        if g.settled:
            raise EconomicsError(f"pair game {game} is already settled")
        loser, winner = (g.challenger, g.defender) if defender_won else (g.defender, g.challenger)
        first = self.seats[loser].state == RSeat.REVEALED
        s = rr.pair_game_lost(
            self.terms, self.seats[loser].provider, self.seats[winner].provider, first
        )
        if first:
            self._reject(loser)
        g.settled = True
        out = self._apply(s)
        self.pending_pairs -= 1
        if self.pending_pairs == 0:
            self._after_games()
        return out

    def challenge(self, seat: int, watcher: str) -> int:
        """A watch game against an upheld seat in the window; the backing is locked now."""
        self._expect(RJob.WINDOW)
        s = self._seat(seat, RSeat.REVEALED)
        prov = self.accounts[s.provider]
        b = rr.backing(self.terms, prov.free)
        prov.free -= b
        prov.locked += b
        self.accounts[watcher].wallet -= self.terms.bond
        self.bonds += self.terms.bond
        s.watch_games += 1
        self.watches.append(WatchGame(seat, Game(s.provider, watcher, self.terms.bond, b)))
        return len(self.watches) - 1

    def resolve_watch(self, game: int, provider_won: bool) -> Settlement:
        w = self.watches[game]
        if w.settled:
            raise EconomicsError(f"watch game {game} is already settled")
        s = self.seats[w.seat]
        s.watch_games -= 1
        w.settled = True
        if provider_won:
            return self._apply(rr.watch_won_by_provider(w.game))
        upheld = s.state == RSeat.REVEALED
        self.records[s.provider].slashed += w.game.backing
        st = rr.watch_won_by_challenger(self.terms, w.game, upheld)
        if upheld:
            self._reject(w.seat)
        out = self._apply(st)
        if upheld and self.state == RJob.WINDOW and not self.upheld():
            self._reopen()
        return out

    def finalize(self) -> Settlement:
        self._expect(RJob.WINDOW)
        return self._finalize()

    def cancel(self) -> Settlement:
        """The poster with no seat taken, or anyone after claimBy (the caller's to check)."""
        self._expect(RJob.OPEN)
        seated = self.current()
        for i in seated:
            self.seats[i].state = RSeat.RELEASED
        self.state = RJob.CANCELLED
        st = rr.cancelled(self.terms, self.poster, [self.seats[i].provider for i in seated])
        return self._apply(st)

    def withdraw(self, who: str) -> int:
        a = self.accounts[who]
        amount, a.credits = a.credits, 0
        a.wallet += amount
        return amount

    # ---- internals -----------------------------------------------------------------------

    def _after_games(self) -> Settlement | None:
        if not self.upheld():
            self._reopen()
            return None
        self.state = RJob.WINDOW
        if self.terms.window == 0:
            return self._finalize()
        return None

    def _finalize(self) -> Settlement:
        upheld = self.upheld()
        for i in upheld:
            if self.seats[i].watch_games:
                raise EconomicsError(f"finalize: GamesPending on seat {i}")
        for i in upheld:
            self.seats[i].state = RSeat.ACCEPTED
            self.records[self.seats[i].provider].accepted += 1
        self.state = RJob.FINALIZED
        providers = [self.seats[i].provider for i in upheld]
        return self._apply(rr.finalized(self.terms, providers, self.poster))

    def _reject(self, seat: int) -> None:
        s = self.seats[seat]
        s.state = RSeat.REJECTED
        rec = self.records[s.provider]
        rec.rejected += 1
        rec.slashed += self.terms.stake

    def _reopen(self) -> None:
        """No seat stands: the job is Open again with its escrow, the round's seats cleared."""
        self.state = RJob.OPEN
        self.round += 1

    def _expect(self, want: RJob) -> None:
        if self.state != want:
            raise EconomicsError(f"job is {self.state.name}, the call needs {want.name}")

    def _seat(self, seat: int, want: RSeat) -> SeatRecord:
        if not 0 <= seat < len(self.seats):
            raise EconomicsError(f"no seat {seat}")
        s = self.seats[seat]
        if s.state != want or s.round != self.round:
            raise EconomicsError(f"seat {seat} is {s.state.name}, the call needs {want.name}")
        return s
