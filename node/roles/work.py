"""One job's computation as a role holds it: the verified package, the claim it computes
(S_N, output root and its proof, the packed output) and, once a game needs it, the lazy trace.

The claim comes from the executor (plain execution plus commitments, the fast honest path);
the trace provider is built only when a dispute asks for intermediate values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from node.chain.contracts.job_market import JobParams
from node.compute.config import ComputeConfig
from node.compute.fleet import Claimed as ResultClaim
from node.compute.fleet import execute_claim
from node.program.packing import pack
from node.program.program import Program
from node.roles.package import JobPackage
from node.storage.base import ContentStore
from node.trace.lazy import TraceProvider

if TYPE_CHECKING:
    from node.compute.fleet import RayFleet

# Builds the trace a role plays from. Given one, the role also takes its claim from that trace
# instead of the plain executor: the trace is then the authority on what the result is.
TraceFactory = Callable[[Program, Mapping[int, npt.NDArray[Any]], ComputeConfig], TraceProvider]


class JobWork:
    def __init__(
        self,
        package: JobPackage,
        compute: ComputeConfig | None = None,
        trace_factory: TraceFactory | None = None,
        fleet: RayFleet | None = None,
    ) -> None:
        self.package = package
        self.compute = compute or ComputeConfig()
        self.trace_factory = trace_factory
        self.fleet = fleet  # executions and trace queries on a Ray cluster (node.compute.fleet)
        self._trace: TraceProvider | None = None
        self._running: Any = None  # the fleet's execution, once started
        self._claimed: ResultClaim | None = None

    @classmethod
    def fetch(
        cls,
        store: ContentStore,
        locator: str,
        params: JobParams,
        workdir: Path,
        compute: ComputeConfig | None = None,
        trace_factory: TraceFactory | None = None,
        timeout: float | None = None,
        fleet: RayFleet | None = None,
    ) -> JobWork:
        """Download (or reuse the copy in `workdir`) and check against the on-chain roots."""
        if (workdir / "package.json").exists():
            package = JobPackage.load(workdir)
        else:
            package = JobPackage.download(store, locator, workdir, timeout=timeout)
        package.check_against(params)
        return cls(package, compute, trace_factory, fleet)

    @property
    def trace(self) -> TraceProvider:
        if self._trace is None:
            spec = self.package.spec
            inputs = dict(enumerate(spec.input_values(self.package.data)))
            build: TraceFactory = self.trace_factory or (
                self.fleet.trace if self.fleet is not None else TraceProvider
            )
            self._trace = build(spec.program, inputs, self.compute)
        return self._trace

    def ready(self) -> bool:
        """Whether `claim()` returns without waiting: always in process; on a fleet, once the
        execution (started by the first call) has finished."""
        if self.fleet is None or self.trace_factory is not None or self._claimed is not None:
            return True
        if self._running is None:
            spec = self.package.spec
            self._running = self.fleet.start_claim(
                spec, spec.input_values(self.package.data), self.compute
            )
        return self.fleet.ready(self._running)

    def claim(self) -> ResultClaim:
        """The result to claim, computed once (commit and reveal, submit and retry read it)."""
        if self._claimed is None:
            self._claimed = self._compute_claim()
        return self._claimed

    def _compute_claim(self) -> ResultClaim:
        prog = self.package.spec.program
        out_slot = prog.output_slot
        dtype = prog.spec(out_slot).dtype
        if self.trace_factory is not None:
            t = self.trace
            n = len(prog.ops)
            values = t.values(out_slot).reshape(-1)
            return ResultClaim(
                t.state_root(n),
                t.root(out_slot),
                tuple(t.state_proof(n, out_slot)),
                pack(values, dtype),
            )
        spec = self.package.spec
        if self.fleet is not None:
            self.ready()  # started, if it was not
            return self.fleet.result(self._running)
        return execute_claim(spec, spec.input_values(self.package.data), self.compute)
