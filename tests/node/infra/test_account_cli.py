"""`poc account`: keystores from the command line, passwords from env or file, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import keystore

KEY = "0x" + "22" * 32


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "node.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import os

    values = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    return values


def test_import_then_check_with_password_file(tmp_path: Path, env: dict[str, str]) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    path = tmp_path / "k.json"
    code, out = _run(
        ["account", "import", str(path), "--password-file", str(pw)],
        {**env, "POC_PRIVATE_KEY": KEY},
    )
    assert code == 0, out
    address = out.strip().splitlines()[-1]
    assert keystore.load(path, "s3cret").address == address
    code, out = _run(["account", "check", str(path), "--password-file", str(pw)], env)
    assert code == 0 and address in out
    code, out = _run(["account", "address", str(path)], env)
    assert code == 0 and address in out


def test_wrong_password_exits_with_the_keystore_code(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "k.json"
    keystore.import_key(path, KEY, "right", light=True)
    code, out = _run(["account", "check", str(path)], {**env, "POC_PASSWORD": "wrong"})
    assert code == keystore.KeystoreError.exit_code
    assert "wrong password" in out and "wrong\n" not in out.replace("wrong password", "")


def test_missing_password_without_a_terminal_is_a_clear_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    code, out = _run(["account", "new", str(tmp_path / "k.json")], env)
    assert code == keystore.KeystoreError.exit_code and "POC_PASSWORD" in out
