"""Local development services: an offline IPFS node and an anvil chain, started as child
processes that never outlive their owner."""
