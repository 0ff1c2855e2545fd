"""The hypothesis state machine over random sequences of market actions: posts, stakes,
claims, results (honest or lying), challenges, game moves, timeouts, finalizations, expiries,
cancellations, withdrawals. Checks after every action: solvency (balance == escrows + stakes +
bonds + credits), forward-only states; at the end of a sequence, that everything can be ended
and then no wei is stuck.

It drives the contracts through ape's objects (embedded chain) or through `rpc_chain` (anvil,
for the long campaign): both offer the same calls."""

from __future__ import annotations

import random

import numpy as np
from conftest import ARITY, BOND, CLOCK, EXECUTE, STAKE, WINDOW, job_params, submit
from contracts_trace import Challenger, Match, Provider, Refuse, Trace, sample_program
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from node.game.rules import GameStatus

ACTIVE, PROVIDER_WON, CHALLENGER_WON = (
    GameStatus.ACTIVE,
    GameStatus.PROVIDER_WON,
    GameStatus.CHALLENGER_WON,
)

JOB_NEXT = {1: {2, 4}, 2: {1, 3}, 3: set(), 4: set()}  # Open, Claimed, Finalized, Cancelled
CLAIM_NEXT = {1: {2, 5}, 2: {3, 4}, 3: set(), 4: set(), 5: set()}
COUNTS: dict[str, int] = {}
OUTCOME = {2: "provider won", 3: "challenger won"}  # DisputeGame.Status
CLAIM_END = {3: "accepted", 4: "rejected (slashed)", 5: "expired"}  # JobMarket.ClaimState


def _count(k: str, n: int = 1) -> None:
    COUNTS[k] = COUNTS.get(k, 0) + n


