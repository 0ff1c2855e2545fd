"""JSON documents and on-chain locators over any ContentStore.

Documents are stored as canonical JSON (sorted keys, no spaces, UTF-8), so the same content
always has the same CID. A locator is the string the contracts keep (`specLocator`,
`outputLocator`): `ipfs://<cid>`; both backends give the same CID, so a locator written with
the local store resolves on IPFS once the content is there."""

from __future__ import annotations

import json
from typing import Any

from node.storage.base import ContentStore
from node.storage.cid import parse_cid
from node.storage.errors import InvalidCid, StorageError

LOCATOR_SCHEME = "ipfs://"


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def put_json(store: ContentStore, document: Any) -> str:
    return store.put(canonical_json(document))


def get_json(store: ContentStore, cid: str, timeout: float | None = None) -> Any:
    data = store.get(cid, timeout)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{cid} is not a JSON document: {exc}") from None


def to_locator(cid: str) -> str:
    parse_cid(cid)
    return LOCATOR_SCHEME + cid


def locator_cid(locator: str) -> str:
    """The CID inside `ipfs://<cid>` (a bare CID is accepted too)."""
    cid = locator[len(LOCATOR_SCHEME) :] if locator.startswith(LOCATOR_SCHEME) else locator
    cid = cid.split("/", 1)[0]
    if not cid:
        raise InvalidCid(f"empty locator {locator!r}")
    parse_cid(cid)
    return cid
