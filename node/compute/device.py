"""Choice of the torch device."""

from __future__ import annotations

import torch

from node.errors import PocError


class DeviceUnavailable(PocError):
    """--device names a device this machine does not have (a usage error)."""

    exit_code = 2


def resolve(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda asked for, but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise DeviceUnavailable(f"unknown device {device!r} (auto, cpu or cuda)")
    return torch.device(device)
