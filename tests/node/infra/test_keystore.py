"""Keystores: create, import, unlock; passwords from env or file and never in messages."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.chain import keystore
from node.chain.keystore import (
    KeystoreExists,
    KeystoreNotFound,
    PasswordMissing,
    WrongPassword,
)

KEY = "0x" + "11" * 32
SECRET = "correct horse battery staple"


def test_imported_key_unlocks_with_its_password(tmp_path: Path) -> None:
    path = tmp_path / "provider.json"
    address = keystore.import_key(path, KEY, SECRET, light=True)
    account = keystore.load(path, SECRET)
    assert account.address == address == keystore.keystore_address(path)
    assert bytes(account.key).hex() == KEY[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_created_account_is_random_and_loadable(tmp_path: Path) -> None:
    a = keystore.create(tmp_path / "a.json", SECRET, light=True)
    b = keystore.create(tmp_path / "b.json", SECRET, light=True)
    assert a != b
    assert keystore.load(tmp_path / "a.json", SECRET).address == a


def test_wrong_password_is_named_and_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    keystore.import_key(path, KEY, SECRET, light=True)
    with pytest.raises(WrongPassword) as info:
        keystore.load(path, "guess")
    assert "guess" not in str(info.value) and SECRET not in str(info.value)


def test_existing_keystore_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    keystore.import_key(path, KEY, SECRET, light=True)
    with pytest.raises(KeystoreExists):
        keystore.create(path, SECRET, light=True)


def test_missing_keystore_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeystoreNotFound):
        keystore.load(tmp_path / "nope.json", SECRET)


def test_password_comes_from_env_first_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "pw"
    file.write_text("from-file\n")
    monkeypatch.setenv("POC_TEST_PW", "from-env")
    assert keystore.read_password("POC_TEST_PW", file) == "from-env"
    monkeypatch.delenv("POC_TEST_PW")
    assert keystore.read_password("POC_TEST_PW", file) == "from-file"


def test_no_password_source_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POC_TEST_PW", raising=False)
    with pytest.raises(PasswordMissing, match="POC_TEST_PW"):
        keystore.read_password("POC_TEST_PW", None)
