"""storage layer of the poc node: content addressed by CID, on IPFS or in a local directory,
with the same CID for the same bytes in both."""

from node.storage.base import ContentStore
from node.storage.cid import content_cid, raw_cid
from node.storage.errors import (
    ContentMismatch,
    ContentUnavailable,
    InvalidCid,
    StorageError,
    StorageUnreachable,
)
from node.storage.factory import open_store

__all__ = [
    "ContentMismatch",
    "ContentStore",
    "ContentUnavailable",
    "InvalidCid",
    "StorageError",
    "StorageUnreachable",
    "content_cid",
    "open_store",
    "raw_cid",
]
