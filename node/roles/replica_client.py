"""The poster's and the operator's side of replicated jobs (docs/protocol.md §6.8): post a job
for `r` replicas, read a job with every seat's stage, and read the providers' records."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.chain.contracts.replica_market import ReplicaMarketContract, ReplicaTerms
from node.program.spec import JobSpec
from node.roles.client import JobClient, JobTerms
from node.roles.context import RoleContext
from node.roles.errors import NoReplicaMarket, UnknownJob
from node.roles.package import JobPackage


@dataclass(frozen=True)
class ReplicaOptions:
    """What a replicated post adds to JobTerms (its challenge_window is the agreement window W,
    which may be 0: final at the last reveal)."""

    replicas: int
    reveal_window: int
    min_stake: int = 0
    min_accepted: int = 0
    allow: tuple[str, ...] = ()

    def terms(self) -> ReplicaTerms:
        return ReplicaTerms(
            self.replicas, self.reveal_window, self.min_stake, self.min_accepted, self.allow
        )


def replica_market(ctx: RoleContext) -> ReplicaMarketContract:
    market = ctx.deployment.replicas
    if market is None:
        raise NoReplicaMarket(
            "this deployment has no replica market: set contracts.replica_market and "
            "contracts.replica_game (POC_CONTRACTS__REPLICA_MARKET, __REPLICA_GAME)"
        )
    return market


def post_replicated(
    ctx: RoleContext,
    spec: JobSpec,
    data: npt.NDArray[np.int8],
    terms: JobTerms,
    options: ReplicaOptions,
) -> int:
    """Upload the package, escrow the reward for `options.replicas` replicas; returns the job id."""
    market = replica_market(ctx)
    package = JobPackage(spec, np.ascontiguousarray(data, dtype=np.int8))
    with tempfile.TemporaryDirectory() as tmp:
        locator = package.upload(ctx.store, Path(tmp) / "spec")
    params = JobClient(ctx).params(package.commitments(), terms)
    ctx.pay(market.address, terms.reward)
    receipt = ctx.send(market.post(params, options.terms(), locator, terms.reward))
    return market.posted_in(receipt)[0]


def replica_status(ctx: RoleContext, job_id: int) -> dict[str, Any]:
    """The replicated job, its round's deadlines, and each seat: its replica and stage."""
    market = replica_market(ctx)
    if not 1 <= job_id <= market.job_count():
        raise UnknownJob(f"no replicated job {job_id} (there are {market.job_count()})")
    job = market.job(job_id)
    seats = []
    for seat_id in market.seats_of(job_id):
        s = market.seat(seat_id)
        seats.append({
            "seat_id": seat_id, "provider": s.provider, "stage": s.state.name.lower(),
            "s_n": "0x" + s.s_n.hex() if any(s.s_n) else None, "watch_games": s.active_games,
        })  # fmt: skip
    return {
        "job_id": job_id,
        "replicated": True,
        "state": job.state.name.lower(),
        "replicas": job.replicas,
        "reward": job.reward,
        "share": job.reward // job.replicas,
        "poster": job.poster,
        "commit_by": job.commit_by or None,
        "reveal_by": job.reveal_by or None,
        "window_end": job.window_end or None,
        "pair_games_pending": job.pending_pairs,
        "seats": seats,
        "params": {
            k: ("0x" + v.hex()) if isinstance(v, bytes) else v
            for k, v in asdict(job.params).items()
        },
        "now": ctx.deployment.now(),
    }


def provider_records(ctx: RoleContext, addresses: list[str] | None = None) -> list[dict[str, Any]]:
    """Each provider's on-chain record in the replica market (every provider that ever took a
    seat, or `addresses`), with its free stake."""
    market = replica_market(ctx)
    stake = ctx.deployment.stake
    out = []
    for who in addresses or market.providers_seen():
        rec = market.record_of(who)
        out.append({"provider": who, **asdict(rec), "free_stake": stake.free_stake(who)})
    return out
