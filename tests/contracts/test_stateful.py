"""Hypothesis stateful test over random sequences of market actions: posts, stakes, claims,
results (honest or lying), challenges, game moves, timeouts, finalizations, expiries,
cancellations, withdrawals. Checks after every action: solvency (balance == escrows + stakes +
bonds + credits), forward-only states; at the end of a sequence, that everything can be ended
and then no wei is stuck.

CI runs a bounded number of sequences; `POC_FUZZ=1 ... -m slow` runs the long campaign
(POC_FUZZ_SEQUENCES, default 10,000)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from conftest import ARITY, BOND, CLOCK, EXECUTE, FUZZ, STAKE, WINDOW, deploy_system, job_params, submit
from contracts_trace import ACTIVE, PROVIDER_PHASES, Challenger, Provider, Refuse, Trace, game_view, sample_program
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

JOB_NEXT = {1: {2, 4}, 2: {1, 3}, 3: set(), 4: set()}  # Open, Claimed, Finalized, Cancelled
CLAIM_NEXT = {1: {2, 5}, 2: {3, 4}, 3: set(), 4: set(), 5: set()}
COUNTS: dict[str, int] = {}


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
        self.jobs: dict[int, int] = {}  # job id -> last seen state
        self.claims: dict[int, int] = {}
        self.games: dict[int, dict] = {}  # game id -> players, carry, last status
        self.result_of: dict[int, Trace] = {}  # claim id -> trace submitted
        self.actions = 0

    # ---------------------------------------------------------------- helpers
    def _advance(self, seconds: int) -> None:
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds

    def _try(self, fn, *args, **kw):  # noqa: ANN001, ANN202
        from ape.exceptions import ContractLogicError

        try:
            fn(*args, **kw)
            self.actions += 1
            return True
        except ContractLogicError:
            return False

    # ---------------------------------------------------------------- rules
    @rule(poster=st.integers(0, 1), reward=st.integers(1, 10**17), bond=st.integers(1, 10**16))
    def post(self, poster: int, reward: int, bond: int) -> None:
        m = self.sys.market
        p = job_params(self.honest, self.chain, challengerBond=bond, claimBy=self.chain.pending_timestamp + 3 * 86400)
        if self._try(m.post, p, "ipfs://spec", value=reward, sender=self.accts["posters"][poster]):
            self.jobs[int(m.jobCount())] = 1

    @rule(who=st.integers(0, 1), amount=st.integers(1, 2 * STAKE))
    def deposit(self, who: int, amount: int) -> None:
        self._try(self.sys.stake.deposit, value=amount, sender=self.accts["providers"][who])

    @rule(who=st.integers(0, 1), pick=st.integers(0, 10**6))
    def claim(self, who: int, pick: int) -> None:
        if not self.jobs:
            return
        job = sorted(self.jobs)[pick % len(self.jobs)]
        if self._try(self.sys.market.claim, job, sender=self.accts["providers"][who]):
            self.claims[int(self.sys.market.claimCount())] = 1

    @rule(pick=st.integers(0, 10**6), lie=st.booleans())
    def submit_result(self, pick: int, lie: bool) -> None:
        active = [c for c, s in self.claims.items() if s == 1]
        if not active:
            return
        cid = active[pick % len(active)]
        m = self.sys.market
        cl = m.getClaim(cid)
        trace = self.liar if lie else self.honest
        provider = next(a for a in self.accts["providers"] if a.address == cl.provider)
        if self._try(submit, m, provider, int(cl.jobId), trace):
            self.result_of[cid] = trace

    @rule(pick=st.integers(0, 10**6), who=st.integers(0, 1), random_play=st.booleans(), seed=st.integers(0, 2**16))
    def challenge(self, pick: int, who: int, random_play: bool, seed: int) -> None:
        subm = [c for c, s in self.claims.items() if s == 2]
        if not subm:
            return
        cid = subm[pick % len(subm)]
        m = self.sys.market
        cl = m.getClaim(cid)
        job = m.getJob(cl.jobId)
        chal = self.accts["challengers"][who]
        if self._try(m.challenge, int(cl.jobId), value=job.params.challengerBond, sender=chal):
            gid = int(self.sys.game.gameCount())
            provider = next(a for a in self.accts["providers"] if a.address == cl.provider)
            self.games[gid] = {
                "p": Provider(self.result_of[cid], ARITY),
                "c": Challenger(self.honest, ARITY, rng=random.Random(seed) if random_play else None),
                "pa": provider,
                "ca": chal,
                "carry": {},
                "status": ACTIVE,
            }
            _count("games")

    @rule(pick=st.integers(0, 10**6), moves=st.integers(1, 6))
    def move(self, pick: int, moves: int) -> None:
        from ape.exceptions import ContractLogicError

        active = [g for g, s in self.games.items() if s["status"] == ACTIVE]
        if not active:
            return
        gid = active[pick % len(active)]
        s = self.games[gid]
        for _ in range(moves):
            v = game_view(self.sys.game, gid)
            if v["status"] != ACTIVE:
                return
            v.update(s["carry"])
            prov = v["phase"] in PROVIDER_PHASES
            try:
                (s["p"] if prov else s["c"]).act(v, self.sys.game, s["pa"] if prov else s["ca"])
                self.actions += 1
                _count("moves")
            except (Refuse, ContractLogicError):
                return
            s["carry"] = {k: v[k] for k in ("revealed",) if k in v}
            if v["phase"] == 6:
                t = s["p"].trace
                s["carry"]["leaf"] = t.leaf(t.program.n_inputs + v["opIndex"], v["index"])

    @rule(pick=st.integers(0, 10**6))
    def timeout(self, pick: int) -> None:
        active = [g for g, s in self.games.items() if s["status"] == ACTIVE]
        if not active:
            return
        gid = active[pick % len(active)]
        self._try(self.sys.game.timeout, gid, sender=self.accts["anyone"])

    @rule(seconds=st.sampled_from([30, WINDOW + 1, EXECUTE + 1, CLOCK + 1, 86400]))
    def wait(self, seconds: int) -> None:
        self._advance(seconds)

    @rule(pick=st.integers(0, 10**6))
    def finalize(self, pick: int) -> None:
        if self.jobs:
            self._try(self.sys.market.finalize, sorted(self.jobs)[pick % len(self.jobs)], sender=self.accts["anyone"])

    @rule(pick=st.integers(0, 10**6))
    def expire(self, pick: int) -> None:
        if self.jobs:
            self._try(self.sys.market.expire, sorted(self.jobs)[pick % len(self.jobs)], sender=self.accts["anyone"])

    @rule(pick=st.integers(0, 10**6), poster=st.integers(0, 1))
    def cancel(self, pick: int, poster: int) -> None:
        if self.jobs:
            job = sorted(self.jobs)[pick % len(self.jobs)]
            self._try(self.sys.market.cancel, job, sender=self.accts["posters"][poster])

    @rule(who=st.sampled_from(["posters", "providers", "challengers"]), i=st.integers(0, 1))
    def withdraw_credits(self, who: str, i: int) -> None:
        self._try(self.sys.market.withdraw, sender=self.accts[who][i])

    @rule(i=st.integers(0, 1), amount=st.integers(1, STAKE))
    def unbond(self, i: int, amount: int) -> None:
        self._try(self.sys.stake.requestUnbond, amount, sender=self.accts["providers"][i])

    @rule(i=st.integers(0, 1))
    def withdraw_stake(self, i: int) -> None:
        self._try(self.sys.stake.withdraw, sender=self.accts["providers"][i])

    # ---------------------------------------------------------------- invariants
    @invariant()
    def solvent(self) -> None:
        m, s = self.sys.market, self.sys.stake
        assert m.balance == m.totalEscrow() + m.totalBonds() + m.totalCredits()
        assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()

    @invariant()
    def forward_only(self) -> None:
        m = self.sys.market
        for j, old in self.jobs.items():
            new = int(m.getJob(j).state)
            assert new == old or new in JOB_NEXT[old], (j, old, new)
            self.jobs[j] = new
        for c, old in self.claims.items():
            new = int(m.getClaim(c).state)
            assert new == old or new in CLAIM_NEXT[old], (c, old, new)
            self.claims[c] = new
        for g, s in self.games.items():
            new = int(self.sys.game.getGame(g).status)
            assert s["status"] == new or s["status"] == ACTIVE, (g, s["status"], new)
            s["status"] = new

    # ---------------------------------------------------------------- the end
    def _end_everything(self) -> None:
        m, s, g = self.sys.market, self.sys.stake, self.sys.game
        anyone = self.accts["anyone"]
        for _ in range(4):
            self._advance(max(WINDOW, EXECUTE, CLOCK) + 1)
            for gid in self.games:
                if int(g.getGame(gid).status) == ACTIVE:
                    self.chain.pending_timestamp = max(self.chain.pending_timestamp, int(g.deadline(gid)) + 1)
                    g.timeout(gid, sender=anyone)
            for j in sorted(self.jobs):
                st_ = int(m.getJob(j).state)
                if st_ == 2:
                    self._try(m.expire, j, sender=anyone) or self._try(m.finalize, j, sender=anyone)
                st_ = int(m.getJob(j).state)
                if st_ == 1:
                    poster = next(a for a in self.accts["posters"] if a.address == m.getJob(j).poster)
                    m.cancel(j, sender=poster)
        self.forward_only()
        assert all(int(m.getJob(j).state) in (3, 4) for j in self.jobs)
        assert m.totalEscrow() == 0 and m.totalBonds() == 0 and s.totalLocked() == 0
        everyone = self.accts["posters"] + self.accts["providers"] + self.accts["challengers"] + [anyone]
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
            _count("sequences")
            _count("actions", self.actions)
        finally:
            self.chain.restore(self.snap)


def _machine_ctx(accounts, chain, project, deployer) -> dict:  # noqa: ANN001
    prog, vals = sample_program(np.random.default_rng(1))
    honest = Trace(prog, vals)
    liar = Trace(prog, vals, corrupt=(2, 3, 5))
    return {
        "chain": chain,
        "system": deploy_system(project, deployer),
        "accounts": {
            "posters": [accounts[1], accounts[8]],
            "providers": [accounts[2], accounts[6]],
            "challengers": [accounts[3], accounts[7]],
            "anyone": accounts[4],
        },
        "honest": honest,
        "liar": liar,
    }


def _run(accounts, chain, project, deployer, examples: int, steps: int) -> None:  # noqa: ANN001
    if chain.provider.name != "test":
        pytest.skip("the stateful campaign runs on the embedded chain (snapshots per sequence)")
    MarketMachine.ctx = _machine_ctx(accounts, chain, project, deployer)
    run_state_machine_as_test(
        MarketMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=not FUZZ,
        ),
    )


def test_market_sequences_stay_solvent_and_end_clean(accounts, chain, project, deployer):  # noqa: ANN001
    _run(accounts, chain, project, deployer, examples=6, steps=30)


@pytest.mark.slow
def test_market_sequences_fuzz_campaign(accounts, chain, project, deployer):  # noqa: ANN001
    n = int(os.environ.get("POC_FUZZ_SEQUENCES", "10000")) if FUZZ else 20
    _run(accounts, chain, project, deployer, examples=n, steps=40)


def teardown_module(module) -> None:  # noqa: ANN001
    from fuzz_counts import record

    record("stateful", COUNTS)


assert BOND > 0
