"""Contract objects for the deployed protocol, from the ABIs shipped in node/abi/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from web3 import Web3
from web3.contract import Contract

from node.chain.abi import ABI_DIR, all_abis, load_abi
from node.chain.errors import ChainError
from node.chain.revert import RevertDecoder

if TYPE_CHECKING:
    from node.chain.scanner import CheckpointStore, EventScanner
    from node.config.settings import ContractAddresses


def bind(w3: Web3, name: str, address: str, abi_dir: Path = ABI_DIR) -> Contract:
    """The contract `name` (its shipped ABI) at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi(name, abi_dir))


def protocol_decoder(abi_dir: Path = ABI_DIR) -> RevertDecoder:
    """A decoder for the custom errors of every shipped contract (a call into JobMarket may
    revert inside StakeManager or DisputeGame, so all of them are known)."""
    return RevertDecoder(all_abis(abi_dir))


@dataclass(frozen=True)
class Protocol:
    """The deployed protocol contracts, bound, with a decoder for all their errors."""

    w3: Web3
    market: Contract
    stakes: Contract
    game: Contract
    step: Contract | None
    decoder: RevertDecoder

    @classmethod
    def bind(cls, w3: Web3, addresses: ContractAddresses, abi_dir: Path = ABI_DIR) -> Protocol:
        required = {
            "job_market": addresses.job_market,
            "stake_manager": addresses.stake_manager,
            "dispute_game": addresses.dispute_game,
        }
        missing = [key for key, value in required.items() if value is None]
        if missing:
            raise ChainError(
                f"contract addresses not configured: {', '.join(missing)} "
                "(set them in the config file or POC_CONTRACTS__<NAME>)"
            )
        assert addresses.job_market and addresses.stake_manager and addresses.dispute_game
        step = addresses.tensor_step
        return cls(
            w3=w3,
            market=bind(w3, "JobMarket", addresses.job_market, abi_dir),
            stakes=bind(w3, "StakeManager", addresses.stake_manager, abi_dir),
            game=bind(w3, "DisputeGame", addresses.dispute_game, abi_dir),
            step=bind(w3, "TensorStep", step, abi_dir) if step else None,
            decoder=protocol_decoder(abi_dir),
        )

    def scanner(
        self,
        store: CheckpointStore,
        name: str,
        start_block: int = 0,
        confirmations: int = 0,
    ) -> EventScanner:
        """A scanner over the events of JobMarket, StakeManager and DisputeGame."""
        from node.chain.scanner import EventScanner

        contracts = {"market": self.market, "stakes": self.stakes, "game": self.game}
        return EventScanner(
            self.w3, contracts, store, name, start_block=start_block, confirmations=confirmations
        )
