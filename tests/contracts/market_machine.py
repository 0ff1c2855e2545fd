"""The hypothesis state machine over random sequences of market actions: posts, stakes,
claims, results (honest or lying), challenges, game moves, timeouts, finalizations, expiries,
cancellations, withdrawals, output demands, publications and timeouts, and the attacks of
issue 11: a lying provider contract that submits and has its puppets challenge in the same
transaction (F1), a griefer's expire + claim in one transaction (F4), the poster's cancel of an
Active claim past its deadline.

Checks after every action: solvency of both contracts (balance == escrows + bonds + credits;
free + locked (claim locks and game backings) + unbonding), forward-only states, and a ledger:
the machine computes every account's credits and free stake and the total burned under the
payout rules of docs/protocol.md 6.5, and the chain must hold exactly that. On every settled
game: R2 (backing = min(L, free stake at opening)) and P1 (a challenger that won got its bond and
half the game's backing); on every rejected claim whose games have all ended: P2 (the provider's
side, its puppets included, lost at least the lock). At the end of a sequence, that everything
can be ended and then no wei is stuck.

It drives the contracts through ape's objects (embedded chain) or through `rpc_chain` (anvil,
for the long campaign): both offer the same calls."""

from __future__ import annotations

import random

import numpy as np
from conftest import ARITY, BOND, CLOCK, EXECUTE, MIN_CLOCK, STAKE, WINDOW, job_params, submit
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
from puppets import Attacker, GameVia, PuppetRef, revert_of

from node.game.rules import GameStatus

ACTIVE, PROVIDER_WON, CHALLENGER_WON = (
    GameStatus.ACTIVE,
    GameStatus.PROVIDER_WON,
    GameStatus.CHALLENGER_WON,
)

# Open, Claimed, Finalized, Cancelled; Claimed -> Cancelled: the poster's cancel of an Active claim
# past its deadline (expired and cancelled in one call, protocol.md 6.5 R5)
JOB_NEXT = {1: {2, 4}, 2: {1, 3, 4}, 3: set(), 4: set()}
CLAIM_NEXT = {1: {2, 5}, 2: {3, 4}, 3: set(), 4: set(), 5: set()}
COUNTS: dict[str, int] = {}
OUTCOME = {2: "provider won", 3: "challenger won"}  # DisputeGame.Status
CLAIM_END = {3: "accepted", 4: "rejected (slashed)", 5: "expired"}  # JobMarket.ClaimState
L = STAKE  # every job's requiredStake: the claim lock
COMPENSATION = L * 1000 // 10_000  # MISSED_DEADLINE_SLASH_BPS of the lock


def _count(k: str, n: int = 1) -> None:
    COUNTS[k] = COUNTS.get(k, 0) + n


def revert_name(exc: Exception) -> str:
    """The custom error of a refused call: ape and rpc_chain name the exception after it, except
    for a revert that came through the attacker's contract (decoded from its data)."""
    name = type(exc).__name__
    return revert_of(exc)[0] if name in ("ContractLogicError", "Reverted") else name


