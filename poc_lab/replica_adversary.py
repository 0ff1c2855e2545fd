"""Replica adversaries (docs/protocol.md §6.8) for the tests that run the daemons: a replica
that commits honestly and then never reveals, and a copier that commits without computing
anything and, once another seat has revealed, tries to reveal that seat's S_N as its own.
Both are the production replica role with one step replaced (the `commit` and `reveal`
methods); the provider daemon takes the role's class as a seam (`Provider.REPLICA_ROLE`)."""

from __future__ import annotations

import logging

from node.chain.contracts.replica_market import ReplicaJob, SeatState, commitment
from node.roles.provider import Provider
from node.roles.replica import ReplicaRole

log = logging.getLogger(__name__)
NOTHING = bytes(32)


class WithholdingReplica(ReplicaRole):
    """Commits its (honest) result, then never reveals: slashed as for a missed deadline."""

    def reveal(self, job: ReplicaJob, seat_id: int) -> None:
        log.info("replicated job %d: seat %d withholds its reveal", job.job_id, seat_id)


class CopyingReplica(ReplicaRole):
    """Commits before any result exists (it computes nothing), then reveals another seat's
    S_N and output root with its own salt: the commitment binds S_N to the committer's address,
    so the reveal reverts (BadReveal) and the seat is slashed when the round is tallied."""

    def commit(self, job: ReplicaJob, seat_id: int) -> None:
        self.p.ctx.send(
            self.market.commit(seat_id, commitment(NOTHING, self.me, self.salt(seat_id)))
        )

    def reveal(self, job: ReplicaJob, seat_id: int) -> None:
        revealed = [
            seat
            for s in self.market.seats_of(job.job_id)
            if s != seat_id and (seat := self.market.seat(s)).state == SeatState.REVEALED
        ]
        if not revealed:
            return  # nothing to copy yet
        src = revealed[0]
        log.info("replicated job %d: seat %d copies seat %d", job.job_id, seat_id, src.seat_id)
        self.p.ctx.send(
            self.market.reveal(seat_id, src.s_n, src.output_root, [], self.salt(seat_id), "")
        )


class WithholdingProvider(Provider):
    REPLICA_ROLE = WithholdingReplica


class CopyingProvider(Provider):
    REPLICA_ROLE = CopyingReplica


REPLICA_CHEATS: dict[str, type[Provider]] = {
    "withhold": WithholdingProvider,
    "copy": CopyingProvider,
}
