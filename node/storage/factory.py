"""Choose a content store backend by name."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from node.storage.base import DEFAULT_TIMEOUT, ContentStore
from node.storage.errors import StorageError

Backend = Literal["ipfs", "local"]


def open_store(
    backend: str,
    *,
    ipfs_api: str | None = None,
    local_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ContentStore:
    if backend == "ipfs":
        if not ipfs_api:
            raise StorageError("storage backend 'ipfs' needs an IPFS API address")
        from node.storage.ipfs import IpfsStore

        return IpfsStore(ipfs_api, timeout=timeout)
    if backend == "local":
        if local_dir is None:
            raise StorageError("storage backend 'local' needs a directory")
        from node.storage.local import LocalStore

        return LocalStore(local_dir)
    raise StorageError(f"unknown storage backend {backend!r} (choose 'ipfs' or 'local')")
