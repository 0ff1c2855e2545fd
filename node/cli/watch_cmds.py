"""`poc watch run|status|withdraw`: the watchtower (click only; node.roles.watchtower)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli import role_options as opts
from node.cli.reports import metrics_options


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
    type=opts.Amount(),
    default="0",
    show_default=True,
    help="re-execute only jobs whose reward + stake is at least this",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=1),
    default=3.0,
    show_default=True,
    help="on a replicated job, challenge only if the game clock is at least this many times "
    "the need (watchtower moves x block time)",
)
@opts.block_time_option("seconds per block (default: measured from recent blocks)")
@metrics_options
@opts.daemon_run("watchtower")
def run_cmd(
    sample: float,
    min_value: int,
    margin: float,
    block_time: float | None,
    metrics_port: int | None,
    metrics_addr: str,
) -> dict[str, Any]:
    """Run the watchtower daemon (stop with Ctrl-C or SIGTERM; a restart resumes). On a
    deployment with a replica market it also watches the agreement windows of replicated
    jobs."""
    return {
        "sample_probability": sample,
        "min_value": min_value,
        "margin": margin,
        "block_time": block_time,
        "metrics_port": metrics_port,
        "metrics_addr": metrics_addr,
    }


@watch.command("status", short_help="Earnings (life, per claim and game) and claims checked.")
@opts.config_option
@opts.json_option
def status_cmd(config_file: Path | None, as_json: bool) -> None:
    """What this watchtower earned, lost and spent on gas (over its life, per claim and game),
    and the claims (and seats of replicated jobs) it has checked. Amounts in ETH (wei with
    --json)."""
    from node.cli.reports import credits_line, record_lines, totals_lines

    tower = _tower(config_file)
    st = tower.status()
    st["earnings"] = tower.ledger.summary()
    lines = [f"watchtower {st['address']}", credits_line(st["credits"])]
    asset = tower.ctx.deployment.asset
    if not asset.is_ether:  # bonds, bounties and credits are in the market's token
        st["asset"] = {"address": asset.address, "symbol": asset.symbol, "decimals": asset.decimals}
        lines[1:] = [
            f"  asset       {asset.symbol} ({asset.address}, {asset.decimals} decimals)",
            f"  credits     {asset.show(st['credits'])}",
        ]
    lines += totals_lines(st["earnings"])
    lines += record_lines("claim", st["claims"], st["earnings"], "claims")
    for seat_id, rec in st["replica_seats"].items():  # replicated jobs' agreement windows
        reason = f" ({rec['reason']})" if rec.get("reason") else ""
        lines.append(f"  replica seat {seat_id} (job {rec['job_id']}): {rec['stage']}{reason}")
    opts.emit(st, as_json, lines)


@watch.command("withdraw", short_help="Withdraw credited bonds and bounties.")
@opts.config_option
@opts.json_option
def withdraw_cmd(config_file: Path | None, as_json: bool) -> None:
    """Withdraw the bonds and bounties credited to this watchtower (its daemon does it as they
    are credited)."""
    from node.cli.reports import withdrawal_sentence

    tower = _tower(config_file)
    amount = tower.withdraw()
    address = tower.ctx.address
    opts.emit(
        {"address": address, "withdrawn": amount},
        as_json,
        [withdrawal_sentence(address, amount, 0)],
    )
