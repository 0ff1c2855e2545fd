"""The one interface every content store implements."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

DEFAULT_TIMEOUT = 30.0


@runtime_checkable
class ContentStore(Protocol):
    """Immutable bytes addressed by CID. CIDs are returned as CIDv1 base32 strings and are
    the same for the same bytes in every backend (see node.storage.cid)."""

    def put(self, data: bytes) -> str:
        """Store `data`, pin it, return its CID."""
        ...

    def put_file(self, path: Path) -> str:
        """Store a file's content, pin it, return its CID."""
        ...

    def get(self, cid: str, timeout: float | None = None) -> bytes:
        """The bytes of `cid`; ContentUnavailable when they cannot be had within `timeout`."""
        ...

    def pin(self, cid: str) -> None:
        """Keep `cid` from garbage collection; ContentUnavailable when it is not here."""
        ...

    def has(self, cid: str) -> bool:
        """Whether `cid` is available from this store without the network."""
        ...
