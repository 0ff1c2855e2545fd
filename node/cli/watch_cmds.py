"""`poc watch run|status|withdraw`: the watchtower (click only; node.roles.watchtower)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli import role_options as opts


def _tower(config_file: Path | None, **policy: Any) -> Any:
    return opts.build_daemon(config_file, "watchtower", **policy)


@click.group("watch", cls=opts.PocGroup)
def watch() -> None:
    """Re-execute submitted results, challenge wrong ones, win the games, collect bounties."""


@watch.command("run", short_help="Run the watchtower daemon.")
@click.option(
    "--sample",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="probability of re-executing a result",
)
@click.option(
    "--min-value",
    default="0",
    show_default=True,
    help="re-execute only jobs whose reward + stake is at least this",
)
@opts.daemon_run("watchtower")
def run_cmd(sample: float, min_value: str) -> dict[str, Any]:
    """Run the watchtower daemon (stop with Ctrl-C or SIGTERM; a restart resumes)."""
    from node.roles.amounts import parse_amount

    return {"sample_probability": sample, "min_value": parse_amount(min_value)}


@watch.command("status")
@opts.config_option
@opts.json_option
def status_cmd(config_file: Path | None, as_json: bool) -> None:
    """Credits and the claims this watchtower has checked."""
    st = _tower(config_file).status()
    lines = [f"watchtower {st['address']}, credits {st['credits']} wei"]
    lines += [f"  claim {c}: {d['stage']} {d.get('reason', '')}" for c, d in st["claims"].items()]
    opts.emit(st, as_json, lines)


opts.add_withdraw_command(
    watch,
    "bonds and bounties credited to this watchtower",
    lambda config_file: _tower(config_file).withdraw(),
)
