"""What `poc provider` and `poc watch` print about money and metrics: the earnings over the
node's life and per job, claim and game (node.roles.earnings), a withdrawal as a sentence, and
the metrics options of the `run` commands. Amounts in text in each asset's unit (ETH, or the
market's token with its symbol; node.readable), base units in --json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from node.readable import eth, in_asset, utc

ETHER_ADDRESS = "0x" + "00" * 20  # node.chain.contracts.token (not imported: web3 follows)

F = TypeVar("F", bound=Callable[..., Any])

# ledger kinds as the text names them
WORDS = {
    "reward": "reward",
    "bond_won": "bond won",
    "bounty": "bounty",
    "slashed": "slashed",
    "backing_lost": "backing lost",
    "bond_lost": "bond lost",
}
EARNED = ("reward", "bond_won", "bounty")
LOST = ("slashed", "backing_lost", "bond_lost")
_ZERO = {"earned": 0, "lost": 0, "gas": 0, "net": 0, "transactions": 0}
CREDITS_NOTE = "the daemon withdraws them as they are credited"


def metrics_options(f: F) -> F:
    """`--metrics-port` and `--metrics-addr` of a daemon's `run` (policy fields of the same
    names, node.roles.daemon.DaemonPolicy)."""
    f = click.option(
        "--metrics-addr",
        default="127.0.0.1",  # node.roles.metrics.DEFAULT_ADDR (not imported: web3 follows)
        show_default=True,
        help="address the metrics endpoint listens on (0.0.0.0: every interface)",
    )(f)
    return click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        help="serve Prometheus metrics on this port at /metrics (default: not served)",
    )(f)


Assets = dict[str, dict[str, Any]]  # a summary's `assets`: address -> symbol, decimals


def _shower(assets: Assets, address: str) -> Callable[..., str]:
    a = assets.get(address) or {"symbol": "ETH", "decimals": 18}

    def show(amount: int, sign: bool = False) -> str:
        return in_asset(amount, str(a["symbol"]), int(a["decimals"]), sign)

    return show


def totals_lines(earnings: dict[str, Any], withdrawn_hint: bool = True) -> list[str]:
    """Earned, lost, gas and net over the node's life, each asset in its own unit (a token
    market: the token's earned, lost and net, then ether's gas and net)."""
    assets: Assets = earnings.get("assets", {})
    per_asset: dict[str, dict[str, int]] = earnings["totals"] or {ETHER_ADDRESS: _ZERO}
    lines = []
    # the market's token first, then ether (its gas)
    for address, totals in sorted(per_asset.items(), key=lambda kv: kv[0] == ETHER_ADDRESS):
        show = _shower(assets, address)
        if len(per_asset) > 1:
            lines.append(f"  in {assets.get(address, {}).get('symbol', address)}:")
        if totals["earned"] or totals["lost"] or address != ETHER_ADDRESS or len(per_asset) == 1:
            earned = ", ".join(f"{WORDS[k]} {show(totals[k])}" for k in EARNED if totals.get(k))
            lost = ", ".join(f"{WORDS[k]} {show(totals[k])}" for k in LOST if totals.get(k))
            lines += [
                f"  earned      {show(totals['earned'])}" + (f" ({earned})" if earned else ""),
                f"  lost        {show(totals['lost'])}" + (f" ({lost})" if lost else ""),
            ]
        if address == ETHER_ADDRESS:
            lines.append(
                f"  gas         {show(totals['gas'])} in {totals['transactions']} transactions"
            )
        lines.append(f"  net         {show(totals['net'], sign=True)} over this node's life")
        if withdrawn_hint and (totals.get("withdrawn") or totals["earned"] or len(per_asset) == 1):
            lines.append(
                f"  withdrawn   {show(totals.get('withdrawn', 0))} of market credits to the "
                "account (bonds returned included)"
            )
    return lines


def money(summary: dict[str, dict[str, int]] | None, assets: Assets | None = None) -> str:
    """One record's (job, claim, game) earnings per asset: `reward +0.1000 ETH, gas -0.0011
    ETH, net +0.0989 ETH`, or on a token market `reward +2.5 mUSD; gas -0.0011 ETH`; empty when
    nothing was paid or spent."""
    if not summary:
        return ""
    out = []
    for address, sums in sorted(summary.items(), key=lambda kv: kv[0] == ETHER_ADDRESS):
        show = _shower(assets or {}, address)
        parts = [f"{WORDS[k]} {show(sums[k], sign=True)}" for k in EARNED if sums.get(k)]
        parts += [f"{WORDS[k]} {show(-sums[k], sign=True)}" for k in LOST if sums.get(k)]
        if sums.get("gas"):
            parts.append(f"gas {show(-sums['gas'], sign=True)}")
        if len(parts) > 1:
            parts.append(f"net {show(sums['net'], sign=True)}")
        if parts:
            out.append(", ".join(parts))
    return "; ".join(out)


def record_lines(
    label: str, records: dict[Any, dict[str, Any]], earnings: dict[str, Any], per: str
) -> list[str]:
    """A line per record (`label` job or claim, `per` the summary key: jobs or claims) with its
    stage, reason and money, and a line per game of it that moved money."""
    games = earnings.get("games", {})
    game_ids = earnings.get("game_ids", {})
    assets = earnings.get("assets", {})
    lines = []
    for key, rec in records.items():
        reason = f" ({rec['reason']})" if rec.get("reason") else ""
        paid = money(earnings.get(per, {}).get(int(key)), assets)
        lines.append(f"  {label} {key}: {rec['stage']}{reason}" + (f"; {paid}" if paid else ""))
        id_key = "job_id" if per == "jobs" else "claim_id"
        for game_id, g in games.items():
            if game_ids.get(game_id, {}).get(id_key) == int(key):
                lines.append(f"    game {game_id}: {money(g, assets)}")
    return lines


def credits_line(credits: int) -> str:
    return f"  credits     {eth(credits)} ({CREDITS_NOTE})"


def withdrawal_sentence(address: str, credits: int, stake: int, unbonding: Any = None) -> str:
    """What a withdrawal did, as a sentence."""
    if credits or stake:
        what = []
        if credits:
            what.append(f"{eth(credits)} of market credits")
        if stake:
            what.append(f"{eth(stake)} of unbonded stake")
        return f"withdrew {' and '.join(what)} to {address}"
    waiting = ""
    if unbonding is not None and unbonding.amount:
        waiting = (
            f"; {eth(unbonding.amount)} of stake is unbonding, withdrawable from "
            f"{utc(unbonding.unlock_at)}"
        )
    return f"nothing to withdraw for {address}: no market credits ({CREDITS_NOTE}){waiting}"