class MarketMachine(RuleBasedStateMachine):
    ctx: dict = {}

    def __init__(self) -> None:
        super().__init__()
        c = self.ctx
        self.chain = c["chain"]
        self.sys = c["system"]
        self.snap = self.chain.snapshot()
        self.accts = c["accounts"]
        self.honest: Trace = c["honest"]
        self.liar: Trace = c["liar"]
        # what a refused call raises: ape's ContractLogicError, or rpc_chain.Reverted
        self.reverts: tuple[type[Exception], ...] = c["reverts"]
        self.jobs: dict[int, int] = {}  # job id -> last seen state
        self.claims: dict[int, int] = {}
        self.games: dict[int, dict] = {}  # game id -> match (players, carried reveal), last status
        self.result_of: dict[int, Trace] = {}  # claim id -> trace submitted
        self.actions = 0

    # ---------------------------------------------------------------- helpers
    def _advance(self, seconds: int) -> None:
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds

    def _try(self, fn, *args, **kw):  # noqa: ANN001, ANN202
        try:
            fn(*args, **kw)
            self.actions += 1
            return True
        except self.reverts:
            _count("reverted actions (expected, e.g. wrong state)")
            return False

    def _jobs_in(self, *states: int) -> list[int]:
        return [j for j, s in sorted(self.jobs.items()) if s in states]

    def _claims_in(self, state: int) -> list[int]:
        return [c for c, s in self.claims.items() if s == state]

    def _picked_claim(self, state: int, pick: int):  # noqa: ANN202
        """(claim id, on-chain claim) of the `pick`-th claim last seen in `state`, or None."""
        cids = self._claims_in(state)
        if not cids:
            return None
        cid = cids[pick % len(cids)]
        return cid, self.sys.market.getClaim(cid)

    def _picked_claimed_job(self, pick: int):  # noqa: ANN202
        """(job id, its current on-chain claim) of the `pick`-th job last seen claimed, or None."""
        jobs = self._jobs_in(2)
        if not jobs:
            return None
        job = jobs[pick % len(jobs)]
        m = self.sys.market
        return job, m.getClaim(m.getJob(job).currentClaim)

    def _provider_of(self, cl):  # noqa: ANN001, ANN202
        return next(a for a in self.accts["providers"] if a.address == cl.provider)

    def _active_game(self, pick: int) -> int | None:
        active = [g for g, s in self.games.items() if s["status"] == ACTIVE]
        return active[pick % len(active)] if active else None

    # ---------------------------------------------------------------- rules
    @initialize(n_jobs=st.integers(1, 3), stakes=st.tuples(st.integers(0, 3), st.integers(0, 3)))
    def setup(self, n_jobs: int, stakes: tuple[int, int]) -> None:
        for i, k in enumerate(stakes):
            if k:
                self.deposit(i, k * STAKE)
        for i in range(n_jobs):
            self.post(i % 2, 10**17, BOND)

    def post(self, poster: int, reward: int, bond: int) -> None:
        m = self.sys.market
        p = job_params(
            self.honest,
            self.chain,
            challengerBond=bond,
            claimBy=self.chain.pending_timestamp + 3 * 86400,
        )
        if self._try(m.post, p, "ipfs://spec", value=reward, sender=self.accts["posters"][poster]):
            self.jobs[int(m.jobCount())] = 1

    def deposit(self, who: int, amount: int) -> None:
        self._try(self.sys.stake.deposit, value=amount, sender=self.accts["providers"][who])

    def claim(self, who: int, pick: int) -> None:
        jobs = self._jobs_in(1) or sorted(self.jobs)
        if not jobs:
            return
        job = jobs[pick % len(jobs)]
        m, prov = self.sys.market, self.accts["providers"][who]
        j = m.getJob(job)
        now = self.chain.pending_timestamp
        if (
            j.state != 1
            or now > j.params.claimBy
            or self.sys.stake.freeStake(prov) < j.params.requiredStake
        ):
            return
        if self._try(m.claim, job, sender=prov):
            self.claims[int(self.sys.market.claimCount())] = 1

    def claim_submit_challenge(self, who: int, pick: int, lie: bool, chal: int, seed: int) -> None:
        """The common path in one rule, so that sequences reach the game often."""
        before = len(self.claims)
        self.claim(who, pick)
        if len(self.claims) == before:
            return
        cid = max(self.claims)
        self.claims[cid] = 1
        self.submit_result(self._claims_in(1).index(cid), lie)
        self.claims[cid] = int(self.sys.market.getClaim(cid).state)
        if chal < 2 and self.claims[cid] == 2:
            self.challenge(self._claims_in(2).index(cid), chal, seed % 2 == 0, seed)

    def submit_result(self, pick: int, lie: bool) -> None:
        picked = self._picked_claim(1, pick)
        if picked is None:
            return
        cid, cl = picked
        trace = self.liar if lie else self.honest
        if self.chain.pending_timestamp > cl.claimedAt + EXECUTE:
            return
        if self._try(submit, self.sys.market, self._provider_of(cl), int(cl.jobId), trace):
            self.result_of[cid] = trace

    def challenge(self, pick: int, who: int, random_play: bool, seed: int) -> None:
        picked = self._picked_claim(2, pick)
        if picked is None:
            return
        cid, cl = picked
        m = self.sys.market
        job = m.getJob(cl.jobId)
        chal = self.accts["challengers"][who]
        if self.chain.pending_timestamp >= cl.submittedAt + WINDOW:
            return
        if self._try(m.challenge, int(cl.jobId), value=job.params.challengerBond, sender=chal):
            gid = int(self.sys.game.gameCount())
            provider = self._provider_of(cl)
            p = Provider(self.result_of[cid], ARITY)
            c = Challenger(self.honest, ARITY, rng=random.Random(seed) if random_play else None)
            self.games[gid] = {
                "match": Match(self.sys.game, gid, p, c, (provider, chal)),
                "status": ACTIVE,
            }
            _count("games")

    def move(self, pick: int, moves: int) -> None:
        gid = self._active_game(pick)
        if gid is None:
            return
        s = self.games[gid]
        for _ in range(moves):
            v = s["match"].view(self.chain.pending_timestamp)
            if not v.active:
                return
            if self.chain.pending_timestamp > v.deadline:
                return  # the mover's clock ran out: only `timeout` is left
            try:
                s["match"].move(v)
                self.actions += 1
                _count("moves")
            except (Refuse, *self.reverts) as exc:
                _count(f"moves refused or reverted ({type(exc).__name__})")
                return

    def timeout(self, pick: int) -> None:
        gid = self._active_game(pick)
        if gid is None:
            return
        if self.chain.pending_timestamp <= int(self.sys.game.deadline(gid)):
            return
        self.games[gid]["timed out"] = True  # the game ends by the clock, not by a move
        self._try(self.sys.game.timeout, gid, sender=self.accts["anyone"])

    def wait(self, seconds: int) -> None:
        self._advance(seconds)

    def finalize(self, pick: int) -> None:
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        now = self.chain.pending_timestamp
        if cl.state == 2 and cl.activeGames == 0 and now >= cl.submittedAt + WINDOW:
            self._try(self.sys.market.finalize, job, sender=self.accts["anyone"])

    def expire(self, pick: int) -> None:
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        if cl.state == 1 and self.chain.pending_timestamp > cl.claimedAt + EXECUTE:
            self._try(self.sys.market.expire, job, sender=self.accts["anyone"])

    def cancel(self, pick: int, poster: int) -> None:
        jobs = self._jobs_in(1)
        if jobs:
            job = jobs[pick % len(jobs)]
            who = self.accts["posters"][poster]
            if self.sys.market.getJob(job).poster == who.address:
                self._try(self.sys.market.cancel, job, sender=who)

    def withdraw_credits(self, who: str, i: int) -> None:
        if self.sys.market.credits(self.accts[who][i]) == 0:
            return
        self._try(self.sys.market.withdraw, sender=self.accts[who][i])

    def unbond(self, i: int, amount: int) -> None:
        if self.sys.stake.freeStake(self.accts["providers"][i]) < amount:
            return
        self._try(self.sys.stake.requestUnbond, amount, sender=self.accts["providers"][i])

    def withdraw_stake(self, i: int) -> None:
        amount, unlock_at = self.sys.stake.unbonding(self.accts["providers"][i])
        if amount == 0 or self.chain.pending_timestamp < unlock_at:
            return
        self._try(self.sys.stake.withdraw, sender=self.accts["providers"][i])

    @rule(data=st.data())
    def script(self, data) -> None:  # noqa: ANN001
        """A run of 10-40 actions drawn at once (hypothesis keeps stateful runs short otherwise),
        with both invariants checked after each action."""
        for _ in range(data.draw(st.integers(10, 40))):
            name = data.draw(st.sampled_from(SCRIPT_ACTIONS))
            fn, strategies = getattr(self, name), SCRIPT_ARGS[name]
            fn(**{k: data.draw(v) for k, v in strategies.items()})
            self.solvent()
            self.forward_only()
        self.forward_only(everything=True)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def solvent(self) -> None:
        m, s = self.sys.market, self.sys.stake
        assert m.balance == m.totalEscrow() + m.totalBonds() + m.totalCredits()
        assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()

    @invariant()
    def forward_only(self, everything: bool = False) -> None:
        """Each state moves only along its allowed transitions. Entities in a terminal state are
        re-read only when `everything` (end of a script, end of a sequence): reading them after
        every action would dominate the run time."""
        m = self.sys.market
        for j, old in self.jobs.items():
            if everything or JOB_NEXT[old]:
                new = int(m.getJob(j).state)
                assert new == old or new in JOB_NEXT[old], (j, old, new)
                self.jobs[j] = new
        for c, old in self.claims.items():
            if everything or CLAIM_NEXT[old]:
                new = int(m.getClaim(c).state)
                assert new == old or new in CLAIM_NEXT[old], (c, old, new)
                self.claims[c] = new
        for g, s in self.games.items():
            if everything or s["status"] == ACTIVE:
                new = int(self.sys.game.getGame(g).status)
                assert s["status"] == new or s["status"] == ACTIVE, (g, s["status"], new)
                if s["status"] == ACTIVE and new != ACTIVE and not s.get("timed out"):
                    self._ended_by_a_move(g, s, new)
                s["status"] = new

    def _ended_by_a_move(self, gid: int, s: dict, status: int) -> None:
        """A game decided by the one-step check goes to the side that told the truth: an honest
        provider always, a lying one whenever the challenger played honestly."""
        if s["match"].provider.trace is self.honest:
            assert status == PROVIDER_WON, f"game {gid}: honest provider lost by a move"
        elif s["match"].challenger.rng is None:
            assert status == CHALLENGER_WON, f"game {gid}: honest challenger lost to a liar"
        _count(f"games decided by the step: {OUTCOME[status]}")

    # ---------------------------------------------------------------- the end
    def _end_everything(self) -> None:
        m, s, g = self.sys.market, self.sys.stake, self.sys.game
        anyone = self.accts["anyone"]
        for _ in range(4):
            self._advance(max(WINDOW, EXECUTE, CLOCK) + 1)
            for gid in self.games:
                if int(g.getGame(gid).status) == ACTIVE:
                    self.chain.pending_timestamp = max(
                        self.chain.pending_timestamp, int(g.deadline(gid)) + 1
                    )
                    self.games[gid]["timed out"] = True
                    g.timeout(gid, sender=anyone)
                    self.forward_only()
            for j in sorted(self.jobs):
                st_ = int(m.getJob(j).state)
                if st_ == 2:
                    cl = m.getClaim(m.getJob(j).currentClaim)
                    if cl.state == 1:
                        m.expire(j, sender=anyone)
                    elif cl.activeGames == 0:
                        m.finalize(j, sender=anyone)
                    self.forward_only()
                st_ = int(m.getJob(j).state)
                if st_ == 1:
                    poster = next(
                        a for a in self.accts["posters"] if a.address == m.getJob(j).poster
                    )
                    m.cancel(j, sender=poster)
                    self.forward_only(everything=True)
        assert all(int(m.getJob(j).state) in (3, 4) for j in self.jobs)
        assert m.totalEscrow() == 0 and m.totalBonds() == 0 and s.totalLocked() == 0
        everyone = (
            self.accts["posters"] + self.accts["providers"] + self.accts["challengers"] + [anyone]
        )
        for a in everyone:
            if m.credits(a) > 0:
                m.withdraw(sender=a)
            if s.freeStake(a) > 0:
                s.requestUnbond(s.freeStake(a), sender=a)
        self._advance(int(s.UNBONDING_DELAY()) + 1)
        for a in everyone:
            if s.unbonding(a)[0] > 0:
                s.withdraw(sender=a)
        assert m.balance == 0 and s.balance == 0, "wei stuck after everything ended"

    def teardown(self) -> None:
        try:
            self._end_everything()
            self.forward_only(everything=True)
            _count("sequences")
            _count("actions", self.actions)
            for s in self.games.values():  # the end-of-sequence timeouts included
                who = "lying" if s["match"].provider.trace is self.liar else "honest"
                _count(f"games ended: {who} provider, {OUTCOME[s['status']]}")
            for state in self.claims.values():
                _count(f"claims ended {CLAIM_END[state]}")
        finally:
            self.chain.restore(self.snap)


