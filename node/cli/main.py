"""Entry point of the `poc` command. Each command group lives in its own module and is
registered here, so that helpers of the CLI stay independent of each other."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from node import __version__
from node.cli.role_options import PocGroup
from node.errors import PocError


@click.group(cls=PocGroup)
@click.version_option(__version__, prog_name="poc")
def cli() -> None:
    """poc: optimistic Proof of Compute."""


def _register() -> None:
    # Imported lazily so that `poc --help` does not import torch or web3 when not needed.
    import importlib

    for module, name in _COMMANDS:
        cli.add_command(getattr(importlib.import_module(module), name))


# (module, click object) pairs; add a line per command group.
_COMMANDS: list[tuple[str, str]] = [
    ("node.cli.compute_cmds", "compile_cmd"),
    ("node.cli.compute_cmds", "train_weights_cmd"),
    ("node.cli.compute_cmds", "run_cmd"),
    ("node.cli.devnet_cmds", "devnet"),
    ("node.cli.job_cmds", "job"),
    ("node.cli.provider_cmds", "provider"),
    ("node.cli.watch_cmds", "watch"),
    ("node.cli.account_cmds", "account"),
    ("node.cli.deploy_cmds", "deploy_cmd"),
    ("node.explorer.command", "explorer_cmd"),
]


def main(role_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Run the CLI. `role_options` are extra keyword arguments for the provider and watchtower
    objects the commands build (an embedding program's seam, e.g. a custom trace factory).
    Exit codes: docs/operator.md section 7 (a PocError's own code, 2 for usage, 130 for
    Ctrl-C, 1 for anything not raised on purpose)."""
    _register()
    try:
        cli(standalone_mode=False, obj={"role_options": role_options or {}})
    except PocError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # not raised on purpose: a bug; the traceback is for its report
        import traceback

        traceback.print_exc()
        click.echo(f"error: unexpected {type(exc).__name__} (a bug: please report it)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
