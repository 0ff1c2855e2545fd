"""A job package travels through the real IPFS node: uploaded by the poster, downloaded and
checked by the provider, and it has the same locator as with the local store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from node.devnet.ipfs import IpfsNode
from node.storage import ContentUnavailable
from node.storage.cid import content_cid
from node.storage.ipfs import IpfsStore
from node.storage.local import LocalStore

pytestmark = pytest.mark.integration


def test_package_round_trip_over_ipfs_matches_the_local_store(
    ipfs_node: IpfsNode, tmp_path: Path
) -> None:
    package_module = pytest.importorskip("node.roles.package")
    examples = pytest.importorskip("node.roles.examples")
    spec, data = examples.tiny_mlp(seed=3)
    package = package_module.JobPackage(spec, np.ascontiguousarray(data, dtype=np.int8))
    ipfs = IpfsStore(ipfs_node.api_addr, timeout=10)
    try:
        locator = package.upload(ipfs, tmp_path / "poster")
        assert locator == package.upload(LocalStore(tmp_path / "local"), tmp_path / "poster2")
        fetched = package_module.JobPackage.download(ipfs, locator, tmp_path / "provider")
        assert fetched.commitments() == package.commitments()
        assert np.array_equal(fetched.data, package.data)
    finally:
        ipfs.close()


def test_a_package_whose_items_are_missing_fails_within_the_timeout(
    ipfs_node: IpfsNode, tmp_path: Path
) -> None:
    package_module = pytest.importorskip("node.roles.package")
    ipfs = IpfsStore(ipfs_node.api_addr, timeout=10)
    try:
        absent = content_cid(b"never uploaded")
        index = {
            "format": package_module.FORMAT,
            "version": package_module.VERSION,
            "manifest": absent,
            "tensors": absent,
            "input": absent,
            "input_shape": [1, 32],
        }
        locator = ipfs.put(json.dumps(index).encode())
        with pytest.raises(ContentUnavailable):
            package_module.JobPackage.download(ipfs, locator, tmp_path / "p", timeout=1.0)
    finally:
        ipfs.close()
