"""`--executor ray` settings checked without a cluster (node/compute/fleet.py): how many GPUs a
task asks for, a Ray address that is malformed or where nothing listens, and `ray` missing."""

from __future__ import annotations

import importlib
import socket
from typing import Any

import pytest

from node.compute import fleet
from node.compute.config import ComputeConfig
from node.compute.fleet import FleetError, RayFleet


class _Ray:
    def __init__(self, gpus: float) -> None:
        self.gpus = gpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 4.0, "GPU": self.gpus} if self.gpus else {"CPU": 4.0}


def _fleet(gpus: float) -> RayFleet:
    f = RayFleet.__new__(RayFleet)  # no ray.init: only the resource question is asked
    f.ray = _Ray(gpus)
    return f


@pytest.mark.parametrize(
    ("device", "cluster_gpus", "asked"),
    [("cpu", 8, 0), ("cuda", 0, 1), ("auto", 0, 0), ("auto", 2, 1)],
)
def test_a_task_asks_for_a_gpu_when_its_device_is_cuda(
    device: str, cluster_gpus: float, asked: int
) -> None:
    # Ray hides the GPUs from a worker that asked for none: cuda must ask
    assert _fleet(cluster_gpus).gpus(ComputeConfig(device=device)) == asked


def test_a_ray_address_is_checked_before_ray_init() -> None:
    with pytest.raises(FleetError, match="HOST:PORT, ray://HOST:PORT or auto"):
        fleet._check_reachable("no-port-here")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FleetError, match=f"no Ray cluster at 'ray://127.0.0.1:{port}'"):
        fleet._check_reachable(f"ray://127.0.0.1:{port}", timeout=2.0)
    fleet._check_reachable("auto")  # the cluster `ray start` wrote down: Ray reads it


def test_without_the_ray_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def no_ray(name: str, *args: Any) -> Any:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_ray)
    with pytest.raises(FleetError, match=r"pip install 'poc-node\[ray\]'") as err:
        RayFleet("local")
    assert err.value.exit_code == 3
