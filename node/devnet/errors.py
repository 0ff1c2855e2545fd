"""Errors of local service management."""

from node.errors import PocError


class DevnetError(PocError):
    """A local service could not be found, started or stopped."""

    exit_code = 5


class ToolNotFound(DevnetError):
    """A required executable (anvil, jsipfs, node) is not installed where we look."""


class ServiceStartFailed(DevnetError):
    """A service process exited or did not answer before its start timeout."""
