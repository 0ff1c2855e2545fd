"""StakeManager: a provider's free stake, unbonding and per-claim locks, and the stake
transactions (docs/protocol.md §6A)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from node.chain.contracts._binding import ContractBinding, record
from node.chain.sender import TxRequest


@dataclass(frozen=True)
class Unbonding:
    """StakeManager.unbonding(account): stake on its way out, withdrawable from `unlock_at`."""

    amount: int
    unlock_at: int


@dataclass(frozen=True)
class Lock:
    """StakeManager.lockOf(key): the stake a claim holds (key = claim id), or a game's backing
    (key = job_market.GAME_LOCK_BASE + game id; no lock when the game is unbacked)."""

    claim_id: int
    provider: str
    amount: int


class StakeManagerContract(ContractBinding):
    NAME = "StakeManager"

    # ---- reads ----

    def free_stake(self, account: str) -> int:
        return int(self.read("freeStake", account))

    def unbonding(self, account: str) -> Unbonding:
        return record(Unbonding, self.read("unbonding", account))

    def lock_of(self, claim_id: int) -> Lock:
        return record(Lock, self.read("lockOf", claim_id), claim_id=claim_id)

    def unbonding_delay(self) -> int:
        return int(self.read("UNBONDING_DELAY"))

    @functools.cached_property
    def asset_address(self) -> str:
        """The stake asset (immutable, the market's): ETHER_ADDRESS or an ERC-20."""
        return str(self.read("asset"))

    # ---- transactions ----

    def deposit(self, amount: int) -> TxRequest:
        """Ether: `amount` as the value; token: `depositToken` pulls it (approve first)."""
        if int(self.asset_address, 16) != 0:
            return self.tx("depositToken", amount)
        return self.tx("deposit", value=amount)

    def request_unbond(self, amount: int) -> TxRequest:
        return self.tx("requestUnbond", amount)

    def withdraw(self) -> TxRequest:
        """Withdraw stake whose unbonding delay has passed."""
        return self.tx("withdraw")
