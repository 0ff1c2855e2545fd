"""Event scanner with a persisted checkpoint and a confirmation depth.

Each scan reads logs from the block after the checkpoint up to `head - confirmations`, in
bounded ranges; the handler's writes for a range and the new checkpoint commit in one SQLite
transaction, so after a crash a range is either fully handled or handled again (handlers
upsert, so handling twice is harmless). Reorganisations deeper than `confirmations` blocks are
not undone: choose the depth for the chain (0 on anvil, a few blocks on an L2, more on L1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError
from web3.types import FilterParams, LogReceipt

from node.chain.rpc import DEFAULT_RETRY, RetryPolicy, with_retries


class CheckpointStore(Protocol):
    def checkpoint(self, name: str) -> int | None: ...

    def set_checkpoint(self, name: str, block: int) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...


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
    ) -> None:
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

    def scan(self, handle: Callable[[ChainEvent], None], max_blocks: int | None = None) -> int:
        """Handle every new confirmed event once; returns how many were handled. The
        checkpoint advances even over ranges without events."""
        first = self.next_block()
        last = self.safe_head()
        if max_blocks is not None:
            last = min(last, first + max_blocks - 1)
        handled = 0
        for start, end in self._ranges(first, last):
            events = self.fetch(start, end)
            with self.store.transaction():
                for event in events:
                    handle(event)
                self.store.set_checkpoint(self.name, end)
            handled += len(events)
        return handled