_I = st.integers(0, 10**6)
SCRIPT_ARGS = {
    "post": {"poster": st.integers(0, 1), "reward": st.integers(1, 10**17), "bond": st.integers(1, 10**16)},
    "deposit": {"who": st.integers(0, 1), "amount": st.integers(1, 2 * STAKE)},
    "claim": {"who": st.integers(0, 1), "pick": _I},
    "claim_submit_challenge": {
        "who": st.integers(0, 1), "pick": _I, "lie": st.booleans(), "chal": st.integers(0, 2), "seed": st.integers(0, 2**16),
    },
    "submit_result": {"pick": _I, "lie": st.booleans()},
    "challenge": {"pick": _I, "who": st.integers(0, 1), "random_play": st.booleans(), "seed": st.integers(0, 2**16)},
    "move": {"pick": _I, "moves": st.integers(1, 6)},
    "timeout": {"pick": _I},
    "wait": {"seconds": st.sampled_from([30, WINDOW + 1, EXECUTE + 1, CLOCK + 1, 86400])},
    "finalize": {"pick": _I},
    "expire": {"pick": _I},
    "cancel": {"pick": _I, "poster": st.integers(0, 1)},
    "withdraw_credits": {"who": st.sampled_from(["posters", "providers", "challengers"]), "i": st.integers(0, 1)},
    "unbond": {"i": st.integers(0, 1), "amount": st.integers(1, STAKE)},
    "withdraw_stake": {"i": st.integers(0, 1)},
}  # fmt: skip
# moves are the most frequent action, as in a real dispute
SCRIPT_ACTIONS = sorted(SCRIPT_ARGS) + ["move"] * 6 + ["claim_submit_challenge"] * 2


