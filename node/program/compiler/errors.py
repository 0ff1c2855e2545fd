"""Named errors of the compiler."""

from __future__ import annotations

from node.program.errors import ProgramError


class CompileError(ProgramError):
    """`poc compile` cannot load or lower the model (its own exit code: the model file, not a
    job spec, must change)."""

    exit_code = 17


class UnsupportedLayer(CompileError):
    """A module or function the compiler cannot lower (or a graph that is not a chain)."""


class ModelLoadError(CompileError):
    """A model file does not define what `poc compile` needs."""
