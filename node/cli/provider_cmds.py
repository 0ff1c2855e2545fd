"""`poc provider register|stake|unstake|withdraw|status|run` (click only; node.roles.provider)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli.role_options import (
    build_daemon,
    config_option,
    daemon_run,
    emit,
    json_option,
    timestamp,
)


def _provider(config_file: Path | None, **policy: Any) -> Any:
    return build_daemon(config_file, "provider", **policy)


@click.group("provider")
def provider() -> None:
    """Stake, then run the provider daemon: claim jobs, execute, submit, defend, get paid."""


def _stake_lines(st: dict[str, Any]) -> list[str]:
    from node.roles.amounts import format_eth

    return [
        f"provider {st['address']}",
        f"  free stake {format_eth(st['free_stake'])}",
        f"  unbonding  {format_eth(st['unbonding'])} (from {timestamp(st['unlock_at'])})",
        f"  credits    {format_eth(st['credits'])}",
    ]


@provider.command("register")
@click.option("--stake", "amount", default=None, help="also deposit this stake (e.g. 1.5)")
@config_option
@json_option
def register_cmd(amount: str | None, config_file: Path | None, as_json: bool) -> None:
    """Check the configured key, chain and contracts, and optionally deposit a first stake."""
    from node.roles.amounts import parse_amount

    p = _provider(config_file)
    if amount:
        p.stake(parse_amount(amount))
    st = p.status()
    st["balance"] = int(p.ctx.w3.eth.get_balance(p.ctx.address))
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st) + [f"  balance    {st['balance']} wei"])


@provider.command("stake")
@click.argument("amount")
@config_option
@json_option
def stake_cmd(amount: str, config_file: Path | None, as_json: bool) -> None:
    """Deposit AMOUNT (e.g. 1.5 or 1.5eth) as free stake."""
    from node.roles.amounts import parse_amount

    p = _provider(config_file)
    p.stake(parse_amount(amount))
    st = p.status()
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st))


@provider.command("unstake")
@click.argument("amount")
@config_option
@json_option
def unstake_cmd(amount: str, config_file: Path | None, as_json: bool) -> None:
    """Start unbonding AMOUNT of free stake (withdrawable after the unbonding delay)."""
    from node.roles.amounts import parse_amount

    p = _provider(config_file)
    p.unstake(parse_amount(amount))
    st = p.status()
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st))


@provider.command("withdraw")
@config_option
@json_option
def withdraw_cmd(config_file: Path | None, as_json: bool) -> None:
    """Withdraw earned credits, and unbonded stake once its delay has passed."""
    p = _provider(config_file)
    done = p.withdraw_all()
    st = p.status()
    st.pop("jobs")
    emit({**st, "withdrawn": done}, as_json, [f"withdrew {done}"] + _stake_lines(st))


@provider.command("status")
@config_option
@json_option
def status_cmd(config_file: Path | None, as_json: bool) -> None:
    """Stake, credits and the jobs this provider has seen."""
    st = _provider(config_file).status()
    lines = _stake_lines(st) + [
        f"  job {j}: {d['stage']} {d.get('reason', '')}" for j, d in st["jobs"].items()
    ]
    emit(st, as_json, lines)


@provider.command("run")
@click.option("--min-reward", default="0", show_default=True, help="refuse jobs paying less")
@click.option("--max-ops", type=int, default=4096, show_default=True)
@click.option("--max-stake", default=None, help="refuse jobs locking more stake than this")
@click.option(
    "--max-input-mb",
    type=float,
    default=1024.0,
    show_default=True,
    help="refuse jobs whose data and weights exceed this",
)
@daemon_run("provider")
def run_cmd(
    min_reward: str, max_ops: int, max_stake: str | None, max_input_mb: float
) -> dict[str, Any]:
    """Run the provider daemon (stop with Ctrl-C or SIGTERM; a restart resumes)."""
    from node.roles.amounts import parse_amount

    return {
        "min_reward": parse_amount(min_reward),
        "max_ops": max_ops,
        "max_stake": parse_amount(max_stake) if max_stake else None,
        "max_input_bytes": int(max_input_mb * 2**20),
    }
