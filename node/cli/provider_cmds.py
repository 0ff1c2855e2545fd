"""`poc provider register|stake|unstake|withdraw|status|run` (click only; node.roles.provider)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli.reports import metrics_options
from node.cli.role_options import (
    Amount,
    PocGroup,
    block_time_option,
    build_daemon,
    config_option,
    daemon_run,
    emit,
    gas_price_option,
    json_option,
    settings,
    timestamp,
)

# node.roles.safety.MAX_OUTPUT_BYTES in KiB (not imported here: it loads numpy; a test checks)
MAX_OUTPUT_KB = 96


def _provider(config_file: Path | None, **policy: Any) -> Any:
    return build_daemon(config_file, "provider", **policy)


@click.group("provider", cls=PocGroup)
def provider() -> None:
    """Stake, then run the provider daemon: claim jobs, execute, submit, defend, get paid."""


def _in_asset(p: Any, amount: int | None) -> int | None:
    """A CLI amount (read as ether, 18 decimals) in the market's asset's base units."""
    if amount is None:
        return None
    asset = p.ctx.deployment.asset
    try:
        return int(asset.from_ether_scale(amount)) if not asset.is_ether else amount
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _stake_lines(st: dict[str, Any], p: Any = None) -> list[str]:
    from node.cli.reports import credits_line
    from node.readable import eth

    asset = None if p is None else p.ctx.deployment.asset
    if asset is not None and not asset.is_ether:
        show = asset.show
        st["asset"] = {"address": asset.address, "symbol": asset.symbol, "decimals": asset.decimals}
        credits = f"  credits     {show(st['credits'])}"
    else:
        show, credits = eth, credits_line(st["credits"])
    unbonding = f"  unbonding   {show(st['unbonding'])}"
    if st["unbonding"]:
        unbonding += f", withdrawable from {timestamp(st['unlock_at'])}"
    lines = [f"provider {st['address']}"]
    if asset is not None and not asset.is_ether:
        lines.append(f"  asset       {asset.symbol} ({asset.address}, {asset.decimals} decimals)")
    return lines + [f"  free stake  {show(st['free_stake'])}", unbonding, credits]


@provider.command("register", short_help="Check key, chain and contracts; stake.")
@click.option(
    "--stake", "amount", type=Amount(), default=None, help="also deposit this stake (e.g. 1.5)"
)
@config_option
@json_option
def register_cmd(amount: int | None, config_file: Path | None, as_json: bool) -> None:
    """Check the configured key, chain and contracts, and optionally deposit a first stake."""
    from node.readable import eth

    p = _provider(config_file)
    if amount:
        p.stake(_in_asset(p, amount))
    st = p.status()
    st["balance"] = int(p.ctx.w3.eth.get_balance(p.ctx.address))
    st.pop("jobs")
    lines = _stake_lines(st, p) + [f"  balance     {eth(st['balance'])}"]
    if p.ctx.deployment.token is not None:
        st["asset_balance"] = p.ctx.deployment.balance(p.ctx.address)
        lines.append(f"              {p.ctx.deployment.asset.show(st['asset_balance'])}")
    emit(st, as_json, lines)


@provider.command(
    "stake",
    short_help="Deposit free stake.",
    # a negative AMOUNT reaches Amount (and its error), not "No such option: -1"
    context_settings={"ignore_unknown_options": True},
)
@click.argument("amount", type=Amount())
@config_option
@json_option
def stake_cmd(amount: int, config_file: Path | None, as_json: bool) -> None:
    """Deposit AMOUNT as free stake (for example 1.5 or 1.5eth; on a token market 1.5 is 1.5
    of its token, approved to the stake manager first)."""
    p = _provider(config_file)
    p.stake(_in_asset(p, amount))
    st = p.status()
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st, p))


@provider.command(
    "unstake",
    short_help="Start unbonding free stake.",
    # a negative AMOUNT reaches Amount (and its error), not "No such option: -1"
    context_settings={"ignore_unknown_options": True},
)
@click.argument("amount", type=Amount())
@config_option
@json_option
def unstake_cmd(amount: int, config_file: Path | None, as_json: bool) -> None:
    """Start unbonding AMOUNT of free stake (withdrawable after the unbonding delay)."""
    p = _provider(config_file)
    p.unstake(_in_asset(p, amount))
    st = p.status()
    st.pop("jobs")
    emit(st, as_json, _stake_lines(st, p))


@provider.command("withdraw", short_help="Withdraw credits and unbonded stake.")
@config_option
@json_option
def withdraw_cmd(config_file: Path | None, as_json: bool) -> None:
    """Withdraw earned credits, and unbonded stake once its delay has passed."""
    from node.cli.reports import withdrawal_sentence

    p = _provider(config_file)
    done = p.withdraw_all()
    st = p.status()
    st.pop("jobs")
    unbonding = p.ctx.deployment.stake.unbonding(p.ctx.address)
    said = withdrawal_sentence(st["address"], done["credits"], done["stake"], unbonding)
    emit({**st, "withdrawn": done}, as_json, [said] + _stake_lines(st, p))


@provider.command("status", short_help="Stake, earnings (life, per job and game), jobs seen.")
@config_option
@json_option
def status_cmd(config_file: Path | None, as_json: bool) -> None:
    """Stake, what this node earned, lost and spent on gas (over its life, per job and game),
    and the jobs it has seen. Amounts in ETH (wei with --json)."""
    from node.cli.reports import record_lines, totals_lines

    p = _provider(config_file)
    st = p.status()
    st["earnings"] = p.ledger.summary()
    lines = _stake_lines(st, p) + totals_lines(st["earnings"])
    lines += record_lines("job", st["jobs"], st["earnings"], "jobs")
    emit(st, as_json, lines)


@provider.command("list", short_help="Providers' on-chain records in the replica market.")
@click.argument("addresses", nargs=-1)
@config_option
@json_option
def list_cmd(addresses: tuple[str, ...], config_file: Path | None, as_json: bool) -> None:
    """Each provider's record in the replica market (protocol.md 6.8): seats accepted, rejected
    and expired, and what its locks lost; every provider that ever took a seat, or ADDRESSES."""
    from node.roles.context import RoleContext
    from node.roles.replica_client import provider_records

    ctx = RoleContext.from_settings(settings(config_file), "provider", read_only=True)
    rows = provider_records(ctx, list(addresses) or None)
    lines = [
        f"{r['provider']}: accepted {r['accepted']}, rejected {r['rejected']}, expired "
        f"{r['expired']}, slashed {r['slashed']} wei, free stake {r['free_stake']} wei"
        for r in rows
    ] or ["no provider has taken a seat yet"]
    emit({"providers": rows}, as_json, lines)


@provider.command("run", short_help="Run the provider daemon.")
@click.option(
    "--min-reward", type=Amount(), default="0", show_default=True, help="refuse jobs paying less"
)
@click.option("--max-ops", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option(
    "--max-stake", type=Amount(), default=None, help="refuse jobs locking more stake than this"
)
@click.option(
    "--max-input-mb",
    type=click.FloatRange(min=0, min_open=True),
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
@click.option(
    "--max-output-kb",
    type=click.IntRange(min=1, max=MAX_OUTPUT_KB),
    default=MAX_OUTPUT_KB,
    show_default=True,
    help="refuse jobs whose output exceeds this many KiB (at most 96: a larger one cannot be "
    "published on chain in one transaction when the poster demands it)",
)
@click.option(
    "--asset-price-eth",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="on a token market: ETH per whole token, to weigh bonds and rewards against gas "
    "(without it a token market's jobs are skipped, not judged)",
)
@click.option(
    "--claim-and-submit/--claim-first",
    default=False,
    show_default=True,
    help="execute before claiming, then claim and submit in one transaction (one transaction "
    "less; the job is not locked while it runs and the result is visible in the mempool before "
    "the claim is mined: for a private mempool or sequencer, docs/operator.md)",
)
@block_time_option("seconds per block (default: measured from recent blocks)")
@gas_price_option("gwei (default: the node's gas price)")
@metrics_options
@daemon_run("provider")
def run_cmd(
    min_reward: int,
    max_ops: int,
    max_stake: int | None,
    max_input_mb: float,
    margin: float,
    bond_margin: float,
    macs_per_second: float,
    max_output_kb: int,
    asset_price_eth: float | None,
    claim_and_submit: bool,
    block_time: float | None,
    gas_price_gwei: float | None,
    metrics_port: int | None,
    metrics_addr: str,
) -> dict[str, Any]:
    """Run the provider daemon (stop with Ctrl-C or SIGTERM; a restart resumes). Jobs whose
    terms are unsafe on this chain for their program are refused, with the reason in
    `poc provider status` (docs/operator.md)."""
    from node.roles.safety import GWEI

    return {
        "min_reward": min_reward,
        "max_ops": max_ops,
        "max_stake": max_stake,
        "max_input_bytes": int(max_input_mb * 2**20),
        "margin": margin,
        "bond_margin": bond_margin,
        "macs_per_second": macs_per_second,
        "max_output_bytes": max_output_kb * 1024,
        "asset_price_eth": asset_price_eth,
        "claim_and_submit": claim_and_submit,
        "block_time": block_time,
        "gas_price": None if gas_price_gwei is None else int(gas_price_gwei * GWEI),
        "metrics_port": metrics_port,
        "metrics_addr": metrics_addr,
    }
