"""chain layer of the poc node: keystores, contract bindings from shipped ABIs, a
transaction sender that dry-runs and decodes reverts, and an event scanner with a
persisted checkpoint."""

from node.chain.errors import (
    AbiNotFound,
    ChainError,
    ChainIdMismatch,
    RpcUnreachable,
    TransactionFailed,
    TransactionReverted,
    TransactionTimeout,
)

__all__ = [
    "AbiNotFound",
    "ChainError",
    "ChainIdMismatch",
    "RpcUnreachable",
    "TransactionFailed",
    "TransactionReverted",
    "TransactionTimeout",
]
