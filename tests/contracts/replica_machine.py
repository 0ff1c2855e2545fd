"""The hypothesis state machine over random sequences of replicated-job actions
(docs/protocol.md 6.8): posts (r = 2 or 3, window 0 or not), claims by any of four replicas,
commits of an honest result or of one of two different lies, reveals, the clock, tallies, pair
and watch games played to the end (each side plays its own trace), watchtower challenges,
finalizations, cancellations, withdrawals.

Checks after every action: solvency of both markets and the stake manager; seat and job states
only move forward (a job may go back to Open when a round ends with nobody upheld); an honest
seat that revealed is never rejected and, once its job is finalized, is accepted; a seat's
provider record counts what happened to it. At the end of a sequence everything is ended (the
clock runs, games are played, jobs finalized or cancelled) and nothing stays escrowed or locked."""

from __future__ import annotations

import numpy as np
from conftest import BOND, STAKE, job_params
from contracts_trace import Trace, play_traces, sample_program
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from replicas import (
    J_CANCELLED,
    J_DISPUTING,
    J_FINALIZED,
    J_OPEN,
    J_RUNNING,
    J_WINDOW,
    S_ACCEPTED,
    S_CLAIMED,
    S_COMMITTED,
    S_REJECTED,
    S_REVEALED,
    Replicated,
    commit,
    reveal,
    solvent,
    terms,
)

from node.game.rules import GameStatus

# seat states: forward only (Claimed -> Committed -> Revealed -> Accepted | Rejected; any
# unfinished -> Expired; Claimed/Committed -> Released by a cancel)
SEAT_STEP = {1: {2, 6, 7}, 2: {3, 6, 7}, 3: {4, 5}, 4: set(), 5: set(), 6: set(), 7: set()}
# jobs: Open -> Running -> (Disputing ->) Window -> Finalized; back to Open when nobody is upheld
JOB_STEP = {1: {2, 6}, 2: {1, 3, 4, 5}, 3: {1, 4, 5}, 4: {1, 5}, 5: set(), 6: set()}


def _reachable(step: dict[int, set[int]]) -> dict[int, set[int]]:
    """Where a state may be after one action (which may make several transitions: a round is
    claimed, committed, revealed and, with W = 0, finalized in one rule)."""
    out = {}
    for s in step:
        seen, todo = set(), list(step[s])
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(step[t])
        out[s] = seen
    return out


SEAT_NEXT = _reachable(SEAT_STEP)
JOB_NEXT = _reachable(JOB_STEP)
COUNTS: dict[str, int] = {}


def _count(k: str) -> None:
    COUNTS[k] = COUNTS.get(k, 0) + 1


