import hashlib

def test_sha256_precompile_matches_hashlib(accounts, project):
    probe = accounts[0].deploy(project.Probe)
    data = b"poc" * 11
    assert bytes(probe.sha(data)) == hashlib.sha256(data).digest()
