"""Loading a user's model for `poc compile`: a .py file or an importable module that defines
either `build()` returning (model, calibration) or the attributes `model` and `calibration`;
optionally `batch` (items per job)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from node.program.compiler.errors import ModelLoadError


def load_module(ref: str) -> ModuleType:
    path = Path(ref)
    if path.suffix == ".py":
        if not path.exists():
            raise ModelLoadError(f"model file {ref} does not exist")
        spec = importlib.util.spec_from_file_location(f"poc_user_model_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {ref}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    try:
        return importlib.import_module(ref)
    except ImportError as exc:
        raise ModelLoadError(f"cannot import module {ref!r}: {exc}") from exc


def load_model(ref: str) -> tuple[Any, Any, int | None]:
    """(model, calibration, batch or None)."""
    mod = load_module(ref)
    if hasattr(mod, "build"):
        got = mod.build()
        if not (isinstance(got, tuple) and len(got) == 2):
            raise ModelLoadError(f"{ref}: build() must return (model, calibration)")
        model, calib = got
    elif hasattr(mod, "model") and hasattr(mod, "calibration"):
        model, calib = mod.model, mod.calibration
    else:
        raise ModelLoadError(f"{ref} defines neither build() nor model and calibration")
    batch = getattr(mod, "batch", None)
    return model, calib, int(batch) if batch is not None else None
