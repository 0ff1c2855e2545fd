"""`poc account`: encrypted keystores for the provider, challenger and poster (click only)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from node.cli.role_options import PocGroup

_keystore = click.argument("keystore", type=click.Path(path_type=Path, dir_okay=False))
_password_env = click.option(
    "--password-env",
    default="POC_PASSWORD",
    show_default=True,
    help="Environment variable holding the password.",
)
_password_file = click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File whose first line is the password.",
)


def _password(env: str, file: Path | None, confirm: bool) -> str:
    from node.chain.keystore import PasswordMissing, read_password

    try:
        return read_password(env, file)
    except PasswordMissing:
        if not os.isatty(0):
            raise
    # Interactive fallback: hidden prompt, never an argument (arguments show in `ps`).
    value: str = click.prompt("keystore password", hide_input=True, confirmation_prompt=confirm)
    return value


@click.group("account", cls=PocGroup)
def account() -> None:
    """Create, import and inspect encrypted keystores."""


@account.command("new")
@_keystore
@_password_env
@_password_file
def new_cmd(keystore: Path, password_env: str, password_file: Path | None) -> None:
    """Create a new random account in KEYSTORE."""
    from node.chain import keystore as ks

    address = ks.create(keystore, _password(password_env, password_file, confirm=True))
    click.echo(address)


@account.command("import")
@_keystore
@_password_env
@_password_file
@click.option(
    "--key-env",
    default="POC_PRIVATE_KEY",
    show_default=True,
    help="Environment variable holding the private key to import (hex).",
)
def import_cmd(keystore: Path, password_env: str, password_file: Path | None, key_env: str) -> None:
    """Encrypt an existing private key (read from the environment or a hidden prompt)."""
    from node.chain import keystore as ks

    key = os.environ.get(key_env) or click.prompt("private key (hex)", hide_input=True)
    address = ks.import_key(keystore, key, _password(password_env, password_file, confirm=True))
    click.echo(address)


@account.command("address")
@_keystore
def address_cmd(keystore: Path) -> None:
    """Print the address of KEYSTORE (no password needed)."""
    from node.chain import keystore as ks

    click.echo(ks.keystore_address(keystore))


@account.command("check")
@_keystore
@_password_env
@_password_file
def check_cmd(keystore: Path, password_env: str, password_file: Path | None) -> None:
    """Unlock KEYSTORE to check the password; prints the address."""
    from node.chain import keystore as ks

    click.echo(ks.load(keystore, _password(password_env, password_file, confirm=False)).address)
