"""Persistent node state (SQLite, WAL): jobs, games, moves, pending transactions and scan
checkpoints, written with idempotent upserts so a daemon restarted at any moment resumes."""

from node.state.store import (
    PendingTx,
    StateError,
    StateInUse,
    StateOfAnotherChain,
    StateStore,
    exclusive,
)

__all__ = [
    "PendingTx",
    "StateError",
    "StateInUse",
    "StateOfAnotherChain",
    "StateStore",
    "exclusive",
]
