"""Fixtures that start real local services (js-ipfs, anvil) for integration tests; they are
defined in node.devnet.pytest_fixtures so other test folders can use them too."""

from node.devnet.pytest_fixtures import anvil_node, anvil_snapshot, ipfs_node

__all__ = ["anvil_node", "anvil_snapshot", "ipfs_node"]