def machine_context(chain, system, accounts, reverts: tuple[type[Exception], ...]) -> dict:  # noqa: ANN001
    """What `MarketMachine` runs against: a chain (ape's, or `rpc_chain.RpcChain`), a deployed
    `System`, the dev accounts (ape's test accounts are anvil's: same roles either way) and the
    exception types a refused call raises."""
    prog, vals = sample_program(np.random.default_rng(1))
    return {
        "chain": chain,
        "system": system,
        "accounts": {
            "posters": [accounts[1], accounts[8]],
            "providers": [accounts[2], accounts[6]],
            "challengers": [accounts[3], accounts[7]],
            "anyone": accounts[4],
        },
        "honest": Trace(prog, vals),
        "liar": Trace(prog, vals, corrupt=(2, 3, 5)),
        "reverts": reverts,
    }


def run_sequences(
    ctx: dict, examples: int, steps: int = 5, derandomize: bool = True, shrink: bool = True
) -> None:
    """Runs `examples` hypothesis sequences of `steps` scripts each against `ctx`. Without
    `shrink` a failure is reported as found (shrinking a long campaign's find can take hours)."""
    MarketMachine.ctx = ctx
    run_state_machine_as_test(
        MarketMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=derandomize,
            database=None,
            phases=list(Phase) if shrink else [Phase.explicit, Phase.generate],
        ),
    )
