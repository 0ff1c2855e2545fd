"""Persistent node state (SQLite, WAL): jobs, games, moves, pending transactions and scan
checkpoints, written with idempotent upserts so a daemon restarted at any moment resumes."""

from node.state.store import PendingTx, StateError, StateStore

__all__ = ["PendingTx", "StateError", "StateStore"]
