"""ReplicaMarket: replicated jobs (docs/protocol.md §6.8): typed reads of jobs, seats and
provider records, the commitment a replica makes, and the transactions of posters, replicas and
watchtowers."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from node.chain.contracts._binding import LOG_WINDOW, ContractBinding, EventRecord, camel, record
from node.chain.contracts.job_market import JobParams
from node.chain.errors import ChainError
from node.chain.sender import TxRequest


class JobNotPosted(ChainError):
    """The replicated job's post event is not on this chain (wrong deployment or start block)."""


# StakeManager keys of this market (ReplicaMarket.REPLICA_KEY_BASE): seat s locks under
# REPLICA_KEY_BASE + s, watch game g's backing under REPLICA_KEY_BASE + 2^128 + g
REPLICA_KEY_BASE = 2**255


class ReplicaJobState(IntEnum):
    NONE = 0
    OPEN = 1
    RUNNING = 2  # every seat taken: commits, then reveals
    DISPUTING = 3  # pair games between disagreeing seats
    WINDOW = 4  # the upheld seats wait out the poster's window (watchtowers may challenge)
    FINALIZED = 5
    CANCELLED = 6


class SeatState(IntEnum):
    NONE = 0
    CLAIMED = 1
    COMMITTED = 2
    REVEALED = 3
    ACCEPTED = 4
    REJECTED = 5
    EXPIRED = 6
    RELEASED = 7


