"""The replicated mode's outcomes and attacks (docs/economics.md §6), each played call by call
on `ReplicaLedger`: `play` runs one round from post to withdrawals; `replica_cases` states each
outcome as formulas per party, checked against the ledger's figures (it raises unless every
formula equals the party's wealth change and the rows account for every wei); `attack_rows`
prices the strategies worth pricing: a replica that disagrees on purpose, one party holding k of
r seats, all seats lying alike (with and without a watchtower), a copier.

Symbols: R reward, r replicas, s = R // r each upheld seat's share, L the seat lock, B the
watchtowers' bond, b a watch game's backing (min(L, the seat holder's free stake)); `x // y`
rounds down as the contract does. Wealth counts stake: a lock that comes back is no loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from poc_lab.economics.outcomes import Case, Row
from poc_lab.economics.replica_ledger import ReplicaLedger, RJob, RSeat
from poc_lab.economics.replica_rules import ReplicaTerms, backing
from poc_lab.economics.settlement import EconomicsError

GOOD = "good"  # the correct result; any other label is a wrong one
POSTER = "poster"
WATCHER = "watchtower"
SALT = 7


@dataclass(frozen=True)
class SeatPlan:
    """One seat: its account, the result it reveals, whether it reveals, and for a copier the
    seat whose commitment it copies (it then cannot reveal: the commitment binds that seat's
    address)."""

    account: str
    result: str = GOOD
    reveals: bool = True
    copies: int | None = None

    @property
    def executes(self) -> bool:
        """Whether the seat runs the job (a liar, a copier and a silent seat save the compute)."""
        return self.result == GOOD and self.reveals and self.copies is None


def play(
    t: ReplicaTerms,
    plans: Sequence[SeatPlan],
    *,
    free: int = 0,
    watcher: bool = False,
    grief: bool = False,
    order: Sequence[int] | None = None,
    liar_games: Sequence[bool] = (True,),
) -> ReplicaLedger:
    """One round: post, r claims, commits, reveals (a copier's is refused), the tally, the pair
    games resolved in `order` (indices of the pair list; default as opened) with the correct
    result winning every game it plays and a game between two wrong results won by its
    defender when the next of `liar_games` (cycled) is True; in the window a watchtower
    (`watcher`) challenges every upheld seat whose result is wrong, or (`grief`) every upheld
    seat, and each watch game is won by the correct side; then finalize, or the poster's cancel
    of a reopened job; then every account withdraws. Each seat holder deposits L + `free`."""
    if len(plans) != t.replicas:
        raise EconomicsError(f"{len(plans)} seat plans for {t.replicas} replicas")
    led = ReplicaLedger(t, POSTER)
    led.post()
    seats = []
    for p in plans:
        led.deposit(p.account, t.stake + free)
        seats.append(led.claim(p.account))
    for p, s in zip(plans, seats, strict=True):
        if p.copies is not None:
            copied = led.seats[seats[p.copies]].commitment
            if copied is None:
                raise EconomicsError(f"seat {s} copies seat {p.copies}, which has not committed")
            led.commit(s, copied)
        elif p.reveals:
            led.commit(s, (p.result, p.account, SALT))
    for p, s in zip(plans, seats, strict=True):
        if p.copies is not None:
            copied = led.seats[seats[p.copies]].commitment
            assert copied is not None
            try:  # the copier replays the copied seat's opening: refused (BadReveal)
                led.reveal(s, copied[0], copied[2])
            except EconomicsError:
                pass
            else:
                raise EconomicsError("a copied commitment opened for another address")
        elif p.reveals:
            led.reveal(s, p.result, SALT)
    if led.state == RJob.RUNNING:
        led.tally()  # after revealBy: the silent seats expire
    if led.state == RJob.DISPUTING:
        games = list(order) if order is not None else list(range(len(led.pairs)))
        if sorted(games) != list(range(len(led.pairs))):
            raise EconomicsError(f"order {games} is not a permutation of the pair games")
        k = 0
        for g in games:
            pair = led.pairs[g]
            d, c = led.seats[pair.defender].result, led.seats[pair.challenger].result
            if GOOD in (d, c):
                won = d == GOOD
            else:
                won = liar_games[k % len(liar_games)]
                k += 1
            led.resolve_pair(g, defender_won=won)
    if led.state == RJob.WINDOW:
        games = [
            led.challenge(i, WATCHER)
            for i in led.upheld()
            if grief or (watcher and led.seats[i].result != GOOD)
        ]
        for g in games:
            led.resolve_watch(g, provider_won=led.seats[led.watches[g].seat].result == GOOD)
        if led.state == RJob.WINDOW:
            led.finalize()
    if led.state == RJob.OPEN:
        led.cancel()  # the job reopened with its escrow: its poster takes it back
    for name in list(led.accounts):
        led.withdraw(name)
    if led.total() != 0:
        raise EconomicsError(f"round not conserved: {led.total()} wei")
    return led


def honest_seats(t: ReplicaTerms) -> list[SeatPlan]:
    return [SeatPlan(f"replica {i + 1}") for i in range(t.replicas)]


# ---- outcomes as formulas --------------------------------------------------------------------


def _case(
    title: str,
    when: str,
    led: ReplicaLedger,
    env: dict[str, int],
    spec: list[tuple[str, str]],
    note: str = "",
) -> Case:
    rows = []
    for party, formula in spec:
        want = eval(formula, {"__builtins__": {}}, dict(env))  # our own formulas, no builtins
        got = led.burned if party == "BURN" else led.delta(party)
        if want != got:
            raise EconomicsError(f"replicas {title}: {party} = {formula} is {want}, not {got}")
        effect = "burned (sent to BURN)" if party == "BURN" else "wealth change"
        rows.append(Row(party, effect, formula, got))
    listed = {r.party for r in rows}
    for name in led.accounts:
        if name not in listed and led.delta(name) != 0:
            raise EconomicsError(f"replicas {title}: {name} moved {led.delta(name)} wei, unlisted")
    if "BURN" not in listed and led.burned:
        raise EconomicsError(f"replicas {title}: {led.burned} wei burned, unlisted")
    return Case("replicas", title, when, note, tuple(rows))


def replica_cases(t: ReplicaTerms, free: int) -> list[Case]:
    """Each outcome of one round at terms `t` (W > 0 where a watchtower plays); liars and
    honest seats keep `free` wei of free stake beyond the lock (a watch game's backing)."""
    r = t.replicas
    tw = t if t.window > 0 else replace(t, window=600)
    b = backing(t, free)
    env = {"R": t.reward, "r": r, "s": t.share, "L": t.stake, "B": t.bond, "b": b}
    names = [f"replica {i + 1}" for i in range(r)]
    honest = honest_seats(t)
    one_liar = [SeatPlan(names[0]), SeatPlan(names[1], "bad"), *honest[2:]]
    silent = [*honest[:-1], SeatPlan(names[-1], reveals=False)]
    alike = [SeatPlan(n, "bad") for n in names]
    b_txt = "b = min(L, the seat holder's free stake when the game opened)"
    return [
        _case("All honest", "every seat reveals the correct result; the window (if any) "
              "passes unchallenged (`finalize`, or the last reveal when W = 0)",
              play(t, honest, free=free), env,
              [*((n, "s") for n in names), (POSTER, "-(s * r)")],
              "the poster's `R - s * r` is the rounding dust it gets back"),
        _case("One liar among r", "replica 2 reveals a wrong result; it loses each pair game "
              "(against replica 1 as challenger, against the later seats as defender); the "
              "game against replica 1 settles first",
              play(t, one_liar, free=free), env,
              [(names[0], "s + L * 5000 // 10000"), (names[1], "-L"),
               *((n, "s") for n in names[2:]), (POSTER, "-(s * (r - 1))"),
               ("BURN", "L - L * 5000 // 10000")],
              "whichever honest seat wins the liar's first settled game takes the bounty; the "
              "liar's later lost games move nothing"),
        _case("A non-revealer (or a copier)", f"replica {r} does not commit or reveal by its "
              "deadline (a copier's reveal is refused: the same money); `tally` expires it",
              play(t, silent, free=free), env,
              [*((n, "s") for n in names[:-1]), (names[-1], "-(L * 1000 // 10000)"),
               (POSTER, "-(s * (r - 1)) + L * 1000 // 10000")]),
        _case("A watchtower challenges an honest seat", "W > 0; the watchtower's game against "
              "each upheld (honest) seat is lost by the watchtower",
              play(tw, honest, free=free, grief=True), env,
              [*((n, "s + B") for n in names), (POSTER, "-(s * r)"), (WATCHER, "-(B * r)")],
              b_txt),
        _case("All lying alike, caught by a watchtower", "W > 0; every seat reveals the same "
              "wrong result (no pair game); a watchtower challenges each seat in the window and "
              "wins each game; no seat stands, the job reopens with its escrow and its poster "
              "cancels",
              play(tw, alike, free=free, watcher=True), env,
              [*((n, "-(L + b)") for n in names), (WATCHER, "r * (b * 5000 // 10000)"),
               (POSTER, "0"), ("BURN", "r * (L + b - b * 5000 // 10000)")],
              b_txt),
        _case("All lying alike, uncaught", "every seat reveals the same wrong result and nobody "
              "challenges it in the window (or W = 0): the wrong result is final",
              play(t, alike, free=free), env,
              [*((n, "s") for n in names), (POSTER, "-(s * r)")],
              "the poster pays the full reward for a wrong result; nothing in the rules "
              "compensates it"),
    ]  # fmt: skip


# ---- attacks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaAttack:
    strategy: str
    seats: int  # seats the party holds (of r)
    money: float  # the party's expected wealth change, wei (exact when `p` is None)
    executions: float  # expected executions the party paid for
    honest_money: int  # the same seats played honestly, wei
    poster: float  # the poster's expected wealth change, wei
    burned: float
    result: str  # what the poster gets for it
    p: float | None = None  # probability that a watchtower checks the round in W

    def profit(self, compute: int) -> float:
        return self.money - self.executions * compute

    def honest_profit(self, compute: int) -> float:
        return self.honest_money - self.seats * compute


def _row(
    strategy: str,
    led: ReplicaLedger,
    party: Sequence[str],
    plans: Sequence[SeatPlan],
    t: ReplicaTerms,
) -> ReplicaAttack:
    mine = [p for p in plans if p.account in party]
    return ReplicaAttack(
        strategy,
        len(mine),
        led.delta(*party),
        sum(p.executes for p in mine),
        len(mine) * t.share,
        led.delta(POSTER),
        led.burned,
        "the correct result",
    )


def collusion_break_even(t: ReplicaTerms, compute: int, free: int) -> float:
    """The watch probability p below which r seats of one party lying alike earn more than the
    same seats played honestly: (1 - p) r s - p r (L + b) > r (s - C), i.e. p < C / (s + L + b)."""
    return compute / (t.share + t.stake + backing(t, free))


def attack_rows(t: ReplicaTerms, free: int, ps: Sequence[float]) -> list[ReplicaAttack]:
    """Each strategy against honest other seats, at terms `t` (r >= 3 for the k-of-r rows);
    the collusion rows (all r seats one party) at each watch probability of `ps`."""
    if t.replicas < 3:
        raise EconomicsError("the k-of-r attacks need r >= 3 (an honest seat outside the party)")
    tw = t if t.window > 0 else replace(t, window=600)
    names = [f"replica {i + 1}" for i in range(t.replicas)]
    honest = honest_seats(t)
    rows = []
    rows.append(
        _row("honest seat (the baseline)", play(t, honest, free=free), names[:1], honest, t)
    )
    liar = [SeatPlan(names[0], "bad"), *honest[1:]]
    rows.append(
        _row(
            "disagree on purpose (one seat, a wrong result)",
            play(t, liar, free=free),
            names[:1],
            liar,
            t,
        )
    )
    # one party holds seats 1 and 2: seat 1 lies, seat 2 wins the liar's first game (its game
    # is the first pair game and settles first)
    two = [SeatPlan(names[0], "bad"), *honest[1:]]
    rows.append(
        _row(
            "2 seats of one party, one lying, its own seat takes the bounty",
            play(t, two, free=free),
            names[:2],
            two,
            t,
        )
    )
    both = [SeatPlan(names[0], "bad"), SeatPlan(names[1], "bad"), *honest[2:]]
    rows.append(
        _row("2 seats of one party, both lying alike", play(t, both, free=free), names[:2], both, t)
    )
    copier = [*honest[:-1], SeatPlan(names[-1], copies=0)]
    rows.append(
        _row(
            "copier (commits another seat's commitment)",
            play(t, copier, free=free),
            names[-1:],
            copier,
            t,
        )
    )
    alike = [SeatPlan(n, "bad") for n in names]
    paid = play(tw, alike, free=free)
    caught = play(tw, alike, free=free, watcher=True)
    for p in ps:

        def mix(x: int, y: int, p: float = p) -> float:
            """Expected value: `x` uncaught, `y` caught (exact wei at p = 0 or 1)."""
            return x if p == 0 else y if p == 1 else (1 - p) * x + p * y

        rows.append(
            ReplicaAttack(
                f"all {t.replicas} seats one party, lying alike, watched with p = {p:g}"
                + (" (W = 0, or nobody checks)" if p == 0 else ""),
                t.replicas,
                mix(paid.delta(*names), caught.delta(*names)),
                0,
                t.replicas * t.share,
                mix(paid.delta(POSTER), caught.delta(POSTER)),
                mix(paid.burned, caught.burned),
                f"a wrong result, paid in full, with probability {1 - p:g}; else its escrow back",
                p,
            )
        )
    return rows  # fmt: skip


def seat_outcome(led: ReplicaLedger, account: str) -> RSeat:
    """The final state of the account's last seat."""
    states = [s.state for s in led.seats if s.provider == account]
    if not states:
        raise EconomicsError(f"{account} holds no seat")
    return states[-1]
