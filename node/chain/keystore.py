"""Encrypted account keystores (the Web3 Secret Storage format that geth, ape and foundry read).

Passwords come from an environment variable or a file, never from the command line (which
other users can read in `ps`), and are never logged or put into error messages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.errors import PocError

# Standard scrypt cost (n = 2^18): about a second to unlock. `light` (n = 2^14) is for
# throw-away development keys and tests, like geth's --lightkdf.
_STANDARD_SCRYPT_N = 1 << 18
_LIGHT_SCRYPT_N = 1 << 14


class KeystoreError(PocError):
    """A keystore cannot be created, read or unlocked."""

    exit_code = 4


class KeystoreNotFound(KeystoreError):
    pass


class KeystoreExists(KeystoreError):
    pass


class WrongPassword(KeystoreError):
    pass


class PasswordMissing(KeystoreError):
    pass


def read_password(env_var: str | None = None, password_file: Path | None = None) -> str:
    """The keystore password from `env_var` (checked first) or the first line of a file."""
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    if password_file is not None:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            raise PasswordMissing(
                f"cannot read password file {password_file}: {exc.strerror}"
            ) from None
        # Only the line ending an editor adds is stripped; other whitespace is password.
        return text.splitlines()[0] if text else ""
    where = f"environment variable {env_var}" if env_var else "no environment variable"
    raise PasswordMissing(
        f"no keystore password: {where} is unset and no password file is configured"
    )


def _write_keystore(path: Path, keyfile: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never overwrite a key; 0600: only the owner reads the encrypted key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreExists(f"keystore {path} already exists; refusing to overwrite") from None
    with os.fdopen(fd, "w") as out:
        json.dump(keyfile, out)


def import_key(path: Path, private_key: str | bytes, password: str, light: bool = False) -> str:
    """Encrypt `private_key` into a new keystore file; returns the checksummed address."""
    account: LocalAccount = Account.from_key(private_key)
    keyfile = Account.encrypt(
        account.key,
        password,
        kdf="scrypt",
        iterations=_LIGHT_SCRYPT_N if light else _STANDARD_SCRYPT_N,
    )
    _write_keystore(Path(path), keyfile)
    return str(account.address)


def create(path: Path, password: str, light: bool = False) -> str:
    """A new random account in a new keystore file; returns its address."""
    account: LocalAccount = Account.create()
    return import_key(path, account.key, password, light=light)


def keystore_address(path: Path) -> str:
    """The address recorded in a keystore, readable without the password."""
    from eth_utils import to_checksum_address

    keyfile = _read(Path(path))
    if "address" not in keyfile:
        raise KeystoreError(f"keystore {path} does not record its address")
    return str(to_checksum_address(keyfile["address"]))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreNotFound(f"no keystore at {path}") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"keystore {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
        raise KeystoreError(f"{path} is not an encrypted keystore")
    return data


def load(path: Path, password: str) -> LocalAccount:
    """Unlock a keystore; WrongPassword when the password does not decrypt it."""
    keyfile = _read(Path(path))
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError:
        # eth-account says "MAC mismatch"; the cause an operator can act on is the password.
        raise WrongPassword(f"wrong password for keystore {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account
