"""The embedded local store: content addressing, pins and named errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from node.storage import ContentMismatch, ContentUnavailable, InvalidCid, open_store
from node.storage.cid import CHUNK_SIZE, content_cid, raw_cid
from node.storage.local import LocalStore


def test_round_trip_returns_the_cidv1_raw_of_the_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"hello poc")
    parsed = CID.decode(cid)
    assert parsed.version == 1 and parsed.codec.name == "raw"
    assert parsed.digest == bytes(parsed.hashfun.wrap(hashlib.sha256(b"hello poc").digest()))
    assert cid == raw_cid(b"hello poc")
    assert store.get(cid) == b"hello poc"
    assert store.has(cid) and store.is_pinned(cid)


def test_content_above_one_chunk_gets_a_dag_pb_root(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE // 256 + 1)
    cid = LocalStore(tmp_path).put(data)
    assert CID.decode(cid).codec.name == "dag-pb"
    assert cid == content_cid(data)


def test_base58_spelling_of_a_cid_finds_the_same_item(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"x")
    assert store.get(str(CID.decode(cid).set(base="base58btc"))) == b"x"


def test_missing_cid_is_content_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ContentUnavailable):
        LocalStore(tmp_path).get(raw_cid(b"never stored"))


def test_garbage_is_invalid_cid(tmp_path: Path) -> None:
    with pytest.raises(InvalidCid):
        LocalStore(tmp_path).get("not-a-cid")


def test_tampered_item_is_detected(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"original")
    (tmp_path / "objects" / cid).write_bytes(b"tampered")
    with pytest.raises(ContentMismatch):
        store.get(cid)


def test_pinning_an_absent_cid_fails(tmp_path: Path) -> None:
    with pytest.raises(ContentUnavailable):
        LocalStore(tmp_path).pin(raw_cid(b"absent"))


def test_put_file_equals_put_of_its_bytes(tmp_path: Path) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(b"file content")
    store = open_store("local", local_dir=tmp_path / "store")
    assert store.put_file(source) == store.put(b"file content")


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_round_trip(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(Path(root))
        assert store.get(store.put(data)) == data


def test_json_documents_have_stable_cids_and_locators(tmp_path: Path) -> None:
    from node.storage.documents import get_json, locator_cid, put_json, to_locator

    store = LocalStore(tmp_path)
    cid = put_json(store, {"b": 1, "a": [1, 2]})
    assert cid == put_json(store, {"a": [1, 2], "b": 1})
    assert get_json(store, locator_cid(to_locator(cid))) == {"a": [1, 2], "b": 1}
    with pytest.raises(InvalidCid):
        locator_cid("ipfs://nonsense")
