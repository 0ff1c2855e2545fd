"""Event scanner with a persisted checkpoint and a confirmation depth.

Each scan reads logs from the block after the checkpoint up to `head - confirmations`, in
bounded ranges; the handler's writes for a range and the new checkpoint commit in one SQLite
transaction, so after a crash a range is either fully handled or handled again (handlers
upsert, so handling twice is harmless).

Reorganisations (issue 13): the scanner keeps the hashes of the last blocks it handled. Before
each scan it compares the checkpoint's stored hash with the chain's block at that height; when
the chain no longer has it (a reorg replaced it, a rollback or a node restarted from an older
state removed it), the checkpoint is moved back to the newest stored block the chain still has,
the events after it are read again, and `on_reorg` is told the first block that was undone (the
daemons then re-read the state of what they track). A reorg deeper than the kept hashes
(`REORG_MEMORY` ranges) rescans from the oldest one. `confirmations` keeps scans that many
blocks behind the head, so that a shallow reorg never reaches what was handled at all."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, Web3RPCError
from web3.types import FilterParams, LogReceipt

from node.chain.rpc import DEFAULT_RETRY, RetryPolicy, with_retries

log = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    def checkpoint(self, name: str) -> int | None: ...

    def set_checkpoint(self, name: str, block: int) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def scanned_blocks(self, name: str) -> dict[int, str]: ...

    def set_scanned_block(self, name: str, block: int, block_hash: str, keep: int) -> None: ...

    def drop_scanned_blocks(self, name: str, above: int) -> None: ...


@dataclass(frozen=True)
class ChainEvent:
    contract: str  # the name the scanner was given for the emitting contract
    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


REORG_MEMORY = 64  # scanned blocks whose hashes are kept to find where a reorg forked
_TOO_LARGE_HINTS = ("range", "too many", "limit", "exceed", "10000 results", "query returned more")


def _range_too_large(exc: Exception) -> bool:
    message = str(exc).lower()
    return any(hint in message for hint in _TOO_LARGE_HINTS)


class EventScanner:
    def __init__(
        self,
        w3: Web3,
        contracts: dict[str, Contract],
        store: CheckpointStore,
        name: str = "events",
        start_block: int = 0,
        confirmations: int = 0,
        batch_blocks: int = 2000,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_reorg: Callable[[int], None] | None = None,
    ) -> None:
        self.on_reorg = on_reorg
        self.reorgs = 0  # reorgs seen by this scanner
        self.w3 = w3
        self.store = store
        self.name = name
        self.start_block = start_block
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.retry = retry
        self._addresses: list[ChecksumAddress] = [c.address for c in contracts.values()]
        # topic0 -> (contract name, contract, event name), per emitting address.
        self._events: dict[tuple[str, bytes], tuple[str, Contract, str]] = {}
        for label, contract in contracts.items():
            for abi_entry in contract.abi:
                entry: dict[str, Any] = dict(abi_entry)
                if entry.get("type") == "event" and not entry.get("anonymous", False):
                    topic = bytes(event_abi_to_log_topic(entry))  # type: ignore[arg-type]
                    self._events[(contract.address.lower(), topic)] = (
                        label,
                        contract,
                        str(entry["name"]),
                    )

    def _rpc(self, what: str, fn: Callable[[], Any]) -> Any:
        return with_retries(
            what, fn, self.retry, str(getattr(self.w3.provider, "endpoint_uri", ""))
        )

    def safe_head(self) -> int:
        head = int(self._rpc("eth_blockNumber", lambda: self.w3.eth.block_number))
        return head - self.confirmations

    def next_block(self) -> int:
        last = self.store.checkpoint(self.name)
        return self.start_block if last is None else last + 1

    def _ranges(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        while first <= last:
            end = min(first + self.batch_blocks - 1, last)
            yield first, end
            first = end + 1

    def fetch(self, first: int, last: int) -> list[ChainEvent]:
        """Decoded events of the scanned contracts in [first, last], in chain order."""
        logs = self._logs(first, last)
        events = [e for e in (self._decode(log) for log in logs) if e is not None]
        return sorted(events, key=lambda e: e.position)

    def _logs(self, first: int, last: int) -> list[LogReceipt]:
        """eth_getLogs over [first, last]; a range the node refuses as too large (public RPCs
        cap blocks or results per query) is split in halves, recursively."""
        params: FilterParams = {"fromBlock": first, "toBlock": last, "address": self._addresses}
        try:
            logs: list[LogReceipt] = self._rpc("eth_getLogs", lambda: self.w3.eth.get_logs(params))
            return logs
        except Web3RPCError as exc:
            if first >= last or not _range_too_large(exc):
                raise
        middle = (first + last) // 2
        return self._logs(first, middle) + self._logs(middle + 1, last)

    def _decode(self, log: LogReceipt) -> ChainEvent | None:
        if not log["topics"]:
            return None
        known = self._events.get((str(log["address"]).lower(), bytes(log["topics"][0])))
        if known is None:
            return None  # an event of an ABI we were not given
        label, contract, event_name = known
        decoded = contract.events[event_name]().process_log(log)
        return ChainEvent(
            contract=label,
            name=event_name,
            args=dict(decoded["args"]),
            address=str(log["address"]),
            block_number=int(log["blockNumber"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            log_index=int(log["logIndex"]),
        )

    def _block_hash(self, number: int) -> str | None:
        """The chain's hash of block `number`, None when it has no such block."""
        try:
            block = self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block(number))
        except BlockNotFound:
            return None
        if block is None or block.get("hash") is None:
            return None
        return "0x" + bytes(block["hash"]).hex()

    def _rewind_if_reorged(self) -> None:
        """Move the checkpoint back below a reorg that undid scanned blocks (see above)."""
        last = self.store.checkpoint(self.name)
        if last is None:
            return
        known = self.store.scanned_blocks(self.name)
        if last not in known or self._block_hash(last) == known[last]:
            return  # nothing to compare with (an older state folder), or still canonical
        below = sorted((b for b in known if b < last), reverse=True)
        fork = next((b for b in below if self._block_hash(b) == known[b]), None)
        back_to = fork if fork is not None else max(min(known) - 1, self.start_block - 1)
        with self.store.transaction():
            self.store.drop_scanned_blocks(self.name, back_to)
            self.store.set_checkpoint(self.name, back_to)
        self.reorgs += 1
        log.warning(
            "scanner %s: block %d is no longer on the chain (reorg or rollback); "
            "scanning again from block %d",
            self.name,
            last,
            back_to + 1,
        )
        if self.on_reorg is not None:
            self.on_reorg(back_to + 1)

    def scan(self, handle: Callable[[ChainEvent], None], max_blocks: int | None = None) -> int:
        """Handle every new confirmed event once; returns how many were handled. The
        checkpoint advances even over ranges without events."""
        self._rewind_if_reorged()
        first = self.next_block()
        last = self.safe_head()
        if max_blocks is not None:
            last = min(last, first + max_blocks - 1)
        handled = 0
        for start, end in self._ranges(first, last):
            # the hash first: a reorg between the two reads then shows at the next scan
            end_hash = self._block_hash(end)
            events = self.fetch(start, end)
            with self.store.transaction():
                for event in events:
                    handle(event)
                self.store.set_checkpoint(self.name, end)
                if end_hash is not None:
                    self.store.set_scanned_block(self.name, end, end_hash, REORG_MEMORY)
            handled += len(events)
        return handled
