"""The IPFS store against a real offline js-ipfs node."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from multiformats import CID

from node.devnet.ipfs import IpfsNode, api_multiaddr
from node.devnet.ports import free_port
from node.storage import ContentUnavailable, InvalidCid, StorageUnreachable, open_store
from node.storage.cid import CHUNK_SIZE, content_cid
from node.storage.ipfs import IpfsStore
from node.storage.local import LocalStore

pytestmark = pytest.mark.integration


@pytest.fixture
def store(ipfs_node: IpfsNode) -> Iterator[IpfsStore]:
    client = IpfsStore(ipfs_node.api_addr, timeout=10)
    yield client
    client.close()


def test_add_pin_cat_round_trip_with_cidv1_raw(store: IpfsStore) -> None:
    data = os.urandom(1000)
    cid = store.put(data)
    parsed = CID.decode(cid)
    assert (parsed.version, parsed.codec.name, parsed.hashfun.name) == (1, "raw", "sha2-256")
    assert parsed.raw_digest == hashlib.sha256(data).digest()
    store.pin(cid)
    assert store.get(cid) == data
    assert store.has(cid)


def test_multi_chunk_cid_matches_the_local_store(store: IpfsStore, tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    cid = store.put(data)
    assert cid == content_cid(data) == LocalStore(tmp_path).put(data)
    assert store.get(cid) == data


def test_put_file_gives_the_content_cid(store: IpfsStore, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(CHUNK_SIZE + 1))
    assert store.put_file(path) == content_cid(path.read_bytes())


def test_unavailable_cid_fails_clearly_within_the_timeout(store: IpfsStore) -> None:
    missing = content_cid(os.urandom(32))
    started = time.monotonic()
    with pytest.raises(ContentUnavailable, match=missing):
        store.get(missing, timeout=1.5)
    assert time.monotonic() - started < 5
    assert not store.has(missing)


def test_invalid_cid_is_rejected(store: IpfsStore) -> None:
    with pytest.raises(InvalidCid):
        store.get("definitely-not-a-cid", timeout=1)


def test_unreachable_api_is_a_named_error() -> None:
    dead = open_store("ipfs", ipfs_api=api_multiaddr(free_port()), timeout=2)
    with pytest.raises(StorageUnreachable):
        dead.put(b"x")
