"""Executions and trace queries on a Ray cluster (`--executor ray`): one process holds the key
and talks to the chain, the cluster's workers compute.

- A job's claim (plain execution plus the state commitments: S_N, the output root and its path,
  the packed output) is one Ray task. A worker lost while it runs is retried on another worker
  (`max_retries`): the task is a pure function of the package, so a retry returns the same bytes.
- A game's trace (node.trace.lazy.TraceProvider: intermediate values, Merkle nodes, step
  witnesses) lives in a Ray actor; `RemoteTrace` forwards each query to it. A lost actor is
  restarted on another worker and the query retried (`max_restarts`, `max_task_retries`): the
  trace is lazy and deterministic, so the new actor recomputes what the query needs and answers
  the same bytes.

`ray` is an optional dependency (`pip install 'poc-node[ray]'`); nothing imports it unless a
daemon is started with `--executor ray`."""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from node.compute.config import ComputeConfig
from node.errors import PocError
from node.program.program import Program
from node.program.spec import JobSpec
from node.trace.lazy import TraceProvider

log = logging.getLogger(__name__)

RETRIES = 3  # a task or an actor call survives this many lost workers
# the TraceProvider queries the game's solver and the roles make; each runs in the actor
FORWARDED = (
    "tensor", "values", "tree", "root", "state_tree", "state_root", "state_proof",
    "op_output_root", "program_proof", "node", "children", "leaf", "leaf_witness",
    "group_witness", "partial_sums", "step_witness",
)  # fmt: skip


class FleetError(PocError):
    """The Ray executor cannot be used (ray missing, no cluster at the address, a task that
    failed on every worker it was retried on)."""

    exit_code = 3


@dataclass(frozen=True)
class Claimed:
    """A job's claim as its execution gives it (node.roles.work.ResultClaim)."""

    s_n: bytes
    output_root: bytes
    output_proof: tuple[bytes, ...]
    output: bytes  # the output tensor, packed (protocol.md §2): what the poster downloads


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise FleetError(
            "--executor ray needs the `ray` package: pip install 'poc-node[ray]'"
        ) from None


def execute_claim(spec: JobSpec, inputs: list[npt.NDArray[Any]], config: ComputeConfig) -> Claimed:
    """The claim's execution, as a worker runs it (also callable in process)."""
    from node.compute.executor import Commit, Executor
    from node.program.packing import pack

    prog = spec.program
    res = Executor(prog, spec.constants, config).run(inputs, Commit.STATE)
    assert res.state_root and res.output_root and res.output_proof is not None
    dtype = prog.spec(prog.output_slot).dtype
    return Claimed(
        res.state_root,
        res.output_root,
        tuple(res.output_proof),
        pack(res.output.reshape(-1), dtype),
    )


class TraceHost:
    """The actor's body: one job's lazy trace, answering queries by name."""

    def __init__(
        self, program: Program, inputs: Mapping[int, npt.NDArray[Any]], config: ComputeConfig
    ) -> None:
        self.trace = TraceProvider(program, inputs, config)

    def call(self, name: str, *args: Any) -> Any:
        if name not in FORWARDED:
            raise FleetError(f"{name!r} is not a trace query")
        return getattr(self.trace, name)(*args)

    def pid(self) -> int:
        import os

        return os.getpid()


class RemoteTrace(TraceProvider):
    """A TraceProvider whose queries run in a Ray actor (the program stays here: the solver
    reads it locally)."""

    def __init__(
        self, fleet: RayFleet, actor: Any, program: Program, config: ComputeConfig
    ) -> None:
        # no super().__init__: the tensors, trees and executor live in the actor
        self.fleet, self.actor = fleet, actor
        self.program, self.config = program, config
        self.n_inputs = program.n_inputs

    def _query(self, name: str, *args: Any) -> Any:
        return self.fleet.get(self.actor.call.remote(name, *args), f"trace query {name}")


def _forward(name: str) -> Callable[..., Any]:
    def query(self: RemoteTrace, *args: Any) -> Any:
        return self._query(name, *args)

    query.__name__ = name
    query.__doc__ = f"TraceProvider.{name}, answered by the actor."
    return query


for _name in FORWARDED:
    setattr(RemoteTrace, _name, _forward(_name))


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """ray.init retries an address that does not answer for minutes: refuse it at once."""
    if address == "auto":
        return  # the cluster this machine's `ray start` wrote down
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise FleetError(f"Ray address {address!r}: HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout).close()
    except OSError as exc:
        raise FleetError(f"no Ray cluster at {address!r}: {exc}") from exc


class RayFleet:
    """A connection to a Ray cluster (`address` None or "local": a Ray started in this process
    with `num_cpus` CPUs, for a single machine and the tests)."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.ray = _ray()
        if not self.ray.is_initialized():
            local = address in (None, "", "local")
            if not local:
                _check_reachable(str(address))
            try:
                self.ray.init(
                    address=None if local else address,
                    num_cpus=num_cpus if local else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise FleetError(f"no Ray cluster at {address!r}: {exc}") from exc
        remote = self.ray.remote
        self._claim = remote(max_retries=RETRIES, retry_exceptions=False)(execute_claim)
        self._host = remote(max_restarts=RETRIES, max_task_retries=RETRIES)(TraceHost)
        self.address = address or "local"

    def describe(self) -> str:
        cpus = self.ray.cluster_resources().get("CPU", 0)
        return f"ray {self.address} ({len(self.ray.nodes())} node(s), {cpus:g} CPUs)"

    def get(self, ref: Any, what: str) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            # a PocError raised on the worker comes back as its cause: keep its meaning
            cause = getattr(exc, "cause", None)
            if isinstance(cause, PocError):
                raise cause from exc
            raise FleetError(f"{what} failed on the cluster: {exc}") from exc

    def gpus(self, config: ComputeConfig) -> int:
        """GPUs a task or actor asks for: Ray hides the GPUs from a worker that asked for none,
        so `--device cuda` (or auto, on a cluster that has GPUs) must ask for one."""
        if config.device == "cpu":
            return 0
        if config.device == "cuda":
            return 1
        return 1 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0

    def start_claim(
        self, spec: JobSpec, inputs: list[npt.NDArray[Any]], config: ComputeConfig
    ) -> Any:
        """Send the execution to the cluster and return at once (a Ray object reference):
        a daemon starts every claimed job's execution, then submits each as it is ready."""
        return self._claim.options(num_gpus=self.gpus(config)).remote(spec, inputs, config)

    def ready(self, ref: Any) -> bool:
        done, _ = self.ray.wait([ref], timeout=0)
        return bool(done)

    def result(self, ref: Any) -> Claimed:
        claimed: Claimed = self.get(ref, "the execution")
        return claimed

    def claim(
        self, spec: JobSpec, inputs: list[npt.NDArray[Any]], config: ComputeConfig
    ) -> Claimed:
        return self.result(self.start_claim(spec, inputs, config))

    def trace(
        self, program: Program, inputs: Mapping[int, npt.NDArray[Any]], config: ComputeConfig
    ) -> RemoteTrace:
        actor = self._host.options(num_gpus=self.gpus(config)).remote(program, dict(inputs), config)
        return RemoteTrace(self, actor, program, config)

    def shutdown(self) -> None:
        self.ray.shutdown()
