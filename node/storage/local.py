"""An embedded content-addressed store: one file per content item in a directory.

Whole items are stored (not blocks) under their CID, which is computed exactly as js-ipfs
would (node.storage.cid), so a job posted with the local store has the CID it would have on
IPFS. Writes go through a temp file and an atomic rename, so a crash never leaves a partial
item under a valid name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from node.storage.cid import content_cid, parse_cid
from node.storage.errors import ContentMismatch, ContentUnavailable


def canonical_cid(cid: str) -> str:
    """The CIDv1 base32 spelling of any CID string (base58 `zb2...` included)."""
    return str(parse_cid(cid).set(base="base32"))


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "objects"
        self._pins = root / "pins"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._pins.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: str) -> Path:
        return self._objects / canonical_cid(cid)

    def put(self, data: bytes) -> str:
        cid = content_cid(data)
        target = self._objects / cid
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=self._objects, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self.pin(cid)
        return cid

    def put_file(self, path: Path) -> str:
        return self.put(Path(path).read_bytes())

    def get(self, cid: str, timeout: float | None = None) -> bytes:
        # Local reads never wait, so the timeout does not apply.
        path = self._path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentUnavailable(f"{cid} is not in the local store {self.root}") from None
        if content_cid(data) != path.name:
            raise ContentMismatch(f"local store item {path} does not hash to its CID")
        return data

    def pin(self, cid: str) -> None:
        name = canonical_cid(cid)
        if not (self._objects / name).exists():
            raise ContentUnavailable(f"cannot pin {cid}: not in the local store {self.root}")
        (self._pins / name).touch()

    def is_pinned(self, cid: str) -> bool:
        return (self._pins / canonical_cid(cid)).exists()

    def has(self, cid: str) -> bool:
        return self._path(cid).exists()
