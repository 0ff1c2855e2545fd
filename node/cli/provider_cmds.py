"""`poc provider register|stake|unstake|withdraw|status|run` (click only; node.roles.provider)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli.role_options import (
    PocGroup,
    block_time_option,
    build_daemon,
    config_option,
    daemon_run,
    emit,
    gas_price_option,
    json_option,
    timestamp,
)


def _provider(config_file: Path | None, **policy: Any) -> Any:
    return build_daemon(config_file, "provider", **policy)


@click.group("provider", cls=PocGroup)
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


@provider.command("register", short_help="Check key, chain and contracts; stake.")
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


@provider.command("stake", short_help="Deposit free stake.")
@click.argument("amount")
@config_option
@json_option
def stake_cmd(amount: str, config_file: Path | None, as_json: bool) -> None:
    """Deposit AMOUNT as free stake (for example 1.5 or 1.5eth)."""
    from node.roles.amounts import parse_amount

    p = _provider(config_file)
    p.stake(parse_amount(amount))
    st = p.status()
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st))


@provider.command("unstake", short_help="Start unbonding free stake.")
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


@provider.command("withdraw", short_help="Withdraw credits and unbonded stake.")
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


@provider.command("run", short_help="Run the provider daemon.")
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
@click.option(
    "--margin",
    type=click.FloatRange(min=1),
    default=3.0,
    show_default=True,
    help="refuse jobs whose clock, execute-within or window is under this many times the need "
    "(provider moves x block time; compute + 2 blocks)",
)
@click.option(
    "--bond-margin",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="refuse jobs whose challenger bond is under this many times the gas of a defence",
)
@click.option(
    "--macs-per-second",
    type=click.FloatRange(min=0, min_open=True),
    default=1e8,
    show_default=True,
    help="execution speed assumed for execute-within and window",
)
@block_time_option("seconds per block (default: measured from recent blocks)")
@gas_price_option("gwei (default: the node's gas price)")
@daemon_run("provider")
def run_cmd(
    min_reward: str,
    max_ops: int,
    max_stake: str | None,
    max_input_mb: float,
    margin: float,
    bond_margin: float,
    macs_per_second: float,
    block_time: float | None,
    gas_price_gwei: float | None,
) -> dict[str, Any]:
    """Run the provider daemon (stop with Ctrl-C or SIGTERM; a restart resumes). Jobs whose
    terms are unsafe on this chain for their program are refused, with the reason in
    `poc provider status` (docs/operator.md)."""
    from node.roles.amounts import parse_amount
    from node.roles.safety import GWEI

    return {
        "min_reward": parse_amount(min_reward),
        "max_ops": max_ops,
        "max_stake": parse_amount(max_stake) if max_stake else None,
        "max_input_bytes": int(max_input_mb * 2**20),
        "margin": margin,
        "bond_margin": bond_margin,
        "macs_per_second": macs_per_second,
        "block_time": block_time,
        "gas_price": None if gas_price_gwei is None else int(gas_price_gwei * GWEI),
    }
