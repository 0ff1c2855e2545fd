"""Every event of the three protocol contracts since the deployment's start block, in memory.

The first refresh scans from the start block to the head in the scanner's bounded ranges; each
later one reads only the blocks after the last it read, so a page costs one eth_getLogs when
nothing happened. Nothing is persisted: the explorer never writes to the node's state, and a
restart rescans (a reorganisation is therefore picked up by restarting)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from node.chain.scanner import ChainEvent

if TYPE_CHECKING:
    from node.chain.contracts.deployment import Deployment


class MemoryCheckpoints:
    """The scanner's checkpoint store, kept in memory (the explorer writes no state file)."""

    def __init__(self) -> None:
        self._blocks: dict[str, int] = {}

    def checkpoint(self, name: str) -> int | None:
        return self._blocks.get(name)

    def set_checkpoint(self, name: str, block: int) -> None:
        self._blocks[name] = block

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    # no block hashes: the explorer's index appends events, so it does not rescan after a
    # reorg (a restarted explorer reads the chain as it is)
    def scanned_blocks(self, name: str) -> dict[int, str]:
        return {}

    def set_scanned_block(self, name: str, block: int, block_hash: str, keep: int) -> None:
        pass

    def drop_scanned_blocks(self, name: str, above: int) -> None:
        pass


class ChainIndex:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._checkpoints = MemoryCheckpoints()
        self._scanner = deployment.scanner(self._checkpoints, "explorer")
        self._lock = threading.Lock()
        self.events: list[ChainEvent] = []
        self._by_job: dict[int, list[ChainEvent]] = defaultdict(list)
        self._by_claim: dict[int, list[ChainEvent]] = defaultdict(list)
        self._by_game: dict[int, list[ChainEvent]] = defaultdict(list)
        self._by_tx: dict[str, list[ChainEvent]] = defaultdict(list)

    @property
    def scanned_to(self) -> int | None:
        """The last block read, None before the first refresh."""
        return self._checkpoints.checkpoint("explorer")

    def refresh(self) -> int:
        """Read the events of the blocks not read yet; returns how many were new."""
        with self._lock:
            return self._scanner.scan(self._add)

    def _add(self, event: ChainEvent) -> None:
        self.events.append(event)
        self._by_tx[event.tx_hash].append(event)
        args = event.args
        if event.contract == "game":
            self._by_game[int(args["gameId"])].append(event)
            return
        if event.contract != "market":
            return  # stake deposits and locks: read from StakeManager when needed
        # the market's events carry the ids they concern (0 where none, e.g. a withheld
        # output's ClaimRejected has no game)
        if int(args.get("jobId", 0)):
            self._by_job[int(args["jobId"])].append(event)
        if int(args.get("claimId", 0)):
            self._by_claim[int(args["claimId"])].append(event)
        if int(args.get("gameId", 0)):
            # the market's events of a game (Challenged, its settlement) sit with the game's
            self._by_game[int(args["gameId"])].append(event)

    # ---- lookups (each in chain order) ----

    def of_job(self, job_id: int, name: str | None = None) -> list[ChainEvent]:
        return _named(self._by_job.get(job_id, []), name)

    def of_claim(self, claim_id: int, name: str | None = None) -> list[ChainEvent]:
        return _named(self._by_claim.get(claim_id, []), name)

    def of_game(self, game_id: int, name: str | None = None) -> list[ChainEvent]:
        return _named(self._by_game.get(game_id, []), name)

    def of_tx(self, tx_hash: str, name: str | None = None) -> list[ChainEvent]:
        return _named(self._by_tx.get(tx_hash, []), name)

    def claims_of_job(self, job_id: int) -> list[int]:
        """The job's claims, oldest first (one JobClaimed event each)."""
        return [int(e.args["claimId"]) for e in self.of_job(job_id, "JobClaimed")]


def _named(events: list[ChainEvent], name: str | None) -> list[ChainEvent]:
    return list(events) if name is None else [e for e in events if e.name == name]
