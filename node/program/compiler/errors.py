"""Named errors of the compiler."""

from __future__ import annotations

from node.program.errors import ProgramError


class CompileError(ProgramError):
    pass


class UnsupportedLayer(CompileError):
    """A module or function the compiler cannot lower (or a graph that is not a chain)."""


class ModelLoadError(CompileError):
    """A model file does not define what `poc compile` needs."""
