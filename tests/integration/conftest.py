"""Fixtures that start real local services (js-ipfs, anvil, the deployed protocol) for
integration tests; they are defined in node.devnet.pytest_fixtures so that other test folders
can use them too."""

from node.devnet.pytest_fixtures import (
    anvil_node,
    anvil_snapshot,
    ipfs_node,
    protocol_deployment,
)

__all__ = ["anvil_node", "anvil_snapshot", "ipfs_node", "protocol_deployment"]