class Ledger:
    """What every account is owed (credits) and holds (free stake) and the total burned, as the
    payout rules of protocol.md 6.5 say; the chain must agree after every action."""

    def __init__(self) -> None:
        self.credits: dict[str, int] = {}
        self.free: dict[str, int] = {}
        self.burned = 0
        self.touched: set[str] = set()  # accounts booked since the last check

    def credit(self, who: str, amount: int) -> None:
        self.credits[who] = self.credits.get(who, 0) + amount
        self.touched.add(who)

    def stake(self, who: str, amount: int) -> None:
        self.free[who] = self.free.get(who, 0) + amount
        self.touched.add(who)


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
        self.atk: Attacker = c["attacker"]
        self.puppet_addrs = {p.address for p in self.atk.puppets}
        self.game_via = GameVia(self.sys.game, self.atk)
        self.ledger = Ledger()
        for a in self._everyone():
            self.ledger.credits[a] = int(self.sys.market.credits(a))
            self.ledger.free[a] = int(self.sys.stake.freeStake(a))
        self.ledger.burned = int(self.sys.market.totalBurned())
        self.reward_of: dict[int, int] = {}  # job id -> escrowed reward
        self.rejected: set[int] = set()  # claims the ledger has rejected (lock burned)
        self.p2_checked: set[int] = set()

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
        """The provider's account, or the attacker's provider puppet (a PuppetRef)."""
        for a in [*self.accts["providers"], self.atk.puppets[0]]:
            if a.address == cl.provider:
                return a
        raise AssertionError(f"unknown provider {cl.provider}")

    def _everyone(self) -> list[str]:
        a = self.accts
        accounts = a["posters"] + a["providers"] + a["challengers"] + [a["anyone"]]
        return [x.address for x in accounts] + [p.address for p in self.atk.puppets]

    def _expect_revert(self, names: set[str], fn, *args, **kw) -> str:  # noqa: ANN001
        """Calls what must be refused; returns the custom error's name (one of `names`)."""
        try:
            fn(*args, **kw)
        except self.reverts as exc:
            name = revert_name(exc)
            assert name in names, f"{name} not in {names}"
            return name
        raise AssertionError(f"not refused (want one of {names})")

    def _active_game(self, pick: int) -> int | None:
        active = [g for g, s in self.games.items() if s["status"] == ACTIVE]
        return active[pick % len(active)] if active else None

    def _unsettled_game(self, pick: int) -> int | None:
        """A game decided by the step and not yet paid (protocol.md §6.3, 6)."""
        ended = [g for g, s in self.games.items() if s["status"] != ACTIVE and not s["settled"]]
        return ended[pick % len(ended)] if ended else None

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
            self.reward_of[int(m.jobCount())] = reward

    def post_many(self, poster: int, rewards: list[int]) -> None:
        """A batch (issue 12): the same jobs as `post` one by one."""
        m = self.sys.market
        p = job_params(self.honest, self.chain, claimBy=self.chain.pending_timestamp + 3 * 86400)
        first = int(m.jobCount()) + 1
        posts = [(p, "ipfs://spec", r) for r in rewards]
        sender = self.accts["posters"][poster]
        if self._try(m.postMany, posts, value=sum(rewards), sender=sender):
            for i, r in enumerate(rewards):
                self.jobs[first + i] = 1
                self.reward_of[first + i] = r
            _count("batches posted (postMany)")

    def deposit(self, who: int, amount: int) -> None:
        prov = self.accts["providers"][who]
        if self._try(self.sys.stake.deposit, value=amount, sender=prov):
            self.ledger.stake(prov.address, amount)

    def claim(self, who: int, pick: int) -> None:
        jobs = self._jobs_in(1) or sorted(self.jobs)
        if not jobs:
            return
        job = jobs[pick % len(jobs)]
        m, prov = self.sys.market, self.accts["providers"][who]
        j = m.getJob(job)
        now = self.chain.pending_timestamp
        if j.state != 1 or now > j.params.claimBy or self.ledger.free[prov.address] < L:
            return
        if now < j.reopensAt:  # R5: a reopened job waits MIN_CLOCK (the poster's turn to cancel)
            self._expect_revert({"JobCoolingDown"}, m.claim, job, sender=prov)
            _count("claims refused while cooling down (F4/P5)")
            return
        if self._try(m.claim, job, sender=prov):
            self.claims[int(self.sys.market.claimCount())] = 1
            self.ledger.stake(prov.address, -L)

    def claim_and_submit(self, who: int, pick: int, lie: bool) -> None:
        """The fused claim (issue 12): as `claim` then `submit_result`, in one transaction; a
        second fused claim of the same job must be refused (one provider per job)."""
        jobs = self._jobs_in(1) or sorted(self.jobs)
        if not jobs:
            return
        job = jobs[pick % len(jobs)]
        m, prov = self.sys.market, self.accts["providers"][who]
        j = m.getJob(job)
        now = self.chain.pending_timestamp
        trace = self.liar if lie else self.honest
        prog = trace.program
        result = (
            trace.states[-1],
            trace.slot_root(prog.output_slot),
            trace.output_proof(prog.output_slot),
            "ipfs://o",
        )
        if j.state == 2:
            self._expect_revert({"WrongJobState"}, m.claimAndSubmit, job, *result, sender=prov)
            _count("fused claims of a claimed job refused")
            return
        if j.state != 1 or now > j.params.claimBy or self.ledger.free[prov.address] < L:
            return
        if now < j.reopensAt:
            self._expect_revert({"JobCoolingDown"}, m.claimAndSubmit, job, *result, sender=prov)
            return
        if self._try(m.claimAndSubmit, job, *result, sender=prov):
            cid = int(m.claimCount())
            self.claims[cid] = 2
            self.result_of[cid] = trace
            self.ledger.stake(prov.address, -L)
            _count("fused claims (claimAndSubmit)")

    def claim_and_submit_many(self, who: int, lie: bool) -> None:
        """A batch of fused claims (issue 12) over every job the provider may claim now; a
        liar's batch lies in every job (each claim is disputed on its own)."""
        m, prov = self.sys.market, self.accts["providers"][who]
        now = self.chain.pending_timestamp
        jobs = []
        for job in self._jobs_in(1):
            j = m.getJob(job)
            if j.state == 1 and now <= j.params.claimBy and now >= j.reopensAt:
                jobs.append(job)
        jobs = jobs[: self.ledger.free[prov.address] // L]
        if not jobs:
            return
        trace = self.liar if lie else self.honest
        prog = trace.program
        out = (
            trace.states[-1],
            trace.slot_root(prog.output_slot),
            trace.output_proof(prog.output_slot),
        )
        first = int(m.claimCount()) + 1
        if self._try(m.claimAndSubmitMany, [(j, *out, "ipfs://o") for j in jobs], sender=prov):
            for cid in range(first, first + len(jobs)):
                self.claims[cid] = 2
                self.result_of[cid] = trace
            self.ledger.stake(prov.address, -L * len(jobs))
            _count("fused claim batches (claimAndSubmitMany)")

    def finalize_and_withdraw_many(self, who: int) -> None:
        """Every claim of provider `who` that may finalize now, in one call (issue 12)."""
        m, prov = self.sys.market, self.accts["providers"][who]
        now = self.chain.pending_timestamp
        ready = []
        for job in self._jobs_in(2):
            cl = m.getClaim(m.getJob(job).currentClaim)
            unpaid = [
                x
                for x, s_ in self.games.items()
                if s_["claim"] == int(m.getJob(job).currentClaim)
                and s_["status"] != ACTIVE
                and not s_["settled"]
            ]
            if (
                cl.provider == prov.address
                and cl.state == 2
                and cl.activeGames == 0
                and cl.outputDue == 0
                and now >= cl.submittedAt + WINDOW
                and not unpaid
            ):
                ready.append(job)
        if not ready:
            return
        if self._try(m.finalizeAndWithdrawMany, ready, sender=prov):
            for job in ready:
                self.ledger.credit(prov.address, self.reward_of[job])
                self.ledger.stake(prov.address, L)
            self.ledger.credit(prov.address, -self.ledger.credits[prov.address])
            assert int(m.credits(prov.address)) == 0
            _count("fused finalization batches (finalizeAndWithdrawMany)")

    def finalize_and_withdraw(self, pick: int, by_other: bool) -> None:
        """The provider's fused finalize (issue 12): paid at once; anyone else is refused."""
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        prov = self._provider_of(cl)
        if isinstance(prov, PuppetRef):
            return
        m, now = self.sys.market, self.chain.pending_timestamp
        if by_other:
            self._expect_revert(
                {"NotProvider"}, m.finalizeAndWithdraw, job, sender=self.accts["anyone"]
            )
            return
        ready = cl.state == 2 and cl.activeGames == 0 and now >= cl.submittedAt + WINDOW
        if not ready or cl.outputDue != 0:
            return  # the plain finalize's refusals are the same checks (`finalize`)
        unpaid = [
            x
            for x, s_ in self.games.items()
            if s_["claim"] == int(m.getJob(job).currentClaim)
            and s_["status"] != ACTIVE
            and not s_["settled"]
        ]
        if unpaid:
            return
        if self._try(m.finalizeAndWithdraw, job, sender=prov):
            self.ledger.credit(cl.provider, self.reward_of[job])
            self.ledger.credit(cl.provider, -self.ledger.credits[cl.provider])
            self.ledger.stake(cl.provider, L)
            assert int(m.credits(cl.provider)) == 0
            _count("fused finalizations (finalizeAndWithdraw)")

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
        prov = self._provider_of(cl)
        if isinstance(prov, PuppetRef):
            prog = trace.program
            result = (
                trace.states[-1],
                trace.slot_root(prog.output_slot),
                trace.output_proof(prog.output_slot),
            )
            call = self.atk.call(
                0, self.sys.market, "submitResult", int(cl.jobId), *result, "ipfs://o"
            )
            ok = self._try(self.atk.run, call)
        else:
            ok = self._try(submit, self.sys.market, prov, int(cl.jobId), trace)
        if ok:
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
        bond = int(job.params.challengerBond)
        if self._try(m.challenge, int(cl.jobId), value=bond, sender=chal):
            rng = random.Random(seed) if random_play else None
            self._opened(int(self.sys.game.gameCount()), cid, cl, chal, bond, rng)

    def _opened(self, gid: int, cid: int, cl, chal, bond: int, rng: random.Random | None) -> None:  # noqa: ANN001
        """Game `gid` was opened on claim `cid` by `chal`: R2 checked, the backing booked."""
        provider = self._provider_of(cl)
        backing = min(L, self.ledger.free[cl.provider])
        assert int(self.sys.market.backingOfGame(gid)) == backing, (gid, "R2: backing")
        self.ledger.stake(cl.provider, -backing)
        p = Provider(self.result_of[cid], ARITY)
        c = Challenger(self.honest, ARITY, rng=rng)
        self.games[gid] = {
            "match": Match(self.game_via, gid, p, c, (provider, chal)),
            "status": ACTIVE,
            "settled": False,
            "claim": cid,
            "provider": cl.provider,
            "challenger": chal.address,
            "bond": bond,
            "backing": backing,
        }
        _count("games")
        if backing == 0:
            _count("games unbacked (no free stake)")

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

    def settle(self, pick: int, who: int) -> None:
        """Anyone pays a game the step decided (its winner, its loser or a stranger); a game
        still played, or already paid, is refused."""
        g = self.sys.game
        a = self.accts
        sender = (a["anyone"], a["challengers"][0], a["providers"][0])[who]
        gid = self._unsettled_game(pick)
        if gid is None:
            active = self._active_game(pick)
            if active is not None:
                self._expect_revert({"GameNotDecided"}, g.settle, active, sender=sender)
            paid = [x for x, s_ in self.games.items() if s_["settled"]]
            if paid:
                x = paid[pick % len(paid)]
                self._expect_revert({"GameAlreadySettled"}, g.settle, x, sender=sender)
            return
        cl = self.sys.market.getClaim(self.games[gid]["claim"])
        assert int(cl.activeGames) >= 1, (gid, "a decided unpaid game holds its claim")
        g.settle(gid, sender=sender)
        self.actions += 1
        _count("games settled after the step")

    def wait(self, seconds: int) -> None:
        self._advance(seconds)

    def finalize(self, pick: int) -> None:
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        now = self.chain.pending_timestamp
        unpaid = [
            x
            for x, s_ in self.games.items()
            if s_["claim"] == int(self.sys.market.getJob(job).currentClaim)
            and s_["status"] != ACTIVE
            and not s_["settled"]
        ]
        if cl.state == 2 and unpaid and now >= cl.submittedAt + WINDOW:
            # a decided game not yet settled holds the claim open
            m = self.sys.market
            self._expect_revert({"GamesPending"}, m.finalize, job, sender=self.accts["anyone"])
            _count("finalize refused: a decided game not yet settled")
            return
        if cl.state == 2 and cl.activeGames == 0 and now >= cl.submittedAt + WINDOW:
            m = self.sys.market
            if cl.outputDue != 0:  # R4: a pending demand blocks the payment
                self._expect_revert({"OutputPending"}, m.finalize, job, sender=self.accts["anyone"])
                return
            if self._try(m.finalize, job, sender=self.accts["anyone"]):
                self.ledger.credit(cl.provider, self.reward_of[job])
                self.ledger.stake(cl.provider, L)

    def _expired(self, job: int, cl) -> None:  # noqa: ANN001
        self.ledger.credit(self.sys.market.getJob(job).poster, COMPENSATION)
        self.ledger.stake(cl.provider, L - COMPENSATION)

    def expire(self, pick: int) -> None:
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        if cl.state == 1 and self.chain.pending_timestamp > cl.claimedAt + EXECUTE:
            if self._try(self.sys.market.expire, job, sender=self.accts["anyone"]):
                self._expired(job, cl)

    def expire_and_claim(self, pick: int) -> None:
        """F4: the attacker expires a claim past its deadline and claims in the same transaction;
        it must revert (the job cools down first), leaving the poster its turn to cancel."""
        picked = self._picked_claimed_job(pick)
        if picked is None:
            return
        job, cl = picked
        if cl.state != 1 or self.chain.pending_timestamp <= cl.claimedAt + EXECUTE:
            return
        m = self.sys.market
        calls = (self.atk.call(0, m, "expire", job), self.atk.call(0, m, "claim", job))
        name = self._expect_revert({"JobCoolingDown", "ClaimDeadlinePassed"}, self.atk.run, *calls)
        _count(f"F4 expire + claim in one transaction refused ({name})")

    def cancel(self, pick: int, poster: int) -> None:
        """The poster's cancel: of an Open job (cooling down or not), or of a Claimed one whose
        claim is Active past its deadline (expired in the same call, R5)."""
        m = self.sys.market
        jobs = self._jobs_in(1, 2)
        if not jobs:
            return
        job = jobs[pick % len(jobs)]
        who = self.accts["posters"][poster]
        j = m.getJob(job)
        if j.poster != who.address:
            return
        if j.state == 1:
            if self._try(m.cancel, job, sender=who):
                self.ledger.credit(who.address, self.reward_of[job])
            return
        cl = m.getClaim(j.currentClaim)
        if cl.state == 1 and self.chain.pending_timestamp > cl.claimedAt + EXECUTE:
            if self._try(m.cancel, job, sender=who):
                self._expired(job, cl)
                self.ledger.credit(who.address, self.reward_of[job])
                _count("cancels of an Active claim past its deadline")

    # ---------------------------------------------------------------- F1: the attacker
    def attack_submit(self, pick: int, puppets: int, top_up: int) -> None:
        """F1: the attacker's provider contract (puppet 0) claims a job and, in ONE transaction,
        submits a lie and has `puppets` of its other accounts challenge it. Its puppets then
        play their games honestly (the liar wants them to win first); anyone else may challenge
        the claim too."""
        m, atk = self.sys.market, self.atk
        p0 = atk.puppets[0].address
        if top_up and self._try(
            atk.run, atk.call(0, self.sys.stake, "deposit", value=top_up * L // 2)
        ):
            self.ledger.stake(p0, top_up * L // 2)
        now = self.chain.pending_timestamp
        jobs = [
            j
            for j in self._jobs_in(1)
            if now >= m.getJob(j).reopensAt and now <= m.getJob(j).params.claimBy
        ]
        if not jobs or self.ledger.free[p0] < L:
            return
        job = jobs[pick % len(jobs)]
        if not self._try(atk.run, atk.call(0, m, "claim", job)):
            return
        cid = int(m.claimCount())
        self.claims[cid] = 1
        self.ledger.stake(p0, -L)
        prog = self.liar.program
        lie = (
            self.liar.states[-1],
            self.liar.slot_root(prog.output_slot),
            self.liar.output_proof(prog.output_slot),
        )
        bond = int(m.getJob(job).params.challengerBond)
        calls = [atk.call(0, m, "submitResult", job, *lie, "ipfs://lie")]
        calls += [atk.call(i, m, "challenge", job, value=bond) for i in range(1, puppets + 1)]
        g0 = int(self.sys.game.gameCount())
        if not self._try(atk.run, *calls):
            return
        self.result_of[cid] = self.liar
        self.claims[cid] = 2
        cl = m.getClaim(cid)
        for i in range(1, puppets + 1):
            self._opened(g0 + i, cid, cl, atk.puppets[i], bond, None)
        _count(f"F1 submit + {puppets} puppet challenges in one transaction")

    # ---------------------------------------------------------------- P6: output availability
    def _submitted(self, pick: int):  # noqa: ANN202
        """(job id, claim id, claim) of a Claimed job whose current claim is Submitted, or None."""
        m = self.sys.market
        jobs = [j for j in self._jobs_in(2) if int(m.getClaim(m.getJob(j).currentClaim).state) == 2]
        if not jobs:
            return None
        job = jobs[pick % len(jobs)]
        cid = int(m.getJob(job).currentClaim)
        return job, cid, m.getClaim(cid)

    def demand_output(self, pick: int) -> None:
        picked = self._submitted(pick)
        if picked is None:
            return
        job, cid, cl = picked
        m = self.sys.market
        poster = next(a for a in self.accts["posters"] if a.address == m.getJob(job).poster)
        now = self.chain.pending_timestamp
        if cl.outputDue == 0 and not cl.outputPublished and now < cl.submittedAt + WINDOW:
            if self._try(m.demandOutput, job, sender=poster):
                _count("output demands")
        elif cl.outputDue != 0:
            self._expect_revert(
                {"OutputAlreadyDemanded", "WindowClosed"}, m.demandOutput, job, sender=poster
            )

    def publish_output(self, pick: int, good: bool) -> None:
        picked = self._submitted(pick)
        if picked is None:
            return
        job, cid, cl = picked
        if cl.outputPublished:
            return
        trace = self.result_of[cid]
        slot = trace.program.output_slot
        size, data = trace.program.table[slot].dtype.leaf_bytes, trace.packed[slot]
        m, who = self.sys.market, self.accts["anyone"]
        if good:
            if self._try(m.publishOutput, job, size, data, sender=who):
                _count("outputs published")
        else:
            bad = bytes([data[0] ^ 0x40]) + data[1:]
            self._expect_revert({"BadOutput"}, m.publishOutput, job, size, bad, sender=who)
            _count("bad outputs refused")

    def output_timeout(self, pick: int) -> None:
        picked = self._submitted(pick)
        if picked is None:
            return
        job, cid, cl = picked
        if cl.outputDue == 0 or self.chain.pending_timestamp <= cl.outputDue:
            return
        if self._try(self.sys.market.outputTimeout, job, sender=self.accts["anyone"]):
            self._rejected(cid)
            _count("claims rejected for withheld output")

    def _rejected(self, cid: int) -> None:
        """R1: the claim's whole lock is burned."""
        assert cid not in self.rejected, cid
        self.rejected.add(cid)
        self.ledger.burned += L
        self._check_p2(cid)

    # ---------------------------------------------------------------- credits and stake
    def withdraw_credits(self, who: str, i: int) -> None:
        acct = self.accts[who][i]
        if self.sys.market.credits(acct) == 0:
            return
        if self._try(self.sys.market.withdraw, sender=acct):
            self.ledger.credit(acct.address, -self.ledger.credits[acct.address])

    def unbond(self, i: int, amount: int) -> None:
        acct = self.accts["providers"][i]
        if self.ledger.free[acct.address] < amount:
            return
        if self._try(self.sys.stake.requestUnbond, amount, sender=acct):
            self.ledger.stake(acct.address, -amount)

    def withdraw_stake(self, i: int) -> None:
        amount, unlock_at = self.sys.stake.unbonding(self.accts["providers"][i])
        if amount == 0 or self.chain.pending_timestamp < unlock_at:
            return
        self._try(self.sys.stake.withdraw, sender=self.accts["providers"][i])

    @rule(data=st.data())
    def script(self, data) -> None:  # noqa: ANN001
        """A run of 10-40 actions drawn at once (hypothesis keeps stateful runs short otherwise),
        with the invariants checked after each action."""
        for _ in range(data.draw(st.integers(10, 40))):
            name = data.draw(st.sampled_from(SCRIPT_ACTIONS))
            fn, strategies = getattr(self, name), SCRIPT_ARGS[name]
            fn(**{k: data.draw(v) for k, v in strategies.items()})
            self.solvent()
            self.forward_only()
            self.ledger_agrees(everyone=False)
        self.forward_only(everything=True)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def solvent(self) -> None:
        m, s = self.sys.market, self.sys.stake
        assert m.balance == m.totalEscrow() + m.totalBonds() + m.totalCredits()
        assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()

    @invariant()
    def ledger_agrees(self, everyone: bool = True) -> None:
        """Every account's credits and free stake, and the total burned, are the ledger's. After
        each action only the accounts the ledger booked are read (a read costs ~30 ms through
        ape); every account after each script, where a payment to an unexpected account shows."""
        m, s = self.sys.market, self.sys.stake
        accounts = self._everyone() if everyone else sorted(self.ledger.touched)
        self.ledger.touched.clear()
        for a in accounts:
            assert int(m.credits(a)) == self.ledger.credits.get(a, 0), (a, "credits")
            assert int(s.freeStake(a)) == self.ledger.free.get(a, 0), (a, "free stake")
        assert int(m.totalBurned()) == self.ledger.burned, "burned"

    def _settled(self, gid: int, s: dict, status: int) -> None:
        """R3 in the ledger for game `gid`, ended with `status`; P1 and P2 checked."""
        cid, bond, backing = s["claim"], s["bond"], s["backing"]
        if status == PROVIDER_WON:
            self.ledger.credit(s["provider"], bond)
            self.ledger.stake(s["provider"], backing)
        else:
            bounty = backing // 2  # CHALLENGER_SHARE_BPS = 5000
            self.ledger.credit(s["challenger"], bond + bounty)  # P1: paid from g's own backing
            self.ledger.burned += backing - bounty
            if cid not in self.rejected:
                self._rejected(cid)
            _count("P1: challenger that won paid bond + backing/2")
        self._check_p2(cid)

    def _check_p2(self, cid: int) -> None:
        """P2, once a rejected claim's games have all ended: the provider's side (itself and,
        for the attacker, its puppets) lost at least the lock L, whatever games it opened
        against itself; bonds won from outsiders are the only thing it may set against that."""
        games = [g for g in self.games.values() if g.get("claim") == cid]
        if (
            cid not in self.rejected
            or cid in self.p2_checked
            or any(not g["settled"] for g in games)
        ):
            return
        provider = next(iter({g["provider"] for g in games} or {None}))
        side = {provider} | (self.puppet_addrs if provider in self.puppet_addrs else set())
        net, from_outsiders = -L, 0
        for g in games:
            ours = g["challenger"] in side
            if g["status"] == PROVIDER_WON:
                net += 0 if ours else g["bond"]
                from_outsiders += 0 if ours else g["bond"]
            else:
                net -= g["backing"] - g["backing"] // 2 if ours else g["backing"]
        assert net - from_outsiders <= -L, (cid, net)
        self.p2_checked.add(cid)
        _count("P2: rejected claim cost its side at least L")

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
            if everything or not s["settled"]:
                game = self.sys.game.getGame(g)
                new, settled = int(game.status), bool(game.settled)
                assert s["status"] == new or s["status"] == ACTIVE, (g, s["status"], new)
                assert settled or not s["settled"], (g, "settled only once, never undone")
                assert not settled or new != ACTIVE, (g, "only a decided game is settled")
                if s["status"] == ACTIVE and new != ACTIVE and not s.get("timed out"):
                    self._ended_by_a_move(g, s, new)
                    assert not settled, (g, "the step pays nothing")
                paid = settled and not s["settled"]
                s["status"], s["settled"] = new, settled
                if paid:
                    self._settled(g, s, new)

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
                game = g.getGame(gid)
                if int(game.status) != ACTIVE and not game.settled:
                    g.settle(gid, sender=anyone)
                    self.forward_only()
                elif int(game.status) == ACTIVE:
                    self.chain.pending_timestamp = max(
                        self.chain.pending_timestamp, int(g.deadline(gid)) + 1
                    )
                    self.games[gid]["timed out"] = True
                    g.timeout(gid, sender=anyone)
                    self.forward_only()
            for j in sorted(self.jobs):
                st_ = int(m.getJob(j).state)
                if st_ == 2:
                    cid = int(m.getJob(j).currentClaim)
                    cl = m.getClaim(cid)
                    if cl.state == 1:
                        m.expire(j, sender=anyone)
                        self._expired(j, cl)
                    elif cl.activeGames == 0 and cl.outputDue != 0:  # nobody published
                        self.chain.pending_timestamp = max(
                            self.chain.pending_timestamp, int(cl.outputDue) + 1
                        )
                        m.outputTimeout(j, sender=anyone)
                        self._rejected(cid)
                    elif cl.activeGames == 0:
                        m.finalize(j, sender=anyone)
                        self.ledger.credit(cl.provider, self.reward_of[j])
                        self.ledger.stake(cl.provider, L)
                    self.forward_only()
                st_ = int(m.getJob(j).state)
                if st_ == 1:
                    poster = next(
                        a for a in self.accts["posters"] if a.address == m.getJob(j).poster
                    )
                    m.cancel(j, sender=poster)
                    self.ledger.credit(poster.address, self.reward_of[j])
                    self.forward_only(everything=True)
        assert all(int(m.getJob(j).state) in (3, 4) for j in self.jobs)
        assert m.totalEscrow() == 0 and m.totalBonds() == 0 and s.totalLocked() == 0
        self.ledger_agrees()
        assert all(c in self.p2_checked for c in self.rejected), "P2 not checked for a claim"
        everyone = (
            self.accts["posters"] + self.accts["providers"] + self.accts["challengers"] + [anyone]
        )
        for a in everyone:
            if m.credits(a) > 0:
                m.withdraw(sender=a)
            if s.freeStake(a) > 0:
                s.requestUnbond(s.freeStake(a), sender=a)
        atk = self.atk
        for p in atk.puppets:
            if m.credits(p.address) > 0:
                atk.run(atk.call(p.index, m, "withdraw"))
            if s.freeStake(p.address) > 0:
                atk.run(atk.call(p.index, s, "requestUnbond", s.freeStake(p.address)))
        self._advance(int(s.UNBONDING_DELAY()) + 1)
        for a in everyone:
            if s.unbonding(a)[0] > 0:
                s.withdraw(sender=a)
        for p in atk.puppets:
            if s.unbonding(p.address)[0] > 0:
                atk.run(atk.call(p.index, s, "withdraw"))
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
    "claim_and_submit": {"who": st.integers(0, 1), "pick": _I, "lie": st.booleans()},
    "finalize_and_withdraw": {"pick": _I, "by_other": st.booleans()},
    "post_many": {"poster": st.integers(0, 1), "rewards": st.lists(st.integers(1, 10**17), min_size=1, max_size=4)},
    "claim_and_submit_many": {"who": st.integers(0, 1), "lie": st.booleans()},
    "finalize_and_withdraw_many": {"who": st.integers(0, 1)},
    "challenge": {"pick": _I, "who": st.integers(0, 1), "random_play": st.booleans(), "seed": st.integers(0, 2**16)},
    "move": {"pick": _I, "moves": st.integers(1, 6)},
    "timeout": {"pick": _I},
    "settle": {"pick": _I, "who": st.integers(0, 2)},
    "wait": {"seconds": st.sampled_from([30, MIN_CLOCK + 1, WINDOW + 1, EXECUTE + 1, CLOCK + 1, 86400])},
    "finalize": {"pick": _I},
    "expire": {"pick": _I},
    "expire_and_claim": {"pick": _I},
    "attack_submit": {"pick": _I, "puppets": st.integers(0, 2), "top_up": st.integers(0, 5)},
    "demand_output": {"pick": _I},
    "publish_output": {"pick": _I, "good": st.booleans()},
    "output_timeout": {"pick": _I},
    "cancel": {"pick": _I, "poster": st.integers(0, 1)},
    "withdraw_credits": {"who": st.sampled_from(["posters", "providers", "challengers"]), "i": st.integers(0, 1)},
    "unbond": {"i": st.integers(0, 1), "amount": st.integers(1, STAKE)},
    "withdraw_stake": {"i": st.integers(0, 1)},
}  # fmt: skip
# moves are the most frequent action, as in a real dispute
SCRIPT_ACTIONS = (
    sorted(SCRIPT_ARGS) + ["move"] * 6 + ["claim_submit_challenge"] * 2 + ["attack_submit"]
)


def machine_context(
    chain,
    system,
    accounts,
    reverts: tuple[type[Exception], ...],
    attacker: Attacker,  # noqa: ANN001
) -> dict:
    """What `MarketMachine` runs against: a chain (ape's, or `rpc_chain.RpcChain`), a deployed
    `System`, the dev accounts (ape's test accounts are anvil's: same roles either way), the
    exception types a refused call raises, and the attacker's contract (`puppets.Attacker`,
    owned by account 9)."""
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
        "attacker": attacker,
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
