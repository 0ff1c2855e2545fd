"""One job's computation as a role holds it: the verified package, the claim it computes
(S_N, output root and its proof, the packed output) and, once a game needs it, the lazy trace.

The claim comes from the executor (plain execution plus commitments, the fast honest path);
the trace provider is built only when a dispute asks for intermediate values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from node.chain.contracts.job_market import JobParams
from node.compute.config import ComputeConfig
from node.program.packing import pack
from node.program.program import Program
from node.roles.package import JobPackage
from node.storage.base import ContentStore
from node.trace.lazy import TraceProvider

# Builds the trace a role plays from. Given one, the role also takes its claim from that trace
# instead of the plain executor: the trace is then the authority on what the result is.
TraceFactory = Callable[[Program, Mapping[int, npt.NDArray[Any]], ComputeConfig], TraceProvider]


@dataclass(frozen=True)
class ResultClaim:
    s_n: bytes
    output_root: bytes
    output_proof: tuple[bytes, ...]
    output: bytes  # the output tensor, packed (protocol.md §2): what the poster downloads


class JobWork:
    def __init__(
        self,
        package: JobPackage,
        compute: ComputeConfig | None = None,
        trace_factory: TraceFactory | None = None,
    ) -> None:
        self.package = package
        self.compute = compute or ComputeConfig()
        self.trace_factory = trace_factory
        self._trace: TraceProvider | None = None

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
    ) -> JobWork:
        """Download (or reuse the copy in `workdir`) and check against the on-chain roots."""
        if (workdir / "package.json").exists():
            package = JobPackage.load(workdir)
        else:
            package = JobPackage.download(store, locator, workdir, timeout=timeout)
        package.check_against(params)
        return cls(package, compute, trace_factory)

    @property
    def trace(self) -> TraceProvider:
        if self._trace is None:
            spec = self.package.spec
            inputs = dict(enumerate(spec.input_values(self.package.data)))
            build = self.trace_factory or TraceProvider
            self._trace = build(spec.program, inputs, self.compute)
        return self._trace

    def claim(self) -> ResultClaim:
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
        from node.compute.executor import Commit, Executor

        spec = self.package.spec
        ex = Executor(prog, spec.constants, self.compute)
        res = ex.run(spec.input_values(self.package.data), Commit.STATE)
        assert res.state_root and res.output_root and res.output_proof is not None
        return ResultClaim(
            res.state_root,
            res.output_root,
            tuple(res.output_proof),
            pack(res.output.reshape(-1), dtype),
        )
