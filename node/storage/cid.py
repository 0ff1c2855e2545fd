"""Content identifiers, computed locally exactly as js-ipfs computes them for
`add(raw_leaves=True, cid_version=1)` with its default importer settings:

- content of at most one chunk (256 KiB): a CIDv1 `raw` block of the bytes themselves;
- larger content: a UnixFS file, a balanced DAG of dag-pb nodes with at most 174 links
  each, over raw leaves of 256 KiB; the root is a CIDv1 `dag-pb` (sha2-256).

So the local store and the IPFS store give the same CID for the same bytes (checked against
a real node by tests/integration/test_storage_ipfs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from multiformats import CID, multihash

from node.storage.errors import InvalidCid

CHUNK_SIZE = 262_144  # js-ipfs fixed-size chunker default
MAX_CHILDREN = 174  # js-ipfs balanced layout default
_UNIXFS_FILE = 2


def raw_cid(data: bytes) -> str:
    """CIDv1, codec raw, sha2-256, base32 (the `bafkrei...` form)."""
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def parse_cid(text: str) -> CID:
    try:
        return CID.decode(text)
    except Exception as exc:  # multiformats raises several unrelated types
        raise InvalidCid(f"not a CID: {text!r}") from exc


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


@dataclass(frozen=True)
class Block:
    """One block of a DAG: its CID, encoded bytes, file bytes below it and total DAG size."""

    cid: CID
    data: bytes
    file_size: int
    dag_size: int  # the Tsize a parent link records: this block plus everything below


def _leaf(chunk: bytes) -> Block:
    cid = CID("base32", 1, "raw", multihash.digest(chunk, "sha2-256"))
    return Block(cid, chunk, len(chunk), len(chunk))


def _parent(children: list[Block]) -> Block:
    file_size = sum(child.file_size for child in children)
    unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, file_size)
    for child in children:
        unixfs += _field_varint(4, child.file_size)
    # dag-pb canonical form: every link (field 2) before the data (field 1).
    encoded = b"".join(
        _field_bytes(
            2,
            _field_bytes(1, bytes(child.cid))
            + _field_bytes(2, b"")
            + _field_varint(3, child.dag_size),
        )
        for child in children
    )
    encoded += _field_bytes(1, unixfs)
    cid = CID("base32", 1, "dag-pb", multihash.digest(encoded, "sha2-256"))
    return Block(cid, encoded, file_size, len(encoded) + sum(c.dag_size for c in children))


def _chunks(data: bytes) -> Iterator[bytes]:
    if not data:
        yield b""
        return
    for start in range(0, len(data), CHUNK_SIZE):
        yield data[start : start + CHUNK_SIZE]


def unixfs_blocks(data: bytes) -> list[Block]:
    """Every block of the file DAG for `data`, the root last."""
    level = [_leaf(chunk) for chunk in _chunks(data)]
    blocks = list(level)
    if len(level) == 1:
        return blocks  # one chunk: the raw leaf is the file
    while len(level) > 1:
        level = [_parent(level[i : i + MAX_CHILDREN]) for i in range(0, len(level), MAX_CHILDREN)]
        blocks.extend(level)
    return blocks


def content_cid(data: bytes) -> str:
    """The CID js-ipfs gives `data` under `add(raw_leaves=True, cid_version=1)`."""
    if len(data) <= CHUNK_SIZE:
        return raw_cid(data)
    return str(unixfs_blocks(data)[-1].cid)
