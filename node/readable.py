"""Amounts, durations and times as operators read them, one unit everywhere: ETH with 4 to 6
decimals (wei only in --json), durations in d/h/min/s, chain times as UTC with how far they
are from the chain's now."""

from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal

WEI_PER_ETH = 10**18
_MICRO_ETH = 10**12  # below this, 6 decimals show nothing


def eth(wei: int, sign: bool = False) -> str:
    """`0.1000 ETH`, `0.000123 ETH`: 6 decimals with trailing zeros cut down to 4; an amount
    too small for 6 decimals says so (`<0.000001 ETH`). `sign`: `+` or `-` in front."""
    prefix = ("+" if wei > 0 else "-" if wei < 0 else "") if sign else ("-" if wei < 0 else "")
    size = abs(int(wei))
    if 0 < size < _MICRO_ETH // 2:
        return f"{prefix}<0.000001 ETH"
    text = f"{(Decimal(size) / WEI_PER_ETH).quantize(Decimal('0.000001'), ROUND_HALF_UP):f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(4, "0")
    return f"{prefix}{whole}.{frac} ETH"


def in_asset(amount: int, symbol: str, decimals: int, sign: bool = False) -> str:
    """An amount of a market's asset: ETH as `eth` shows it, a token's base units as a decimal
    with its symbol (`2.5 mUSD`); `sign` as in `eth`."""
    if symbol == "ETH" and decimals == 18:
        return eth(amount, sign)
    prefix = (
        ("+" if amount > 0 else "-" if amount < 0 else "") if sign else ("-" if amount < 0 else "")
    )
    value = Decimal(abs(int(amount))).scaleb(-decimals).normalize()
    return f"{prefix}{value:f} {symbol}"


def duration(seconds: int | float) -> str:
    """`45 s`, `10 min`, `1 h 30 min`, `2 d 3 h`: the two largest units that are not zero
    (what is left out is less than the smaller one shown)."""
    left = int(round(abs(seconds)))
    if left < 60:
        return f"{left} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])


def utc(ts: int | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def when(ts: int | None, now: int) -> str:
    """A chain time as UTC with its distance from the chain's `now`: `... UTC (in 9 min)`."""
    if not ts:
        return "-"
    if ts == now:
        return f"{utc(ts)} (now)"
    rel = f"in {duration(ts - now)}" if ts > now else f"{duration(now - ts)} ago"
    return f"{utc(ts)} ({rel})"
