"""Deprecated: the protocol's bindings are node.chain.contracts (Deployment and one binding per
contract). Kept only for the importers of `bind` and `protocol_decoder` (node.devnet,
node.cli.deploy_cmds, node.roles.localnet, tests/integration/test_devnet.py); delete this
module once they import from node.chain.revert / node.chain.contracts."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from node.chain.abi import ABI_DIR, load_abi
from node.chain.revert import protocol_decoder

__all__ = ["bind", "protocol_decoder"]


def bind(w3: Web3, name: str, address: str, abi_dir: Path = ABI_DIR) -> Contract:
    """The contract `name` (its shipped ABI) at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi(name, abi_dir))