class ReplicaMachine(RuleBasedStateMachine):
    ctx: dict = {}

    def __init__(self) -> None:
        super().__init__()
        c = self.ctx
        self.chain = c["chain"]
        self.r: Replicated = c["replicated"]
        self.snap = self.chain.snapshot()
        self.poster, self.replicas, self.watch, self.anyone = (
            c["poster"],
            c["replicas"],
            c["watch"],
            c["anyone"],
        )
        self.traces: list[Trace] = c["traces"]  # honest, liar 1, liar 2
        self.reverts = c["reverts"]
        self.jobs: dict[int, int] = {}
        self.seats: dict[int, int] = {}  # seat id -> last seen state
        self.trace_of: dict[int, int] = {}  # seat id -> index into traces
        self.games: set[int] = set()
        self.done: set[int] = set()

    def _try(self, fn, *args, **kw) -> bool:  # noqa: ANN001
        try:
            fn(*args, **kw)
            return True
        except self.reverts:
            _count("refused (wrong state or time)")
            return False

    def _advance(self, seconds: int) -> None:
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds
        self.chain.mine()

    def _acct(self, address: str):  # noqa: ANN202
        for a in [*self.replicas, self.watch]:
            if a.address == address:
                return a
        raise AssertionError(address)

    def _pick(self, items: list[int], pick: int) -> int | None:
        return items[pick % len(items)] if items else None

    def _track_games(self) -> None:
        for g in range(1, int(self.r.game.gameCount()) + 1):
            if g not in self.done:
                self.games.add(g)

    # ---------------------------------------------------------------- rules
    @initialize(
        jobs=st.lists(
            st.tuples(st.sampled_from([2, 3]), st.sampled_from([0, 120])), min_size=1, max_size=2
        )
    )
    def setup(self, jobs: list[tuple[int, int]]) -> None:
        for replicas, window in jobs:
            self.post(replicas, window)

    @rule(pick=st.integers(0, 9), lies=st.lists(st.sampled_from([0, 0, 1, 2]), min_size=3, max_size=3),
          silent=st.sampled_from([None, None, 0, 1]))  # fmt: skip
    def round(self, pick: int, lies: list[int], silent: int | None) -> None:
        """Every free seat of an open job claimed, committed (honest or a lie) and revealed,
        but for seat `silent`, which stays quiet."""
        job = self._pick([j for j, s in sorted(self.jobs.items()) if s == J_OPEN], pick)
        if job is None:
            return
        m = self.r.market
        j = m.getJob(job)
        if self.chain.pending_timestamp < j.reopensAt:
            self._advance(int(j.reopensAt) - self.chain.pending_timestamp + 1)
        for who in range(4):
            if int(m.getJob(job).state) != J_OPEN:
                break
            self.claim(who, list(sorted(self.jobs)).index(job))
        seats = [int(x) for x in m.seatsOf(job)]
        for i, sid in enumerate(seats):
            if self.seats.get(sid) == S_CLAIMED:
                who = self._acct(m.getSeat(sid).provider)
                if self._try(commit, self.r, sid, who, self.traces[lies[i % 3]]):
                    self.trace_of[sid] = lies[i % 3]
                    self.seats[sid] = S_COMMITTED
        for i, sid in enumerate(seats):
            if i != silent and sid in self.trace_of and int(m.getSeat(sid).state) == S_COMMITTED:
                self.reveal_seat(sid)
        _count("rounds")

    def reveal_seat(self, sid: int) -> None:
        who = self._acct(self.r.market.getSeat(sid).provider)
        self._try(reveal, self.r, sid, who, self.traces[self.trace_of[sid]])
        self._track_games()

    @rule(replicas=st.sampled_from([2, 3]), window=st.sampled_from([0, 120]))
    def post(self, replicas: int, window: int) -> None:
        p = job_params(self.traces[0], self.chain, challengeWindow=window,
                       claimBy=self.chain.pending_timestamp + 3 * 86400)  # fmt: skip
        m = self.r.market
        if self._try(
            m.post, p, terms(replicas), "ipfs://spec", value=10**17 + 1, sender=self.poster
        ):
            self.jobs[int(m.jobCount())] = J_OPEN

    @rule(who=st.integers(0, 3), pick=st.integers(0, 9))
    def claim(self, who: int, pick: int) -> None:
        job = self._pick([j for j, s in sorted(self.jobs.items()) if s == J_OPEN], pick)
        if job is None:
            return
        acct = self.replicas[who]
        free = int(self.r.stake.freeStake(acct))
        if free < 2 * STAKE:  # the lock, and free stake to back a watch game
            self.r.stake.deposit(value=2 * STAKE - free, sender=acct)
        m = self.r.market
        if self._try(m.claim, job, sender=acct):
            self.seats[int(m.seatCount())] = S_CLAIMED

    @rule(pick=st.integers(0, 9), lie=st.sampled_from([0, 0, 1, 2]))
    def commit(self, pick: int, lie: int) -> None:
        sid = self._pick([s for s, st_ in sorted(self.seats.items()) if st_ == S_CLAIMED], pick)
        if sid is None:
            return
        who = self._acct(self.r.market.getSeat(sid).provider)
        if self._try(commit, self.r, sid, who, self.traces[lie]):
            self.trace_of[sid] = lie

    @rule(pick=st.integers(0, 9))
    def reveal(self, pick: int) -> None:
        sid = self._pick([s for s, st_ in sorted(self.seats.items()) if st_ == S_COMMITTED], pick)
        if sid is None:
            return
        self.reveal_seat(sid)

    @rule(seconds=st.sampled_from([30, 130, 700, 1600]))
    def wait(self, seconds: int) -> None:
        self._play_all()  # replicas and watchtowers answer their games before time passes
        self._advance(seconds)

    @rule(pick=st.integers(0, 9))
    def tally(self, pick: int) -> None:
        job = self._pick([j for j, s in sorted(self.jobs.items()) if s == J_RUNNING], pick)
        if job is not None:
            self._try(self.r.market.tally, job, sender=self.anyone)
            self._track_games()

    @rule(pick=st.integers(0, 9))
    def play(self, pick: int) -> None:
        gid = self._pick(sorted(self.games), pick)
        if gid is None:
            return
        g = self.r.game.getGame(gid)
        book = self.r.market.gameBook(gid)
        prov = self.traces[self.trace_of[int(g.claimId)]]
        chal = (
            self.traces[0]
            if int(book.challengerSeat) == 0
            else self.traces[self.trace_of[int(book.challengerSeat)]]
        )
        accts = (self._acct(g.provider), self._acct(g.challenger), self.anyone)
        res = play_traces(self.r.game, gid, prov, chal, accts, self.chain)
        _count(f"game {'provider' if res.status == GameStatus.PROVIDER_WON else 'challenger'} won")
        self.games.discard(gid)
        self.done.add(gid)

    @rule(pick=st.integers(0, 9))
    def challenge(self, pick: int) -> None:
        m = self.r.market
        sid = self._pick([s for s, st_ in sorted(self.seats.items()) if st_ == S_REVEALED], pick)
        if sid is None:
            return
        job = int(m.getSeat(sid).jobId)
        if self._try(m.challenge, job, sid, value=BOND, sender=self.watch):
            _count("watch games")
            self._track_games()

    @rule(pick=st.integers(0, 9))
    def finalize(self, pick: int) -> None:
        job = self._pick([j for j, s in sorted(self.jobs.items()) if s == J_WINDOW], pick)
        if job is not None and self._try(self.r.market.finalize, job, sender=self.anyone):
            _count("finalized")

    @rule(pick=st.integers(0, 9), by_poster=st.booleans())
    def cancel(self, pick: int, by_poster: bool) -> None:
        job = self._pick([j for j, s in sorted(self.jobs.items()) if s == J_OPEN], pick)
        if job is not None:
            self._try(self.r.market.cancel, job, sender=self.poster if by_poster else self.anyone)

    @rule(who=st.integers(0, 4))
    def withdraw(self, who: int) -> None:
        acct = [*self.replicas, self.watch][who]
        if int(self.r.market.credits(acct)):
            self.r.market.withdraw(sender=acct)

    def _play_all(self) -> None:
        while self.games:
            self.play(0)

    # ---------------------------------------------------------------- checks
    @invariant()
    def solvent_and_forward(self) -> None:
        solvent(self.r)
        m = self.r.market
        for sid, last in list(self.seats.items()):
            now = int(m.getSeat(sid).state)
            assert now == last or now in SEAT_NEXT[last], (sid, last, now)
            if self.trace_of.get(sid) == 0 and now == S_REJECTED:
                raise AssertionError(f"honest seat {sid} rejected")
            if self.trace_of.get(sid) == 0 and last == S_REVEALED and now != S_REVEALED:
                assert now == S_ACCEPTED, (sid, now)
            self.seats[sid] = now
        for job, last in list(self.jobs.items()):
            now = int(m.getJob(job).state)
            assert now == last or now in JOB_NEXT[last], (job, last, now)
            if now == J_FINALIZED and last != J_FINALIZED:
                _count("jobs finalized")
            self.jobs[job] = now

    def teardown(self) -> None:
        try:
            self._end_everything()
        finally:
            self.chain.restore(self.snap)

    def _end_everything(self) -> None:
        """Runs every round to its end; then nothing is escrowed or locked."""
        m = self.r.market
        for _ in range(8):
            self._play_all()
            self._advance(3 * 86400 + 1)
            for job in sorted(self.jobs):
                state = int(m.getJob(job).state)
                if state == J_RUNNING:
                    m.tally(job, sender=self.anyone)
                    self._track_games()
            self._play_all()
            for job in sorted(self.jobs):
                state = int(m.getJob(job).state)
                if state == J_WINDOW:
                    m.finalize(job, sender=self.anyone)
                elif state == J_OPEN:
                    m.cancel(job, sender=self.anyone)  # past claimBy: anyone may
                assert state != J_DISPUTING or self.games, job
            self.solvent_and_forward()
            if all(int(m.getJob(j).state) in (J_FINALIZED, J_CANCELLED) for j in self.jobs):
                break
        assert all(int(m.getJob(j).state) in (J_FINALIZED, J_CANCELLED) for j in self.jobs)
        assert int(m.totalEscrow()) == 0 and int(m.totalBonds()) == 0
        assert int(self.r.stake.totalLocked()) == 0
        solvent(self.r)


def machine_context(chain, replicated: Replicated, accounts, reverts: tuple) -> dict:  # noqa: ANN001
    prog, vals = sample_program(np.random.default_rng(1))
    return {
        "chain": chain,
        "replicated": replicated,
        "poster": accounts[1],
        "replicas": [accounts[2], accounts[3], accounts[5], accounts[6]],
        "watch": accounts[7],
        "anyone": accounts[4],
        "traces": [
            Trace(prog, vals),
            Trace(prog, vals, corrupt=(3, 7, 1)),
            Trace(prog, vals, corrupt=(2, 3, 5)),
        ],
        "reverts": reverts,
    }


def run_sequences(ctx: dict, examples: int, steps: int, derandomize: bool = True) -> None:
    ReplicaMachine.ctx = ctx
    run_state_machine_as_test(
        ReplicaMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=derandomize,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        ),
    )