@dataclass(frozen=True)
class ReplicaTerms:
    """ReplicaTerms in ReplicaMarket.sol: how many replicas, the reveal window, and who may sit."""

    replicas: int
    reveal_window: int
    min_stake: int = 0
    min_accepted: int = 0
    allow: tuple[str, ...] = ()

    def as_struct(self) -> dict[str, object]:
        return {camel(f.name): (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in fields(self)}  # fmt: skip


@dataclass(frozen=True)
class ReplicaJob:
    job_id: int
    params: JobParams
    poster: str
    state: ReplicaJobState
    replicas: int
    taken: int
    pending_pairs: int
    reveal_window: int
    reward: int
    reopens_at: int
    commit_by: int  # 0 until the round starts
    window_end: int
    min_stake: int
    min_accepted: int
    restricted: bool

    @property
    def reveal_by(self) -> int:
        return self.commit_by + self.reveal_window if self.commit_by else 0


@dataclass(frozen=True)
class Seat:
    seat_id: int
    job_id: int
    provider: str
    state: SeatState
    active_games: int
    lock: int
    commitment: bytes
    s_n: bytes
    output_root: bytes


@dataclass(frozen=True)
class ProviderRecord:
    """ReplicaMarket.recordOf: the provider's seats by how they ended, and what its locks lost."""

    accepted: int
    rejected: int
    expired: int
    slashed: int


@dataclass(frozen=True)
class GameBook:
    challenger_seat: int  # 0 for a watch game
    watcher: str
    bond: int
    backing: int


@dataclass(frozen=True)
class SeatClaimed(EventRecord):
    job_id: int
    seat_id: int
    provider: str
    lock: int


@dataclass(frozen=True)
class PairGame(EventRecord):
    job_id: int
    game_id: int
    defender_seat: int
    challenger_seat: int


def commitment(s_n: bytes, replica: str, salt: bytes) -> bytes:
    """keccak256(abi.encode(sN, replica, salt)): what a replica commits (protocol.md §6.8)."""
    return keccak(encode(["bytes32", "address", "bytes32"], [s_n, replica, salt]))


class ReplicaMarketContract(ContractBinding):
    NAME = "ReplicaMarket"

    # ---- reads ----

    def job_count(self) -> int:
        return int(self.read("jobCount"))

    @functools.cached_property
    def pays_in_token(self) -> bool:
        return int(str(self.read("asset")), 16) != 0

    def job(self, job_id: int) -> ReplicaJob:
        return record(ReplicaJob, self.read("getJob", job_id), job_id=job_id)

    def seat(self, seat_id: int) -> Seat:
        return record(Seat, self.read("getSeat", seat_id), seat_id=seat_id)

    def seats_of(self, job_id: int) -> list[int]:
        return [int(s) for s in self.read("seatsOf", job_id)]

    def record_of(self, provider: str) -> ProviderRecord:
        return record(ProviderRecord, self.read("recordOf", provider))

    def eligible(self, job_id: int, provider: str) -> int:
        """0 when `provider` may take a seat, else NotEligible's reason (errors.NOT_ELIGIBLE)."""
        return int(self.read("eligible", job_id, provider))

    def game_book(self, game_id: int) -> GameBook:
        return record(GameBook, self.read("gameBook", game_id))

    def credits(self, account: str) -> int:
        return int(self.read("credits", account))

    def spec_locator(self, job_id: int) -> str:
        logs = self.latest_logs("ReplicaJobPosted", {"jobId": job_id})
        if not logs:
            raise JobNotPosted(f"no ReplicaJobPosted event for replicated job {job_id}")
        return str(logs[-1]["args"]["specLocator"])

    def pair_games(self, job_id: int) -> list[PairGame]:
        return [PairGame.from_log(log) for log in self.latest_logs("PairGame", {"jobId": job_id})]

    def watch_games(self, seat_id: int, watcher: str) -> list[int]:
        """The watch games `watcher` opened on seat `seat_id` (its Challenged events)."""
        who = watcher.lower()
        return [
            int(log["args"]["gameId"])
            for log in self.latest_logs("Challenged", {"seatId": seat_id})
            if str(log["args"]["challenger"]).lower() == who
        ]

    def providers_seen(self) -> list[str]:
        """Every provider that ever took a seat (SeatClaimed since the deployment's first
        block, in windows of LOG_WINDOW blocks), in first-seen order."""
        seen: dict[str, None] = {}
        event = self.contract.events["SeatClaimed"]
        head = int(self.w3.eth.block_number)
        for lo in range(self.start_block, head + 1, LOG_WINDOW):
            for log in event.get_logs(from_block=lo, to_block=min(head, lo + LOG_WINDOW - 1)):
                seen.setdefault(str(SeatClaimed.from_log(log).provider), None)
        return list(seen)

    # ---- transactions ----

    def post(
        self, params: JobParams, terms: ReplicaTerms, spec_locator: str, reward: int
    ) -> TxRequest:
        if self.pays_in_token:
            return self.tx("postToken", params.as_struct(), terms.as_struct(), spec_locator, reward)
        return self.tx("post", params.as_struct(), terms.as_struct(), spec_locator, value=reward)

    def claim_seat(self, job_id: int, round_key: int) -> TxRequest:
        return self.tx("claim", job_id, key=f"replica-claim:{job_id}:{round_key}")

    def commit(self, seat_id: int, commitment_: bytes) -> TxRequest:
        return self.tx("commit", seat_id, commitment_, key=f"replica-commit:{seat_id}")

    def reveal(
        self,
        seat_id: int,
        s_n: bytes,
        output_root: bytes,
        output_proof: list[bytes] | tuple[bytes, ...],
        salt: bytes,
        output_locator: str,
    ) -> TxRequest:
        return self.tx(
            "reveal", seat_id, s_n, output_root, list(output_proof), salt, output_locator,
            key=f"replica-reveal:{seat_id}",
        )  # fmt: skip

    def tally(self, job_id: int, commit_by: int) -> TxRequest:
        return self.tx("tally", job_id, key=f"replica-tally:{job_id}:{commit_by}")

    def challenge(self, job_id: int, seat_id: int, bond: int) -> TxRequest:
        if self.pays_in_token:
            return self.tx("challengeToken", job_id, seat_id, bond, key=f"replica-watch:{seat_id}")
        return self.tx("challenge", job_id, seat_id, value=bond, key=f"replica-watch:{seat_id}")

    def finalize(self, job_id: int) -> TxRequest:
        return self.tx("finalize", job_id, key=f"replica-finalize:{job_id}")

    def cancel(self, job_id: int) -> TxRequest:
        return self.tx("cancel", job_id)

    def withdraw(self) -> TxRequest:
        return self.tx("withdraw")

    def posted_in(self, receipt: Any) -> list[int]:
        """The job ids a `post` transaction created."""
        return [
            int(e["args"]["jobId"])
            for e in self.contract.events.ReplicaJobPosted().process_receipt(receipt)
        ]
