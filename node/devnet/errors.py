"""Errors of local service management."""

from node.errors import PocError


class DevnetError(PocError):
    """A local service could not be found, started or stopped."""

    exit_code = 5


class ToolNotFound(DevnetError):
    """A required executable (anvil, jsipfs, node) is not installed where we look."""


class ServiceStartFailed(DevnetError):
    """A service process exited or did not answer before its start timeout. `exited` tells
    the two apart: an early exit (a port taken meanwhile, say) is worth one more try."""

    def __init__(self, message: str, exited: bool = False) -> None:
        super().__init__(message)
        self.exited = exited
