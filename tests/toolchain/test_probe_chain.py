"""The compiler, the chain and the protocol hash agree: run on the embedded chain and on anvil."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st


def test_sha256_precompile_matches_hashlib(accounts, project) -> None:
    probe = accounts[0].deploy(project.Sha256Probe)
    for data in (b"", b"poc" * 11, bytes(range(256))):
        assert bytes(probe.sha(data)) == hashlib.sha256(data).digest()


@settings(max_examples=20, deadline=None)
@given(data=st.binary(max_size=300))
def test_sha256_precompile_matches_hashlib_on_random_input(accounts, project, data: bytes) -> None:
    probe = accounts[0].deploy(project.Sha256Probe)
    assert bytes(probe.sha(data)) == hashlib.sha256(data).digest()
