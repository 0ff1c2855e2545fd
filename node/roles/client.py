"""The job client (poster): post a job with escrow, follow it, fetch and check its result,
cancel it. The result is trusted only when it hashes to the output root of an accepted claim."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.chain.contracts.job_market import ClaimState, Job, JobParams, JobState
from node.game.view import GameView
from node.program.merkle import tensor_root
from node.program.packing import unpack
from node.program.spec import JobSpec
from node.roles import safety
from node.roles.context import RoleContext, withdraw_credits
from node.roles.errors import JobNotReady, OutputMismatch, UnknownJob
from node.roles.package import Commitments, JobPackage


@dataclass(frozen=True)
class JobTerms:
    """What the poster offers and demands; durations in seconds, amounts in wei."""

    reward: int
    required_stake: int
    challenger_bond: int
    claim_within: int = 24 * 3600
    execute_within: int = 3600
    challenge_window: int = 600
    clock: int = 600


@dataclass(frozen=True)
class JobResult:
    job_id: int
    output: npt.NDArray[Any]  # the quantized output slot, [rows, cols]
    values: npt.NDArray[np.float64] | None  # dequantized by the spec's output adapter
    output_root: bytes


class JobClient:
    def __init__(self, ctx: RoleContext) -> None:
        self.ctx = ctx

    def post(self, spec: JobSpec, data: npt.NDArray[np.int8], terms: JobTerms) -> int:
        """Upload the package, escrow the reward, return the job id."""
        package = JobPackage(spec, np.ascontiguousarray(data, dtype=np.int8))
        with tempfile.TemporaryDirectory() as tmp:
            locator = package.upload(self.ctx.store, Path(tmp) / "spec")
        d = self.ctx.deployment
        params = self.params(package.commitments(), terms)
        receipt = self.ctx.send(d.market.post(params, locator, terms.reward))
        return d.market.posted_in(receipt)[0].job_id

    def warnings(
        self,
        spec: JobSpec,
        terms: JobTerms,
        margins: safety.Margins = safety.Margins(),  # noqa: B008 (frozen)
        block_time: float | None = None,
    ) -> list[str]:
        """What is wrong with `terms` for `spec` on this chain: below the market's floors (the
        post would revert), or unsafe for honest providers (node.roles.safety, the rule their
        nodes apply with default margins: they will refuse the job). Empty: fine."""
        market = self.ctx.deployment.market
        found = []
        if terms.clock < (floor := market.min_clock()):
            found.append(f"clock {terms.clock} s < the market's minimum {floor} s: post reverts")
        if terms.challenger_bond < (floor := market.min_bond()):
            found.append(
                f"challenger bond {terms.challenger_bond} wei < the market's minimum "
                f"{floor} wei: post reverts"
            )
        unsafe = safety.unsafe_terms(
            clock=terms.clock,
            execute_within=terms.execute_within,
            challenge_window=terms.challenge_window,
            challenger_bond=terms.challenger_bond,
            cost=safety.JobCost.of(spec.program),
            chain=safety.chain_conditions(self.ctx.w3, block_time),
            margins=margins,
        )
        return found + [f"honest providers refuse: {why}" for why in unsafe]

    def params(self, c: Commitments, terms: JobTerms) -> JobParams:
        """The on-chain parameters of a job with commitments `c` on `terms`, claimable from now
        for `terms.claim_within` seconds."""
        return JobParams(
            c.program_root,
            c.s0,
            c.n_inputs,
            c.n_ops,
            c.output_slot,
            terms.required_stake,
            terms.challenger_bond,
            self.ctx.deployment.now() + terms.claim_within,
            terms.execute_within,
            terms.challenge_window,
            terms.clock,
        )

    def status(self, job_id: int) -> dict[str, Any]:
        d = self.ctx.deployment
        job = self._existing(job_id)
        out: dict[str, Any] = {
            "job_id": job_id,
            "state": job.state.name.lower(),
            "reward": job.reward,
            "poster": job.poster,
            "params": {
                k: ("0x" + v.hex()) if isinstance(v, bytes) else v
                for k, v in asdict(job.params).items()
            },
        }
        if job.current_claim:
            claim = d.market.claim(job.current_claim)
            games = d.market.games_of_claim(claim.claim_id)
            out["claim"] = {
                "claim_id": claim.claim_id,
                "provider": claim.provider,
                "state": claim.state.name.lower(),
                "output_root": "0x" + claim.output_root.hex(),
                "window_end": claim.submitted_at + job.params.challenge_window
                if claim.submitted_at
                else None,
                "games": {g: _game_summary(d.game_view(g)) for g in games},
            }
        out["now"] = d.now()
        return out

    def accepted_claim(self, job_id: int) -> int:
        market = self.ctx.deployment.market
        job = self._existing(job_id)
        if job.state != JobState.FINALIZED:
            raise JobNotReady(
                f"job {job_id} is {job.state.name.lower()}, not finalized: no accepted result yet"
            )
        claim = market.claim(job.current_claim)
        assert claim.state == ClaimState.ACCEPTED
        return claim.claim_id

    def result(self, job_id: int, spec: JobSpec | None = None) -> JobResult:
        """Download the accepted output, check it against the on-chain root, dequantize."""
        market = self.ctx.deployment.market
        claim = market.claim(self.accepted_claim(job_id))
        locator = market.output_locator(claim.claim_id)
        if locator is None:
            raise JobNotReady(f"no ResultSubmitted event for claim {claim.claim_id}")
        if spec is None:
            with tempfile.TemporaryDirectory() as tmp:
                spec = JobPackage.download(
                    self.ctx.store, market.spec_locator(job_id), Path(tmp) / "pkg"
                ).spec
        out_spec = spec.program.spec(spec.program.output_slot)
        raw = self.ctx.store.get(locator)
        if len(raw) != out_spec.nbytes or tensor_root(raw, out_spec.dtype) != claim.output_root:
            raise OutputMismatch(
                f"output {locator} does not hash to the accepted output root "
                f"0x{claim.output_root.hex()}"
            )
        q = unpack(raw, out_spec.dtype).reshape(out_spec.rows, out_spec.cols)
        values = spec.output_adapter.dequantize(q) if spec.output_adapter else None
        return JobResult(job_id, q, values, claim.output_root)

    def _existing(self, job_id: int) -> Job:
        """The job, or UnknownJob (an id that was never posted reads as an empty job)."""
        market = self.ctx.deployment.market
        job = market.job(job_id)
        if job.state == JobState.NONE:
            count = market.job_count()
            known = f"jobs 1..{count}" if count else "no jobs yet"
            raise UnknownJob(f"job {job_id} does not exist on market {market.address} ({known})")
        return job

    def cancel(self, job_id: int) -> None:
        self.ctx.send(self.ctx.deployment.market.cancel(job_id))

    def withdraw(self) -> int:
        return withdraw_credits(self.ctx)


def _game_summary(v: GameView) -> dict[str, Any]:
    return {
        "status": v.status.name.lower(),
        "level": v.phase.level if v.active else "resolved",
        "to_move": v.mover.name.lower() if v.active else None,
        "interval": [v.lo, v.hi],
        "node": [v.height, v.index],
        "provider_clock": v.provider_clock,
        "challenger_clock": v.challenger_clock,
        "deadline": v.deadline if v.active else None,
    }
