"""Errors of the content store."""

from node.errors import PocError


class StorageError(PocError):
    """A content store operation failed."""

    exit_code = 6


class StorageUnreachable(StorageError):
    """The store's backend (the IPFS API) does not answer."""


class ContentUnavailable(StorageError):
    """No content for this CID could be retrieved within the timeout."""


class InvalidCid(StorageError):
    """The string is not a CID this store understands."""


class ContentMismatch(StorageError):
    """Bytes retrieved for a CID do not hash to that CID."""
