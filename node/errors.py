"""The one root exception of the package; every module raises a subclass of it."""


class PocError(Exception):
    """Root of every error poc raises on purpose. The CLI maps it to a clear message."""

    exit_code: int = 1
