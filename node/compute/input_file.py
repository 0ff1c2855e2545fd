"""Reading the input array a user names with `--input` (`poc run`, `poc job post`): a .npy file
or a .safetensors file of numbers. Whatever else it is gets an error that says what the file
is and how to write a good one, not numpy's words about pickles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.errors import PocError

SUFFIXES = (".npy", ".safetensors")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_HOW = "write it with numpy.save(path, array) or safetensors.numpy.save_file"


class InputFileError(PocError):
    """The `--input` file is not an array of numbers poc can read (a usage error)."""

    exit_code = 2


def read_array(path: Path) -> npt.NDArray[Any]:
    """The numeric array in `path` (.npy, or .safetensors: the tensor `x`, else its only one)."""
    if path.suffix not in SUFFIXES:
        raise InputFileError(
            f"input {path}: a {path.suffix or 'suffix-less'} file; the input must be .npy or "
            f".safetensors ({_HOW})"
        )
    arr = _safetensors(path) if path.suffix == ".safetensors" else _npy(path)
    if arr.dtype.kind not in "biuf":
        raise InputFileError(f"input {path} holds {arr.dtype} values, not numbers ({_HOW})")
    if arr.ndim == 0 or arr.size == 0:
        raise InputFileError(f"input {path} is an empty or 0-d array of shape {arr.shape}")
    return arr


def _npy(path: Path) -> npt.NDArray[Any]:
    with path.open("rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head.startswith(_ZIP_MAGIC):
        raise InputFileError(
            f"input {path} is a zip archive (an .npz of several arrays?), not one .npy array; "
            f"{_HOW}"
        )
    if head != _NPY_MAGIC:
        raise InputFileError(
            f"input {path} is not a .npy file (it lacks the .npy header: text, CSV or a pickle?); "
            f"{_HOW}"
        )
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # an object array: Python objects, never unpickled
            raise InputFileError(
                f"input {path} holds Python objects, not numbers; {_HOW} from a numeric array"
            ) from None
        raise InputFileError(f"input {path} is a truncated or corrupt .npy file: {exc}") from None


def _safetensors(path: Path) -> npt.NDArray[Any]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputFileError(f"input {path} is not a readable .safetensors file: {exc}") from None
    if "x" in tensors:
        return tensors["x"]
    if len(tensors) != 1:
        names = ", ".join(sorted(tensors)) or "none"
        raise InputFileError(
            f"input {path} holds the tensors {names}: name the input tensor `x` or keep only one"
        )
    return next(iter(tensors.values()))
