"""The market's asset (docs/protocol.md §6.7): ether (address 0) or an ERC-20 fixed at
deployment. `Asset` says which, with its symbol and decimals for showing amounts;
`TokenContract` reads balances and allowances and builds the `approve` a payment on a token
market needs first. The ERC-20 ABI is the standard one (not a protocol contract: not shipped
in node/abi)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from web3 import Web3

from node.chain.contracts._binding import ContractBinding
from node.chain.sender import TxRequest

ETHER_ADDRESS = "0x" + "00" * 20


def _fn(name: str, inputs: list[tuple[str, str]], out: str | None, view: bool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "stateMutability": "view" if view else "nonpayable",
        "inputs": [{"name": n, "type": t} for n, t in inputs],
        "outputs": [] if out is None else [{"name": "", "type": out}],
    }


ERC20_ABI: list[dict[str, Any]] = [
    _fn("symbol", [], "string", True),
    _fn("decimals", [], "uint8", True),
    _fn("balanceOf", [("account", "address")], "uint256", True),
    _fn("allowance", [("owner", "address"), ("spender", "address")], "uint256", True),
    # declared without a return value: USDT-style tokens return nothing, and the sender only
    # needs the call data (success is the receipt's status)
    _fn("approve", [("spender", "address"), ("amount", "uint256")], None, False),
]


@dataclass(frozen=True)
class Asset:
    """What a market's amounts are in: `address` ETHER_ADDRESS for ether (18 decimals)."""

    address: str
    symbol: str
    decimals: int

    @property
    def is_ether(self) -> bool:
        return int(self.address, 16) == 0

    def show(self, amount: int) -> str:
        """`amount` base units as a decimal with the symbol, e.g. '2.5 mUSD', '0.1 ETH'."""
        value = Decimal(amount).scaleb(-self.decimals).normalize()
        text = f"{value:f}"
        return f"{text} {self.symbol}"

    def units(self, text: str) -> int:
        """A decimal amount of the asset ('2.5') in base units; ValueError if it has more
        decimals than the asset or is negative."""
        value = Decimal(text).scaleb(self.decimals)
        if value != value.to_integral_value() or value < 0:
            raise ValueError(f"{text} is not an amount of {self.symbol} ({self.decimals} decimals)")
        return int(value)

    def from_ether_scale(self, amount18: int) -> int:
        """An amount the CLI read as ether (`2.5` -> 2.5e18, node.roles.amounts) in this
        asset's base units (2.5 mUSD -> 2_500_000); ValueError if that drops digits."""
        units, rest = divmod(amount18 * 10**self.decimals, 10**18)
        if rest:
            raise ValueError(
                f"{Decimal(amount18).scaleb(-18).normalize():f} has more than {self.decimals} "
                f"decimals, more than {self.symbol} has"
            )
        return units


ETHER = Asset(ETHER_ADDRESS, "ETH", 18)


class TokenContract(ContractBinding):
    NAME = "ERC20"

    def __init__(self, w3: Web3, address: str, start_block: int = 0) -> None:
        super().__init__(w3, address, ERC20_ABI, start_block)

    def asset(self) -> Asset:
        return Asset(self.address, str(self.read("symbol")), int(self.read("decimals")))

    def balance_of(self, account: str) -> int:
        return int(self.read("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self.read("allowance", owner, spender))

    def approve(self, spender: str, amount: int) -> TxRequest:
        return self.tx("approve", spender, amount)
