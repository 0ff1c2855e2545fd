"""JobMarket: typed reads of jobs and claims, the transactions of posters, providers and
challengers, and the market's events as records (docs/protocol.md §6.2, §6.5, §6A)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, TypeVar

from node.chain.contracts._binding import ContractBinding, EventRecord, camel, record
from node.chain.errors import DeploymentNotConfigured
from node.chain.sender import TxRequest

R = TypeVar("R", bound=EventRecord)


class JobState(IntEnum):
    """JobState in contracts/lib/Lifecycle.sol."""

    NONE = 0
    OPEN = 1
    CLAIMED = 2
    FINALIZED = 3
    CANCELLED = 4


class ClaimState(IntEnum):
    """ClaimState in contracts/lib/Lifecycle.sol."""

    NONE = 0
    ACTIVE = 1
    SUBMITTED = 2
    ACCEPTED = 3
    REJECTED = 4
    EXPIRED = 5


class RejectCause(IntEnum):
    """ClaimRejected.cause (JobMarket.CAUSE_*): why a claim was rejected (protocol.md 6.5)."""

    GAME_LOST = 1
    OUTPUT_WITHHELD = 2


# JobMarket.GAME_LOCK_BASE: a game's backing is StakeManager.lockOf(GAME_LOCK_BASE + game id)
GAME_LOCK_BASE = 2**128
# publishOutput leaf sizes (JobMarket.LEAF_INT8, LEAF_INT32): bytes per 32-element leaf
LEAF_INT8 = 32
LEAF_INT32 = 128


@dataclass(frozen=True)
class JobParams:
    """JobParams in contracts/lib/Types.sol (same fields, same order)."""

    program_root: bytes
    s0: bytes
    n_inputs: int
    n_ops: int
    output_slot: int
    required_stake: int
    challenger_bond: int
    claim_by: int
    execute_within: int
    challenge_window: int
    clock: int

    def as_tuple(self) -> tuple[object, ...]:
        """Field order of JobParams in Types.sol."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def as_struct(self) -> dict[str, object]:
        """Fields by their Solidity names (what the strict encoder checks)."""
        return {camel(f.name): getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Job:
    """Job in contracts/lib/Lifecycle.sol, plus its id."""

    job_id: int
    params: JobParams
    poster: str
    state: JobState
    current_claim: int
    reward: int
    reopens_at: int  # 0, or the first time a reopened job may be claimed again


@dataclass(frozen=True)
class Claim:
    """Claim in contracts/lib/Lifecycle.sol, plus its id."""

    claim_id: int
    job_id: int
    provider: str
    state: ClaimState
    active_games: int
    claimed_at: int
    submitted_at: int
    output_due: int  # 0: no output demand pending
    output_published: bool
    lock: int
    s_n: bytes
    output_root: bytes


# ---- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobPosted(EventRecord):
    job_id: int
    poster: str
    reward: int
    params: JobParams
    spec_locator: str


@dataclass(frozen=True)
class JobClaimed(EventRecord):
    job_id: int
    claim_id: int
    provider: str
    lock: int
    execute_by: int


@dataclass(frozen=True)
class ResultSubmitted(EventRecord):
    job_id: int
    claim_id: int
    provider: str
    s_n: bytes
    output_root: bytes
    output_locator: str
    window_end: int


@dataclass(frozen=True)
class Challenged(EventRecord):
    job_id: int
    claim_id: int
    game_id: int
    challenger: str
    bond: int
    backing: int  # the provider stake locked for this game (0 when none was free)


@dataclass(frozen=True)
class GameSettled(EventRecord):
    game_id: int
    claim_id: int
    winner: str
    provider_won: bool
    bond: int
    backing: int
    bounty: int
    burned: int


@dataclass(frozen=True)
class ClaimRejected(EventRecord):
    job_id: int
    claim_id: int
    game_id: int  # 0 when the output was withheld
    cause: RejectCause
    slashed: int  # the whole claim lock, burned


@dataclass(frozen=True)
class OutputDemanded(EventRecord):
    job_id: int
    claim_id: int
    due: int


@dataclass(frozen=True)
class OutputPublished(EventRecord):
    job_id: int
    claim_id: int
    leaf_size: int
    data: bytes


@dataclass(frozen=True)
class JobReopened(EventRecord):
    job_id: int
    reopens_at: int


@dataclass(frozen=True)
class ClaimExpired(EventRecord):
    job_id: int
    claim_id: int
    provider: str
    slashed: int


@dataclass(frozen=True)
class JobFinalized(EventRecord):
    job_id: int
    claim_id: int
    provider: str
    reward: int


@dataclass(frozen=True)
class JobCancelled(EventRecord):
    job_id: int
    poster: str
    refund: int


@dataclass(frozen=True)
class Credited(EventRecord):
    account: str
    amount: int
    reason: int  # JobMarket.REASON_*: 1 reward, 2 refund, 3 bond, 4 bounty, 5 compensation


MARKET_EVENTS: tuple[type[EventRecord], ...] = (
    JobPosted,
    JobClaimed,
    ResultSubmitted,
    Challenged,
    GameSettled,
    ClaimRejected,
    OutputDemanded,
    OutputPublished,
    JobReopened,
    ClaimExpired,
    JobFinalized,
    JobCancelled,
    Credited,
)


class JobMarketContract(ContractBinding):
    NAME = "JobMarket"

    # ---- reads ----

    def job_count(self) -> int:
        return int(self.read("jobCount"))

    @functools.cached_property
    def asset_address(self) -> str:
        """The market's asset (immutable): ETHER_ADDRESS, or the ERC-20 it is paid in."""
        return str(self.read("asset"))

    @property
    def pays_in_token(self) -> bool:
        return int(self.asset_address, 16) != 0

    def claim_count(self) -> int:
        return int(self.read("claimCount"))

    def job(self, job_id: int) -> Job:
        return record(Job, self.read("getJob", job_id), job_id=job_id)

    def claim(self, claim_id: int) -> Claim:
        return record(Claim, self.read("getClaim", claim_id), claim_id=claim_id)

    def games_of_claim(self, claim_id: int) -> list[int]:
        return [int(g) for g in self.read("gamesOfClaim", claim_id)]

    def challenger_of(self, game_id: int) -> str:
        return str(self.read("challengerOfGame", game_id))

    def backing_of(self, game_id: int) -> int:
        """The provider stake locked for game `game_id` when it opened (protocol.md 6.5 R2)."""
        return int(self.read("backingOfGame", game_id))

    def credits(self, account: str) -> int:
        return int(self.read("credits", account))

    def window_end(self, job_id: int) -> int:
        return int(self.read("windowEnd", job_id))

    def min_clock(self) -> int:
        """The deployment's clock floor, seconds (protocol.md §6.5)."""
        return int(self.read("MIN_CLOCK"))

    def min_bond(self) -> int:
        """The deployment's smallest challenger bond, wei (protocol.md §6.5)."""
        return int(self.read("MIN_BOND"))

    # ---- events ----

    def job_posted(self, job_id: int) -> JobPosted:
        """The job's JobPosted event (its spec locator); DeploymentNotConfigured when none is
        found since the start block (a start block after the job was posted)."""
        logs = self.latest_logs(JobPosted.EVENT, {"jobId": job_id})
        if not logs:
            raise DeploymentNotConfigured(
                f"no JobPosted event for job {job_id} since block {self.start_block}"
            )
        return JobPosted.from_log(logs[-1])

    def spec_locator(self, job_id: int) -> str:
        return self.job_posted(job_id).spec_locator

    def result_submitted(self, claim_id: int) -> ResultSubmitted | None:
        logs = self.latest_logs(ResultSubmitted.EVENT, {"claimId": claim_id})
        return ResultSubmitted.from_log(logs[-1]) if logs else None

    def output_locator(self, claim_id: int) -> str | None:
        submitted = self.result_submitted(claim_id)
        return submitted.output_locator if submitted else None

    def _latest(self, cls: type[R], filters: dict[str, int]) -> R | None:
        logs = self.latest_logs(cls.EVENT, filters)
        return cls.from_log(logs[-1]) if logs else None

    def output_demanded(self, claim_id: int) -> OutputDemanded | None:
        """The claim's output demand, if the poster made one (protocol.md 6.5 R4)."""
        return self._latest(OutputDemanded, {"claimId": claim_id})

    def output_published(self, claim_id: int) -> OutputPublished | None:
        """The claim's output as published on chain (its root checked by the contract)."""
        return self._latest(OutputPublished, {"claimId": claim_id})

    def game_settled(self, game_id: int) -> GameSettled | None:
        """How game `game_id`'s bond and backing were paid, once it has ended."""
        return self._latest(GameSettled, {"gameId": game_id})

    def claim_rejected(self, claim_id: int) -> ClaimRejected | None:
        """Why and for how much the claim was rejected, if it was."""
        return self._latest(ClaimRejected, {"claimId": claim_id})

    def challenges(self, claim_id: int) -> list[Challenged]:
        """The Challenged events of a claim (in the newest window of blocks that has any)."""
        return [
            Challenged.from_log(e) for e in self.latest_logs("Challenged", {"claimId": claim_id})
        ]

    def posted_in(self, receipt: Any) -> list[JobPosted]:
        """The jobs a `post` transaction created, from its receipt."""
        return self.receipt_events(JobPosted, receipt)

    # ---- transactions ----

    def post(self, params: JobParams, spec_locator: str, reward: int) -> TxRequest:
        """Ether: the reward as the value; token: `postToken`, which pulls `reward` (approve
        the market first: RoleContext.pay)."""
        if self.pays_in_token:
            return self.tx("postToken", params.as_struct(), spec_locator, reward)
        return self.tx("post", params.as_struct(), spec_locator, value=reward)

    def post_many(self, jobs: Sequence[tuple[JobParams, str, int]]) -> TxRequest:
        """Ether market: every (params, spec locator, reward) in one `postMany`, the value their
        rewards' sum (the jobs' ids: `posted_in` of its receipt)."""
        posts = [{"params": p.as_struct(), "specLocator": loc, "reward": r} for p, loc, r in jobs]
        return self.tx("postMany", posts, value=sum(r for _, _, r in jobs))

    def claim_job(self, job_id: int) -> TxRequest:
        return self.tx("claim", job_id, key=f"claim:{job_id}")

    def submit_result(
        self,
        job_id: int,
        claim_id: int,
        s_n: bytes,
        output_root: bytes,
        output_proof: list[bytes] | tuple[bytes, ...],
        output_locator: str,
    ) -> TxRequest:
        return self.tx(
            "submitResult",
            job_id,
            s_n,
            output_root,
            list(output_proof),
            output_locator,
            key=f"submit:{job_id}:{claim_id}",
        )

    def claim_and_submit(
        self,
        job_id: int,
        s_n: bytes,
        output_root: bytes,
        output_proof: list[bytes] | tuple[bytes, ...],
        output_locator: str,
    ) -> TxRequest:
        """`claim` and `submitResult` in one transaction, for a result already computed (its
        claim id is in the JobClaimed event, or `job(job_id).current_claim` once mined)."""
        return self.tx(
            "claimAndSubmit",
            job_id,
            s_n,
            output_root,
            list(output_proof),
            output_locator,
            key=f"claim-submit:{job_id}",
        )

    def claim_and_submit_many(
        self, results: Sequence[tuple[int, bytes, bytes, Sequence[bytes], str]]
    ) -> TxRequest:
        """`claimAndSubmit` of every (job id, S_N, output root, output proof, locator) in one
        transaction, all or nothing."""
        items = [
            {
                "jobId": job_id,
                "sN": s_n,
                "outputRoot": root,
                "outputProof": list(proof),
                "outputLocator": locator,
            }
            for job_id, s_n, root, proof, locator in results
        ]
        return self.tx("claimAndSubmitMany", items)

    def finalize_and_withdraw_many(self, job_ids: Sequence[int]) -> TxRequest:
        """The claims' provider: `finalizeAndWithdraw` of every job in one transaction."""
        return self.tx("finalizeAndWithdrawMany", list(job_ids))

    def finalize(self, job_id: int, claim_id: int) -> TxRequest:
        return self.tx("finalize", job_id, key=f"finalize:{job_id}:{claim_id}")

    def finalize_and_withdraw(self, job_id: int, claim_id: int) -> TxRequest:
        """The claim's provider: `finalize` and `withdraw` (all its credits) in one transaction."""
        return self.tx("finalizeAndWithdraw", job_id, key=f"finalize:{job_id}:{claim_id}")

    def challenge(self, job_id: int, claim_id: int, bond: int) -> TxRequest:
        if self.pays_in_token:
            return self.tx("challengeToken", job_id, bond, key=f"challenge:{claim_id}")
        return self.tx("challenge", job_id, value=bond, key=f"challenge:{claim_id}")

    def expire(self, job_id: int, claim_id: int) -> TxRequest:
        """Expire claim `claim_id` of job `job_id` (past its execution deadline)."""
        return self.tx("expire", job_id, key=f"expire:{job_id}:{claim_id}")

    def cancel(self, job_id: int) -> TxRequest:
        """The poster's cancel: of an Open job, or of a Claimed one whose claim is Active past its
        execution deadline (that claim expires in the same call)."""
        return self.tx("cancel", job_id)

    def demand_output(self, job_id: int, claim_id: int) -> TxRequest:
        """The poster demands claim `claim_id`'s output on chain within the job's clock."""
        return self.tx("demandOutput", job_id, key=f"demand:{job_id}:{claim_id}")

    def publish_output(self, job_id: int, claim_id: int, leaf_size: int, data: bytes) -> TxRequest:
        """Publish claim `claim_id`'s output tensor (`leaf_size` LEAF_INT8 or LEAF_INT32)."""
        return self.tx(
            "publishOutput", job_id, leaf_size, bytes(data), key=f"publish:{job_id}:{claim_id}"
        )

    def output_timeout(self, job_id: int, claim_id: int) -> TxRequest:
        """Reject claim `claim_id`, whose demanded output is past due."""
        return self.tx("outputTimeout", job_id, key=f"output-timeout:{job_id}:{claim_id}")

    def withdraw(self) -> TxRequest:
        """Pay out the caller's credits."""
        return self.tx("withdraw")
