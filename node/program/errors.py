"""Named errors of the program layer (validation, encoding, job specs)."""

from __future__ import annotations

from node.errors import PocError


class ProgramError(PocError):
    """A program, op or tensor breaks a rule of docs/protocol.md, or a job spec on disk is not
    one (exit code as an invalid job package: the files, not the command, must change)."""

    exit_code = 11


class UnknownOpcode(ProgramError):
    pass


class UnknownDType(ProgramError):
    pass


class SlotOutOfRange(ProgramError):
    """An operand slot does not exist or is not written yet when the op runs."""


class WrongOutputSlot(ProgramError):
    """Op i must write slot nInputs + i."""


class DTypeMismatch(ProgramError):
    pass


class ShapeMismatch(ProgramError):
    pass


class AlignmentError(ProgramError):
    """cols % 32 != 0, K % 32 != 0 or C % 32 != 0."""


class OverflowRisk(ProgramError):
    """K > MAX_K: a matmul element could overflow int32."""


class FieldOutOfRange(ProgramError):
    """A field of an op (shift, clamp bounds, multiplier, ...) is outside its range."""


class ReservedBytesSet(ProgramError):
    pass


class SizeLimitExceeded(ProgramError):
    pass


class BadEncoding(ProgramError):
    """Bytes that are not a 64-byte op encoding, or a leaf of the wrong size."""


class SpecFormatError(ProgramError):
    """A job spec on disk (manifest + safetensors) is missing, malformed or of another version."""
