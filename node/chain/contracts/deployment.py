"""The deployed protocol: JobMarket, StakeManager and DisputeGame bound on one web3 with their
addresses, the revert decoder for all of them, the block the deployment starts at, and the
chain clock."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from web3 import Web3

from node.chain.abi import protocol_abis
from node.chain.contracts.dispute_game import DisputeGameContract
from node.chain.contracts.job_market import JobMarketContract
from node.chain.contracts.replica_market import ReplicaMarketContract
from node.chain.contracts.stake_manager import StakeManagerContract
from node.chain.contracts.token import ETHER, Asset, TokenContract
from node.chain.errors import AbiNotFound, DeploymentNotConfigured
from node.chain.revert import RevertDecoder
from node.game.view import GameView

if TYPE_CHECKING:
    from node.chain.scanner import CheckpointStore, EventScanner

# config key (Settings.contracts, POC_CONTRACTS__<KEY>) -> contract name
CONTRACTS = {
    "job_market": "JobMarket",
    "stake_manager": "StakeManager",
    "dispute_game": "DisputeGame",
}
# optional: the replicated-jobs market and its own DisputeGame instance (protocol.md §6.8)
REPLICA_CONTRACTS = {"replica_market": "ReplicaMarket", "replica_game": "DisputeGame"}


@dataclass(frozen=True)
class Deployment:
    w3: Web3
    market: JobMarketContract
    stake: StakeManagerContract
    game: DisputeGameContract
    decoder: RevertDecoder  # the custom errors of every protocol contract
    start_block: int = 0  # the deployment's first block: scans and log searches start here
    replicas: ReplicaMarketContract | None = None  # None: no replica market deployed
    replica_game: DisputeGameContract | None = None

    @classmethod
    def from_addresses(
        cls,
        w3: Web3,
        addresses: Mapping[str, str | None] | Any,
        abis: Mapping[str, list[dict[str, Any]]] | None = None,
        start_block: int = 0,
    ) -> Deployment:
        """Bind the contracts at `addresses` (keys job_market, stake_manager, dispute_game; a
        mapping or the settings' ContractAddresses). `abis` by contract name; default: the
        ABIs shipped in node/abi (a development checkout's .build when none are shipped).
        DeploymentNotConfigured names every missing address."""
        if not isinstance(addresses, Mapping):
            addresses = addresses.model_dump()
        missing = [k for k in CONTRACTS if not addresses.get(k)]
        if missing:
            raise DeploymentNotConfigured(
                f"contract addresses missing: {', '.join(missing)} "
                "(set them in the config, e.g. POC_CONTRACTS__JOB_MARKET)"
            )
        abis = dict(abis) if abis is not None else protocol_abis()
        absent = [name for name in CONTRACTS.values() if name not in abis]
        if absent:
            raise AbiNotFound(f"no ABI given for {', '.join(absent)}")

        def at(key: str) -> str:
            return str(addresses[key])

        replicas = replica_game = None
        if (
            addresses.get("replica_market")
            and addresses.get("replica_game")
            and "ReplicaMarket" in abis
        ):
            replicas = ReplicaMarketContract(
                w3, at("replica_market"), abis["ReplicaMarket"], start_block
            )
            replica_game = DisputeGameContract(
                w3, at("replica_game"), abis["DisputeGame"], start_block, key_prefix="replica-"
            )
        return cls(
            w3,
            JobMarketContract(w3, at("job_market"), abis["JobMarket"], start_block),
            StakeManagerContract(w3, at("stake_manager"), abis["StakeManager"], start_block),
            DisputeGameContract(w3, at("dispute_game"), abis["DisputeGame"], start_block),
            # a call into JobMarket may revert inside StakeManager, DisputeGame or TensorStep
            RevertDecoder(abis.values()),
            start_block,
            replicas,
            replica_game,
        )

    @property
    def addresses(self) -> dict[str, str]:
        out: dict[str, str] = {
            "job_market": self.market.address,
            "stake_manager": self.stake.address,
            "dispute_game": self.game.address,
        }
        if self.replicas is not None and self.replica_game is not None:
            out["replica_market"] = self.replicas.address
            out["replica_game"] = self.replica_game.address
        return out

    # ---- the asset (protocol.md §6.7) ----

    @functools.cached_property
    def token(self) -> TokenContract | None:
        """The ERC-20 the market is paid in; None for an ether market."""
        if not self.market.pays_in_token:
            return None
        return TokenContract(self.w3, self.market.asset_address, self.start_block)

    @functools.cached_property
    def asset(self) -> Asset:
        """What amounts are in: ETHER, or the token's address, symbol and decimals."""
        return ETHER if self.token is None else self.token.asset()

    def balance(self, account: str) -> int:
        """`account`'s holding of the asset (ether or token), outside the contracts."""
        if self.token is None:
            return int(self.w3.eth.get_balance(account))  # type: ignore[arg-type]
        return self.token.balance_of(account)

    # ---- chain ----

    def now(self) -> int:
        """The latest block's timestamp (the contracts' clock)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def scanner(
        self,
        store: CheckpointStore,
        name: str,
        start_block: int | None = None,
        confirmations: int = 0,
    ) -> EventScanner:
        """A scanner over the events of the three contracts (named market, stakes, game),
        from `start_block` (the deployment's by default)."""
        from node.chain.scanner import EventScanner

        contracts = {
            "market": self.market.contract,
            "stakes": self.stake.contract,
            "game": self.game.contract,
        }
        first = self.start_block if start_block is None else start_block
        return EventScanner(
            self.w3, contracts, store, name, start_block=first, confirmations=confirmations
        )

    def game_view(self, game_id: int) -> GameView:
        """DisputeGameContract.game_view at the chain's current time."""
        return self.game.game_view(game_id, self.now())
