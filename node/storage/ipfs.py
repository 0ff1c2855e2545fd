"""Content store over an IPFS node's Kubo RPC API (js-ipfs or Kubo) via ipfshttpclient.

Every call carries a timeout: a CID the node does not hold makes cat/pin/stat wait forever
(js-ipfs waits even in offline mode). Client errors are mapped to named StorageErrors."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_errors

from node.storage.base import DEFAULT_TIMEOUT
from node.storage.cid import content_cid, parse_cid
from node.storage.errors import (
    ContentMismatch,
    ContentUnavailable,
    InvalidCid,
    StorageError,
    StorageUnreachable,
)
from node.storage.local import canonical_cid

T = TypeVar("T")
# A block the node holds answers within milliseconds; a missing one never answers.
HAS_TIMEOUT = 1.0
_ADD_OPTIONS: dict[str, Any] = {"raw_leaves": True, "cid_version": 1, "pin": True}


class IpfsStore:
    def __init__(self, api_addr: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.api_addr = api_addr
        self.timeout = timeout
        with warnings.catch_warnings():
            # ipfshttpclient warns that js-ipfs's version is outside its tested range.
            warnings.simplefilter("ignore")
            self._client = ipfshttpclient.Client(api_addr, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _errors(self, what: str, cid: str | None = None) -> Iterator[None]:
        try:
            yield
        except ipfs_errors.ConnectionError as exc:
            raise StorageUnreachable(
                f"IPFS API at {self.api_addr} is unreachable ({what})"
            ) from exc
        except ipfs_errors.TimeoutError as exc:
            raise ContentUnavailable(
                f"{cid or 'content'} not available from IPFS at {self.api_addr} "
                f"within the timeout ({what})"
            ) from exc
        except ipfs_errors.ErrorResponse as exc:
            if cid is not None and "invalid" in str(exc).lower():
                raise InvalidCid(f"IPFS rejected {cid!r}: {exc}") from exc
            raise StorageError(f"IPFS {what} failed: {exc}") from exc
        except ipfs_errors.Error as exc:
            raise StorageError(f"IPFS {what} failed: {exc}") from exc

    def _call(self, what: str, cid: str | None, fn: Callable[[], T]) -> T:
        with self._errors(what, cid), warnings.catch_warnings():
            # urllib3 warns on every request ipfshttpclient makes ('strict' parameter).
            warnings.simplefilter("ignore", FutureWarning)
            return fn()
        raise AssertionError("unreachable")  # for mypy: _errors always re-raises

    def put(self, data: bytes) -> str:
        response = self._call(
            "add",
            None,
            lambda: self._client.add(io.BytesIO(data), timeout=self.timeout, **_ADD_OPTIONS),
        )
        cid = canonical_cid(response["Hash"])
        expected = content_cid(data)
        if cid != expected:
            # Only possible with a node whose chunker or layout differs from js-ipfs defaults.
            raise ContentMismatch(f"IPFS returned {cid} for content whose CID is {expected}")
        return cid

    def put_file(self, path: Path) -> str:
        response = self._call(
            "add",
            None,
            lambda: self._client.add(str(path), timeout=self.timeout, **_ADD_OPTIONS),
        )
        return canonical_cid(response["Hash"])

    def get(self, cid: str, timeout: float | None = None) -> bytes:
        parsed = parse_cid(cid)
        wait = self.timeout if timeout is None else timeout
        data: bytes = self._call("cat", cid, lambda: self._client.cat(cid, timeout=wait))
        # A raw CID names exactly these bytes; check rather than trust the node.
        if parsed.codec.name == "raw" and content_cid(data) != canonical_cid(cid):
            raise ContentMismatch(f"IPFS returned bytes that do not hash to {cid}")
        return data

    def pin(self, cid: str) -> None:
        parse_cid(cid)
        self._call("pin", cid, lambda: self._client.pin.add(cid, timeout=self.timeout))

    def has(self, cid: str) -> bool:
        parse_cid(cid)
        try:
            self._call("block stat", cid, lambda: self._client.block.stat(cid, timeout=HAS_TIMEOUT))
        except ContentUnavailable:
            return False
        return True
