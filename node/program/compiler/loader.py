"""Loading a user's model for `poc compile`: a .py file or an importable module that defines
either `build()` returning (model, calibration) or `model` and `calibration`, each a value or a
function of no arguments returning it; optionally `batch` (items per job). Anything else is a
ModelLoadError that says what the file defines and what it must define (REQUIRED)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from node.program.compiler.errors import ModelLoadError

REQUIRED = (
    "a model file must define either build() returning (model, calibration), or `model` and "
    "`calibration` (each a value or a function of no arguments returning it): model a "
    "torch.nn.Module, calibration a float tensor or array of example inputs [N, ...]; "
    "optionally `batch`, the items per job (an int)"
)


def load_module(ref: str) -> ModuleType:
    path = Path(ref)
    if path.suffix == ".py":
        if not path.exists():
            raise ModelLoadError(f"model file {ref} does not exist")
        spec = importlib.util.spec_from_file_location(f"poc_user_model_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {ref}")
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception as exc:  # the user's code: say where it failed, not a traceback
            raise ModelLoadError(f"{ref}: importing it raised {_said(exc)}") from exc
        return mod
    try:
        return importlib.import_module(ref)
    except ImportError as exc:
        raise ModelLoadError(f"cannot import module {ref!r}: {exc}") from exc


def load_model(ref: str) -> tuple[Any, Any, int | None]:
    """(model, calibration, batch or None): a torch.nn.Module, a float array or tensor with a
    leading item axis, and the file's `batch`."""
    mod = load_module(ref)
    if hasattr(mod, "build"):
        got = _value(ref, "build", mod.build, call=True)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise ModelLoadError(
                f"{ref}: build() returned {_kind(got)}, not a (model, calibration) pair; {REQUIRED}"
            )
        model, calib = got
    elif hasattr(mod, "model") and hasattr(mod, "calibration"):
        model = _value(ref, "model", mod.model)
        calib = _value(ref, "calibration", mod.calibration)
    else:
        has = [n for n in ("build", "model", "calibration") if hasattr(mod, n)]
        found = f"only {', '.join(has)}" if has else "none of build, model, calibration"
        raise ModelLoadError(f"{ref} defines {found}; {REQUIRED}")
    _check_model(ref, model)
    _check_calibration(ref, calib)
    return model, calib, _batch(ref, getattr(mod, "batch", None))


def _value(ref: str, name: str, obj: Any, call: bool = False) -> Any:
    """`obj`, or what it returns when it is a function or a class (a torch module instance is
    callable too, but is the value itself)."""
    import torch

    if isinstance(obj, torch.nn.Module) or not (call or callable(obj)):
        return obj
    if not callable(obj):
        raise ModelLoadError(f"{ref}: `{name}` is {_kind(obj)}, not a function; {REQUIRED}")
    try:
        inspect.signature(obj).bind()
    except TypeError:
        raise ModelLoadError(
            f"{ref}: {name}() takes arguments; it must take none and return the "
            f"{'(model, calibration) pair' if name == 'build' else name}; {REQUIRED}"
        ) from None
    except ValueError:
        pass  # no signature to read (a builtin): just call it
    try:
        return obj()
    except Exception as exc:  # the user's code
        raise ModelLoadError(f"{ref}: {name}() raised {_said(exc)}") from exc


def _check_model(ref: str, model: Any) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(
            f"{ref}: the model is {_kind(model)}, not a torch.nn.Module; {REQUIRED}"
        )


def _check_calibration(ref: str, calib: Any) -> None:
    import torch

    try:
        arr = calib.detach().cpu().numpy() if isinstance(calib, torch.Tensor) else np.asarray(calib)
    except Exception:
        arr = None
    if arr is None or arr.dtype.kind not in "biuf" or arr.ndim < 2 or arr.shape[0] == 0:
        shape = f" of shape {list(arr.shape)} and dtype {arr.dtype}" if arr is not None else ""
        raise ModelLoadError(
            f"{ref}: the calibration is {_kind(calib)}{shape}, not example inputs [N, ...] with "
            f"N >= 1; {REQUIRED}"
        )


def _batch(ref: str, batch: Any) -> int | None:
    if batch is None:
        return None
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ModelLoadError(f"{ref}: `batch` is {batch!r}; it must be a whole number >= 1")
    return int(batch)


def _kind(obj: Any) -> str:
    if inspect.isroutine(obj):
        return f"a function {getattr(obj, '__name__', '')}".rstrip()
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}".replace("builtins.", "")


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
