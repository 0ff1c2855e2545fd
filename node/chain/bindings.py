"""Contract objects for the deployed protocol, from the ABIs shipped in node/abi/."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from node.chain.abi import ABI_DIR, all_abis, load_abi
from node.chain.revert import RevertDecoder


def bind(w3: Web3, name: str, address: str, abi_dir: Path = ABI_DIR) -> Contract:
    """The contract `name` (its shipped ABI) at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi(name, abi_dir))


def protocol_decoder(abi_dir: Path = ABI_DIR) -> RevertDecoder:
    """A decoder for the custom errors of every shipped contract (a call into JobMarket may
    revert inside StakeManager or DisputeGame, so all of them are known)."""
    return RevertDecoder(all_abis(abi_dir))
