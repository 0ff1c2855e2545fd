"""Amounts on the command line: `0.5` or `0.5eth` is ether, `1000wei` or `3gwei` is explicit."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from node.roles.errors import RoleError

_UNITS = {"eth": 10**18, "ether": 10**18, "gwei": 10**9, "wei": 1}


class BadAmount(RoleError):
    exit_code = 2


def parse_amount(text: str) -> int:
    raw = text.strip().lower().replace("_", "")
    unit = 10**18
    for name, scale in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if raw.endswith(name):
            raw, unit = raw[: -len(name)].strip(), scale
            break
    try:
        value = Decimal(raw) * unit
    except InvalidOperation:
        raise BadAmount(f"not an amount: {text!r} (e.g. 0.5, 0.5eth, 3gwei, 1000wei)") from None
    if not value.is_finite():
        raise BadAmount(f"not an amount: {text!r} (e.g. 0.5, 0.5eth, 3gwei, 1000wei)")
    if value < 0 or value != value.to_integral_value():
        raise BadAmount(f"{text!r} is not a whole, non-negative number of wei")
    if value >= 2**256:  # a uint256: no chain holds or moves more
        raise BadAmount(f"{text!r} is more wei than a transaction can carry (2^256)")
    return int(value)


def format_eth(wei: int) -> str:
    return f"{Decimal(wei) / 10**18:f} ETH"
