"""The provider's replica role (docs/protocol.md §6.8): on a deployment with a ReplicaMarket,
each tick takes a seat of every open replicated job this provider is eligible for and willing
to run, computes it, commits (keccak256(sN, own address, salt)), reveals once reveals open,
tallies when the round may be tallied, plays its pair games (defending its result, or pointing
at a disagreeing replica's), defends watch games on its seat, and finalizes.

Everything is re-read from the chain each tick, so the role holds no state of its own: the salt
of a seat is derived from the account's key and the seat id (secret, and the same after a
restart), and the result is recomputed (or read from the job's work folder) when needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import keccak

from node.chain.contracts.errors import NOT_ELIGIBLE
from node.chain.contracts.replica_market import (
    ReplicaJob,
    ReplicaJobState,
    ReplicaMarketContract,
    SeatState,
    commitment,
)
from node.errors import PocError
from node.game.responder import Responder
from node.game.rules import GameStatus, Side
from node.game.solver import solve
from node.roles import safety
from node.roles.daemon import describe_error, is_transient
from node.roles.work import JobWork
from node.trace.lazy import TraceProvider

if TYPE_CHECKING:
    from node.chain.contracts.dispute_game import DisputeGameContract
    from node.roles.provider import Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeatView:
    """One of our seats, as a tick sees it (for `poc provider status` and the tests)."""

    job_id: int
    seat_id: int
    stage: str


class ReplicaRole:
    """Run by the Provider daemon's tick when the deployment has a replica market."""

    def __init__(self, provider: Provider) -> None:
        self.p = provider
        d = provider.ctx.deployment
        assert d.replicas is not None and d.replica_game is not None
        self.market: ReplicaMarketContract = d.replicas
        self.game: DisputeGameContract = d.replica_game
        self.responder = Responder(provider.ctx.send, self.game, provider.ctx.state)
        self._work: dict[int, JobWork] = {}
        self._skipped: dict[int, str] = {}  # job id -> why, logged once
        self._refused: dict[int, str] = {}  # job id -> why its package or terms are refused

    @property
    def me(self) -> str:
        return self.p.ctx.address

    # ---- the tick ----

    def tick(self) -> list[SeatView]:
        seats = []
        for job_id in range(1, self.market.job_count() + 1):
            job = self.market.job(job_id)
            if job.state in (ReplicaJobState.FINALIZED, ReplicaJobState.CANCELLED):
                continue
            seat_id = self._our_seat(job_id)
            if seat_id is None and job.state == ReplicaJobState.OPEN:
                seat_id = self._maybe_claim(job)
            if seat_id is not None:
                seats.append(SeatView(job_id, seat_id, self._advance(job, seat_id)))
        return seats

    def _our_seat(self, job_id: int) -> int | None:
        for seat_id in self.market.seats_of(job_id):
            if self.market.seat(seat_id).provider == self.me:
                return seat_id
        return None

    def _skip(self, job_id: int, why: str) -> None:
        if self._skipped.get(job_id) != why:
            log.info("replicated job %d skipped: %s", job_id, why)
            self._skipped[job_id] = why

    def _maybe_claim(self, job: ReplicaJob) -> int | None:
        d, pol = self.p.ctx.deployment, self.p.policy
        if job.job_id in self._refused:
            return None
        now = d.now()
        why = self.market.eligible(job.job_id, self.me)
        if why:
            self._skip(job.job_id, f"not eligible: {NOT_ELIGIBLE.get(why, why)}")
            return None
        share = job.reward // job.replicas
        if share < pol.min_reward:
            self._skip(job.job_id, f"share {share} < minimum reward {pol.min_reward}")
            return None
        if job.params.n_ops > pol.max_ops:
            self._skip(job.job_id, f"{job.params.n_ops} ops > limit {pol.max_ops}")
            return None
        if pol.max_stake is not None and job.params.required_stake > pol.max_stake:
            self._skip(job.job_id, f"required stake {job.params.required_stake} > {pol.max_stake}")
            return None
        if now > job.params.claim_by or now < job.reopens_at:
            return None
        unsafe = self._unsafe(job)
        if unsafe is not None:
            self._skip(job.job_id, unsafe)
            return None
        if d.stake.free_stake(self.me) < job.params.required_stake:
            self._skip(job.job_id, "free stake below the required stake (`poc provider stake`)")
            return None
        self.p.ctx.send(self.market.claim_seat(job.job_id, job.reopens_at))
        seat_id = self._our_seat(job.job_id)
        if seat_id is not None:
            log.info("replicated job %d: seat %d taken", job.job_id, seat_id)
        return seat_id

    def _unsafe(self, job: ReplicaJob) -> str | None:
        """Why a seat of `job` could trap us (None: safe to take), as the provider judges a
        JobMarket job before locking stake (node.roles.safety.unsafe_replica_terms): the
        package must match the on-chain program, its data fit the policy, and the terms be safe
        on this chain for this program. A verdict on the package or the terms is kept: the job
        is not judged again."""
        pol = self.p.policy
        asset = self.p.ctx.deployment.asset
        wei_per_unit = safety.asset_wei_per_unit(
            asset.decimals, pol.asset_price_eth, asset.is_ether
        )
        if wei_per_unit is None:
            return (
                f"market pays in {asset.symbol} ({asset.address}) and no asset price is set: "
                "cannot weigh the bond against gas (set --asset-price-eth)"
            )
        try:
            work = self.work(job)
        except PocError as exc:
            if is_transient(exc):
                return f"package not fetched yet: {describe_error(exc)}"
            return self._refuse(job.job_id, f"package refused: {exc}")
        package = work.package
        size = package.data.nbytes + sum(a.nbytes for a in package.spec.constants.values())
        if size > pol.max_input_bytes:
            return self._refuse(job.job_id, f"{size} bytes > limit {pol.max_input_bytes}")
        unsafe = safety.unsafe_replica_terms(
            clock=job.params.clock,
            execute_within=job.params.execute_within,
            reveal_window=job.reveal_window,
            challenger_bond=job.params.challenger_bond,
            required_stake=job.params.required_stake,
            cost=safety.JobCost.of(package.spec.program),
            chain=self.p.chain_conditions(),
            margins=safety.Margins(pol.margin, pol.bond_margin, pol.macs_per_second),
            wei_per_unit=wei_per_unit,
        )
        if unsafe:
            return self._refuse(job.job_id, "unsafe terms: " + "; ".join(unsafe))
        return None

    def _refuse(self, job_id: int, why: str) -> str:
        self._refused[job_id] = why
        self._work.pop(job_id, None)
        log.warning("replicated job %d refused: %s", job_id, why)
        return why

    def _advance(self, job: ReplicaJob, seat_id: int) -> str:
        """Our next step on seat `seat_id`; returns the seat's stage after it."""
        d = self.p.ctx.deployment
        seat = self.market.seat(seat_id)
        now = d.now()
        if seat.state == SeatState.CLAIMED and (
            job.state == ReplicaJobState.OPEN or now <= job.commit_by
        ):
            self.commit(job, seat_id)
            seat = self.market.seat(seat_id)
        if job.state == ReplicaJobState.RUNNING and seat.state == SeatState.COMMITTED:
            if self._reveals_open(job, now) and now <= job.reveal_by:
                self.reveal(job, seat_id)
                job = self.market.job(job.job_id)
        if job.state == ReplicaJobState.RUNNING and now > job.reveal_by:
            self.p.ctx.send(self.market.tally(job.job_id, job.commit_by))
            job = self.market.job(job.job_id)
        if job.state in (ReplicaJobState.DISPUTING, ReplicaJobState.WINDOW):
            self._play(job, seat_id)
            job = self.market.job(job.job_id)
        if job.state == ReplicaJobState.WINDOW and d.now() >= job.window_end:
            if self.market.seat(seat_id).active_games == 0:
                self.p.ctx.send(self.market.finalize(job.job_id))
        return self.market.seat(seat_id).state.name.lower()

    def commit(self, job: ReplicaJob, seat_id: int) -> None:
        """Compute the job and commit keccak256(S_N, our address, the seat's salt)."""
        result = self.work(job).claim()
        self.p.ctx.send(
            self.market.commit(seat_id, commitment(result.s_n, self.me, self.salt(seat_id)))
        )

    def reveal(self, job: ReplicaJob, seat_id: int) -> None:
        """Store the output and reveal S_N, the output root (with its path) and the salt."""
        result = self.work(job).claim()
        locator = self.p.store_output(job.job_id, result.output)
        self.p.ctx.send(
            self.market.reveal(
                seat_id, result.s_n, result.output_root, result.output_proof,
                self.salt(seat_id), locator,
            )
        )  # fmt: skip
        log.info("replicated job %d: seat %d revealed", job.job_id, seat_id)

    def _reveals_open(self, job: ReplicaJob, now: int) -> bool:
        if now > job.commit_by:
            return True
        return all(
            self.market.seat(s).state != SeatState.CLAIMED for s in self.market.seats_of(job.job_id)
        )

    def _play(self, job: ReplicaJob, seat_id: int) -> None:
        """Our moves in the pair games of our seat (either side) and the watch games on it."""
        trace = self.work(job).trace
        for pair in self.market.pair_games(job.job_id):
            if seat_id == pair.defender_seat:
                self.answer(pair.game_id, Side.PROVIDER, trace)
            elif seat_id == pair.challenger_seat:
                self.answer(pair.game_id, Side.CHALLENGER, trace)
        for log_ in self.market.latest_logs("Challenged", {"seatId": seat_id}):
            self.answer(int(log_["args"]["gameId"]), Side.PROVIDER, trace)

    def answer(self, game_id: int, side: Side, trace: TraceProvider) -> GameStatus:
        view = self.game.game_view(game_id, self.p.ctx.deployment.now())
        if view.open:  # a move to make, or a decided game to settle
            self.responder.execute(view, side, solve(view, side, trace, self.p.choose))
        return view.status

    # ---- helpers ----

    def salt(self, seat_id: int) -> bytes:
        """Secret and reproducible: from the account's key and the seat (no state to lose)."""
        key = bytes(self.p.ctx.account.key)
        return keccak(b"poc-replica-salt" + key + seat_id.to_bytes(32, "big"))

    def work(self, job: ReplicaJob) -> JobWork:
        work = self._work.get(job.job_id)
        if work is None:
            work = self.p.fetch_work(
                job.params,
                self.market.spec_locator(job.job_id),
                self.p.ctx.data_dir / "replica-jobs" / str(job.job_id),
            )
            self._work[job.job_id] = work
        return work
