"""poc: optimistic Proof of Compute (node, CLI, reference semantics)."""

__version__ = "0.1.0"
