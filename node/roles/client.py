"""The job client (poster): post a job with escrow, follow it, fetch and check its result,
demand its output on chain when the blob behind the locator is missing or wrong (issue 11,
P6), cancel it. The result is trusted only when it hashes to the output root of an accepted
claim, whether it comes from the content store or from the chain."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.chain.contracts.errors import ContractError
from node.chain.contracts.job_market import Claim, ClaimState, Job, JobParams, JobState
from node.chain.errors import TransactionReverted
from node.chain.sender import TxRequest
from node.program.packing import unpack
from node.program.spec import JobSpec
from node.program.tensors import TensorSpec
from node.roles import history, outputs, safety
from node.roles.context import RoleContext, withdraw_credits
from node.roles.errors import JobNotReady, UnknownJob
from node.roles.package import Commitments, JobPackage, data_dtype


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
    # where the output came from: "store" (the blob behind the claim's locator) or "chain"
    # (published on demand), and, from the chain, why the blob did not serve
    source: str = "store"
    note: str | None = None


class JobClient:
    def __init__(self, ctx: RoleContext) -> None:
        self.ctx = ctx

    def post(self, spec: JobSpec, data: npt.NDArray[Any], terms: JobTerms) -> int:
        """Upload the package, escrow the reward, return the job id."""
        package = JobPackage(spec, np.ascontiguousarray(data, dtype=data_dtype(spec)))
        with tempfile.TemporaryDirectory() as tmp:
            locator = package.upload(self.ctx.store, Path(tmp) / "spec")
        d = self.ctx.deployment
        params = self.params(package.commitments(), terms)
        self.ctx.pay(d.market.address, terms.reward)
        receipt = self.ctx.send(d.market.post(params, locator, terms.reward))
        return d.market.posted_in(receipt)[0].job_id

    def warnings(
        self,
        spec: JobSpec,
        terms: JobTerms,
        margins: safety.Margins = safety.Margins(),  # noqa: B008 (frozen)
        block_time: float | None = None,
        asset_price_eth: float | None = None,
    ) -> list[str]:
        """What is wrong with `terms` for `spec` on this chain: below the market's floors (the
        post would revert), or unsafe for honest providers (node.roles.safety, the rule their
        nodes apply with default margins: they will refuse the job). Empty: fine. On a token
        market the bond and reward are weighed against gas at `asset_price_eth` (ETH per
        whole token); without it that part is not judged, and a note says so."""
        d = self.ctx.deployment
        market, asset = d.market, d.asset
        found = []
        if terms.clock < (floor := market.min_clock()):
            found.append(f"clock {terms.clock} s < the market's minimum {floor} s: post reverts")
        if terms.challenger_bond < (floor := market.min_bond()):
            have = (
                asset.show(terms.challenger_bond)
                if not asset.is_ether
                else f"{terms.challenger_bond} wei"
            )
            least = asset.show(floor) if not asset.is_ether else f"{floor} wei"
            found.append(f"challenger bond {have} < the market's minimum {least}: post reverts")
        wei_per_unit = safety.asset_wei_per_unit(asset.decimals, asset_price_eth, asset.is_ether)
        if wei_per_unit is None:
            found.append(
                f"bond and reward not weighed against gas: the market pays in {asset.symbol} "
                "and no --asset-price-eth was given (providers without a price skip the job)"
            )
        unsafe = safety.unsafe_terms(
            clock=terms.clock,
            execute_within=terms.execute_within,
            challenge_window=terms.challenge_window,
            challenger_bond=terms.challenger_bond,
            cost=safety.JobCost.of(spec.program),
            chain=safety.chain_conditions(self.ctx.w3, block_time),
            margins=margins,
            reward=terms.reward,
            wei_per_unit=wei_per_unit or 1.0,
        )
        if wei_per_unit is None:  # the gas-weighed rules cannot be judged
            unsafe = [why for why in unsafe if "bond" not in why and not why.startswith("reward")]
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
        """The job, its terms, and every claim it has had (node.roles.history: accepted,
        rejected and expired ones too, with their cause, games and payouts); `claim` is the
        current one. Amounts in wei, times in chain seconds (`now` is the chain's time)."""
        d = self.ctx.deployment
        job = self._existing(job_id)
        story = history.job_story(d, job_id)
        claims = [c.as_json() for c in story.claims]
        asset = d.asset
        out: dict[str, Any] = {
            "asset": {"address": asset.address, "symbol": asset.symbol, "decimals": asset.decimals},
            "job_id": job_id,
            "state": job.state.name.lower(),
            "reward": job.reward,
            "poster": job.poster,
            "params": {
                k: ("0x" + v.hex()) if isinstance(v, bytes) else v
                for k, v in asdict(job.params).items()
            },
            "reopens_at": job.reopens_at or None,
            "claims": claims,
            "refund": story.refund,
        }
        current = next((c for c in claims if c["claim_id"] == job.current_claim), None)
        if current is not None:
            out["claim"] = current
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
        """The accepted output, checked against the on-chain root, dequantized: the blob behind
        the claim's locator, or, when it is missing or does not match, the output published on
        chain (OutputPublished). Before finalization: JobNotReady, or, when the output cannot
        be had, OutputUnavailable saying whether `poc job demand-output` can still help."""
        job = self._existing(job_id)
        if job.state != JobState.FINALIZED:
            self._not_ready(job, spec)
        claim = self.ctx.deployment.market.claim(self.accepted_claim(job_id))
        spec = spec or self._spec(job_id)
        out_spec = spec.program.spec(spec.program.output_slot)
        found, source, note = self._output(claim, out_spec)
        if found.raw is None:
            raise outputs.OutputUnavailable(
                f"the accepted output of job {job_id} cannot be had: {found.cause}; it was "
                "never demanded on chain in the challenge window, which is over"
            )
        q = unpack(found.raw, out_spec.dtype).reshape(out_spec.rows, out_spec.cols)
        values = spec.output_adapter.dequantize(q) if spec.output_adapter else None
        return JobResult(job_id, q, values, claim.output_root, source, note)

    def _output(
        self, claim: Claim, out_spec: TensorSpec
    ) -> tuple[outputs.OutputCheck, str, str | None]:
        """The claim's output from the store, else from the chain: (check, source, why the
        store did not serve)."""
        market = self.ctx.deployment.market
        stored = outputs.from_store(
            self.ctx.store, market.output_locator(claim.claim_id), out_spec, claim.output_root
        )
        if stored.ok:
            return stored, "store", None
        on_chain = outputs.from_chain(market, claim.claim_id, out_spec, claim.output_root)
        if on_chain.ok:
            return on_chain, "chain", stored.cause
        return outputs.best(stored, on_chain), "", None

    def _not_ready(self, job: Job, spec: JobSpec | None) -> None:
        """Why an unfinalized job has no result yet; for a submitted claim, whether its output
        can be had (so that the poster demands it while it still can)."""
        job_id = job.job_id
        not_final = f"job {job_id} is {job.state.name.lower()}, not finalized"
        market = self.ctx.deployment.market
        claim = market.claim(job.current_claim) if job.current_claim else None
        if job.state != JobState.CLAIMED or claim is None or claim.state != ClaimState.SUBMITTED:
            raise JobNotReady(f"{not_final}: no accepted result yet")
        spec = spec or self._spec(job_id)
        found, source, _ = self._output(claim, spec.program.spec(spec.program.output_slot))
        window_end = claim.submitted_at + job.params.challenge_window
        if found.ok:
            where = "behind its locator" if source == "store" else "published on chain"
            raise JobNotReady(
                f"{not_final}: claim {claim.claim_id}'s output is available ({where}) and "
                f"matches its root; it is final once the challenge window closes (chain time "
                f"{window_end}) and every game has ended"
            )
        lost = f"{not_final}, and claim {claim.claim_id}'s output cannot be had: {found.cause}"
        now = self.ctx.deployment.now()
        if claim.output_due:
            raise outputs.OutputUnavailable(
                f"{lost}. It was demanded: the provider must publish it by chain time "
                f"{claim.output_due} (now {now}); after that, `poc job output-timeout {job_id}` "
                "rejects the claim (its lock is burned) and the job reopens"
            )
        if now < window_end:
            raise outputs.OutputUnavailable(
                f"{lost}. Demand it on chain before the challenge window closes (chain time "
                f"{window_end}, now {now}): `poc job demand-output {job_id}`"
            )
        raise outputs.OutputUnavailable(
            f"{lost}. The challenge window closed at chain time {window_end}: too late to demand it"
        )

    def _spec(self, job_id: int) -> JobSpec:
        market = self.ctx.deployment.market
        with tempfile.TemporaryDirectory() as tmp:
            return JobPackage.download(
                self.ctx.store, market.spec_locator(job_id), Path(tmp) / "pkg"
            ).spec

    # ---- output availability (issue 11, P6) ----

    def demand_output(self, job_id: int) -> int:
        """Demand, as the poster, that the provider of the job's submitted claim publish its
        output on chain (free; within the challenge window; once per claim). Returns the chain
        time it is due by: not published then, anyone may reject the claim
        (`output_timeout`) and the job reopens."""
        job = self._existing(job_id)
        claim = self._submitted_claim(job, "demand its output")
        market = self.ctx.deployment.market
        # said before sending: a second demand would otherwise resume the first one's intent
        if claim.output_published:
            raise outputs.DemandRefused(_published(job, claim))
        if claim.output_due:
            raise outputs.DemandRefused(_demanded(claim, claim.output_due))
        self._send_refusable(market.demand_output(job_id, claim.claim_id), job, claim)
        # the event, not the claim: a provider that publishes at once clears the claim's due
        demanded = market.output_demanded(claim.claim_id)
        if demanded is None:  # the node has not indexed the log yet
            return market.claim(claim.claim_id).output_due
        return demanded.due

    def output_timeout(self, job_id: int) -> int:
        """Reject the job's claim whose demanded output was not published by its due time
        (anyone may): the provider's lock is burned and the job reopens, so that the poster
        may cancel it. Returns the rejected claim's id."""
        job = self._existing(job_id)
        claim = self._submitted_claim(job, "time out its output")
        market = self.ctx.deployment.market
        self._send_refusable(market.output_timeout(job_id, claim.claim_id), job, claim)
        return claim.claim_id

    def _submitted_claim(self, job: Job, what: str) -> Claim:
        claim = None
        if job.current_claim:
            claim = self.ctx.deployment.market.claim(job.current_claim)
        if job.state != JobState.CLAIMED or claim is None or claim.state != ClaimState.SUBMITTED:
            state = job.state.name.lower()
            if claim is not None:
                state += f", its claim {claim.claim_id} {claim.state.name.lower()}"
            raise JobNotReady(
                f"job {job.job_id} is {state}: only a submitted result's claim can {what}"
            )
        return claim

    def _send_refusable(self, request: TxRequest, job: Job, claim: Claim) -> None:
        """Send; the market's refusal is explained in words (the decoded error stays in it)."""
        try:
            self.ctx.send(request)
        except TransactionReverted as exc:
            hint = _refusal_hint(exc, job, claim, self.ctx.address)
            if hint is None:
                raise
            raise outputs.DemandRefused(f"{hint} ({exc})") from exc

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


def _refusal_hint(exc: TransactionReverted, job: Job, claim: Claim, me: str) -> str | None:
    """What a refused demandOutput or outputTimeout means for the poster; None: no advice."""
    a, j, c = exc.error_args, job.job_id, claim.claim_id
    window_end = claim.submitted_at + job.params.challenge_window
    hints = {
        ContractError.NOT_POSTER: (
            f"only the poster of job {j} ({job.poster}) may demand its output; this key is {me}"
        ),
        ContractError.WINDOW_CLOSED: (
            f"claim {c}'s challenge window closed at chain time {window_end}: too late to demand "
            "its output"
        ),
        ContractError.OUTPUT_ALREADY_DEMANDED: _demanded(claim, a.get("due")),
        ContractError.OUTPUT_ALREADY_PUBLISHED: _published(job, claim),
        ContractError.OUTPUT_NOT_DEMANDED: (
            f"claim {c}'s output was never demanded: `poc job demand-output {j}` first"
        ),
        ContractError.OUTPUT_PENDING: (
            f"claim {c}'s output is due at chain time {a.get('due')} (now {a.get('nowTs')}): "
            "the provider may still publish it until then"
        ),
    }
    return hints.get(exc.error_name)  # type: ignore[call-overload]


def _demanded(claim: Claim, due: Any) -> str:
    return f"claim {claim.claim_id}'s output was already demanded; it is due at chain time {due}"


def _published(job: Job, claim: Claim) -> str:
    return (
        f"claim {claim.claim_id}'s output is already published on chain: "
        f"`poc job result {job.job_id}` reads it"
    )
