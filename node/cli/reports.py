"""What `poc provider` and `poc watch` print about money and metrics: the earnings over the
node's life and per job, claim and game (node.roles.earnings), a withdrawal as a sentence, and
the metrics options of the `run` commands. Amounts in ETH in text (node.readable), wei in
--json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from node.readable import eth, utc

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


def totals_lines(totals: dict[str, int], withdrawn_hint: bool = True) -> list[str]:
    """Earned, lost, gas and net over the node's life."""
    earned = ", ".join(f"{WORDS[k]} {eth(totals[k])}" for k in EARNED if totals.get(k))
    lost = ", ".join(f"{WORDS[k]} {eth(totals[k])}" for k in LOST if totals.get(k))
    lines = [
        f"  earned      {eth(totals['earned'])}" + (f" ({earned})" if earned else ""),
        f"  lost        {eth(totals['lost'])}" + (f" ({lost})" if lost else ""),
        f"  gas         {eth(totals['gas'])} in {totals['transactions']} transactions",
        f"  net         {eth(totals['net'], sign=True)} over this node's life",
    ]
    if withdrawn_hint:
        lines.append(
            f"  withdrawn   {eth(totals.get('withdrawn', 0))} of market credits to the account "
            "(bonds returned included)"
        )
    return lines


def money(summary: dict[str, int] | None) -> str:
    """One record's (job, claim, game) earnings: `reward +0.1000 ETH, gas -0.0011 ETH, net
    +0.0989 ETH`; empty when nothing was paid or spent."""
    if not summary:
        return ""
    parts = [f"{WORDS[k]} {eth(summary[k], sign=True)}" for k in EARNED if summary.get(k)]
    parts += [f"{WORDS[k]} {eth(-summary[k], sign=True)}" for k in LOST if summary.get(k)]
    if summary.get("gas"):
        parts.append(f"gas {eth(-summary['gas'], sign=True)}")
    if len(parts) > 1:
        parts.append(f"net {eth(summary['net'], sign=True)}")
    return ", ".join(parts)


def record_lines(
    label: str, records: dict[Any, dict[str, Any]], earnings: dict[str, Any], per: str
) -> list[str]:
    """A line per record (`label` job or claim, `per` the summary key: jobs or claims) with its
    stage, reason and money, and a line per game of it that moved money."""
    games = earnings.get("games", {})
    lines = []
    for key, rec in records.items():
        reason = f" ({rec['reason']})" if rec.get("reason") else ""
        paid = money(earnings.get(per, {}).get(int(key)))
        lines.append(f"  {label} {key}: {rec['stage']}{reason}" + (f"; {paid}" if paid else ""))
        id_key = "job_id" if per == "jobs" else "claim_id"
        for game_id, g in games.items():
            if g.get(id_key) == int(key):
                lines.append(f"    game {game_id}: {money(g)}")
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
