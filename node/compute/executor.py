"""Executor: runs an integer tensor program with torch, bit-exactly, on CUDA or CPU.

Exact by arithmetic: on CUDA matmul is int8 x int8 -> int32 (torch._int_mm); on CPU it is fp32
GEMM over K-chunks whose integer partial sums stay <= 2^24 (exactly representable). All other
ops are integer ops (int64 where a product or sum could leave int32). The kernels are torch
ops that run the same on both devices (node/compute/kernels.py). So every device, batch
size and thread count gives the same bits, and the same roots."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from node.compute import determinism, kernels, transformer_kernels
from node.compute.commit import packed, root_of, state_tree
from node.compute.config import ComputeConfig
from node.compute.device import resolve
from node.program.constants import Opcode
from node.program.merkle import tensor_tree
from node.program.ops import Op
from node.program.program import Program
from node.program.transformer_ref import V5_OPS


class Commit(Enum):
    NONE = "none"  # plain execution (benchmark baseline)
    OUTPUT = "output"  # output tensor root only
    STATE = "state"  # every slot root, S_N, and the output's path in S_N (the claim)


@dataclass
class ExecutionResult:
    output: npt.NDArray[Any]  # int8 or int32 [M, N] of the output slot
    output_root: bytes | None = None
    state_root: bytes | None = None
    slot_roots: list[bytes] | None = None
    output_proof: list[bytes] | None = None
    slots: dict[int, torch.Tensor] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


class Executor:
    """Holds a program's constants on the device; runs it on data inputs."""

    def __init__(
        self,
        program: Program,
        constants: Mapping[int, npt.NDArray[Any]],
        config: ComputeConfig | None = None,
    ) -> None:
        self.config = config or ComputeConfig()
        determinism.configure(self.config.threads)
        self.program = program
        self.table = program.table  # validates
        self.device = resolve(self.config.device)
        self.constants = {
            s: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
            for s, a in constants.items()
        }
        self._const_roots: dict[int, bytes] = {}
        self._wf: dict[int, torch.Tensor] = {}
        self._im2col: dict[int, torch.Tensor] = {}
        self._last_use = self._last_uses()
        self._freed_after = self._frees()
        self._cpu_int8 = (
            self.device.type == "cpu"
            and self.config.cpu_int8_gemm == "auto"
            and kernels.cpu_int8_gemm_is_exact()
        )

    # ---- one op ----

    def apply(self, i: int, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """Output of op i from its operand tensors (on self.device)."""
        op = self.program.ops[i]
        code = op.opcode
        if code == Opcode.MATMUL:
            assert b is not None
            if self.device.type == "cuda":
                return kernels.matmul_cuda(a, b, op)
            if self._cpu_int8 and op.K >= self.config.cpu_int8_min_k:
                return kernels.matmul_cpu_int8(a, b, op)
            return kernels.matmul_cpu(a, self._float_weights(op, b), op, self.config.fp32_exact_k)
        if code == Opcode.ADD:
            assert b is not None
            return kernels.add(a, b, op)
        if code == Opcode.REQUANT:
            return kernels.requant(a, b, op)
        if code == Opcode.RELU:
            return kernels.relu(a, op)
        if code == Opcode.LUT:
            assert b is not None
            return kernels.lut(a, b, op)
        if code == Opcode.IM2COL:
            idx = self._im2col.get(i)
            if idx is None:
                idx = self._im2col[i] = kernels.im2col_index(op, self.device)
            return kernels.im2col(a, idx, op)
        if code == Opcode.QADD:
            assert b is not None
            return kernels.qadd(a, b, op)
        if code == Opcode.GMAX:
            return kernels.gmax(a, op)
        if code == Opcode.GSUM:
            return kernels.gsum(a, op)
        if code in V5_OPS:
            return transformer_kernels.apply(op, a, b)
        raise AssertionError(code)

    def _float_weights(self, op: Op, w: torch.Tensor) -> torch.Tensor:
        # Constant weights are converted once, as a float model keeps float weights.
        if op.b in self.constants:
            wf = self._wf.get(op.b)
            if wf is None:
                wf = self._wf[op.b] = w.reshape(op.N, op.K).to(torch.float32)
            return wf
        return w.reshape(op.N, op.K).to(torch.float32)

    # ---- whole program ----

    def input_tensors(
        self, inputs: Sequence[npt.NDArray[Any]] | Mapping[int, npt.NDArray[Any]]
    ) -> dict[int, torch.Tensor]:
        """Device tensors of every input slot: constants from self, the rest from `inputs`."""
        given = dict(enumerate(inputs)) if isinstance(inputs, Sequence) else dict(inputs)
        out: dict[int, torch.Tensor] = {}
        for s in range(self.program.n_inputs):
            if s in self.constants:
                out[s] = self.constants[s]
            else:
                out[s] = torch.from_numpy(np.ascontiguousarray(given[s])).to(self.device)
        return out

    def run(
        self,
        inputs: Sequence[npt.NDArray[Any]] | Mapping[int, npt.NDArray[Any]],
        commit: Commit = Commit.STATE,
        keep: bool = False,
    ) -> ExecutionResult:
        prog = self.program
        t0 = time.perf_counter()
        slots: dict[int, torch.Tensor] = self.input_tensors(inputs)
        state = commit == Commit.STATE
        # Each slot is hashed as soon as it exists (the hashing itself is multi-threaded in C),
        # so that its tensor can be freed right after its last use.
        roots: dict[int, bytes] = (
            {s: self._input_root(s, t) for s, t in slots.items()} if state else {}
        )
        hash_s = time.perf_counter() - t0 if state else 0.0
        for i, op in enumerate(prog.ops):
            out = self.apply(i, slots[op.a], slots.get(op.b))
            slots[op.out] = out
            if state:
                th = time.perf_counter()
                roots[op.out] = root_of(out)
                hash_s += time.perf_counter() - th
            if not keep:
                self._free(slots, i)
        out_t = slots[prog.output_slot]
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        res = ExecutionResult(output=out_t.cpu().numpy())
        if commit == Commit.OUTPUT:
            th = time.perf_counter()
            res.output_root = tensor_tree(packed(out_t), self.table[prog.output_slot].dtype).root
            hash_s = time.perf_counter() - th
        elif state:
            slot_roots = [roots[s] for s in range(prog.n_slots)]
            tree = state_tree(slot_roots)
            res.slot_roots = slot_roots
            res.state_root = tree.root
            res.output_root = slot_roots[prog.output_slot]
            res.output_proof = tree.proof(prog.output_slot)
        res.seconds["total"] = time.perf_counter() - t0
        res.seconds["commit"] = hash_s
        if keep:
            res.slots = slots
        return res

    def _input_root(self, slot: int, t: torch.Tensor) -> bytes:
        # Constants are hashed once per executor; the data input every run.
        if slot in self._const_roots:
            return self._const_roots[slot]
        r = root_of(t)
        if slot in self.constants:
            self._const_roots[slot] = r
        return r

    def _free(self, slots: dict[int, torch.Tensor], i: int) -> None:
        """Drop the tensors op i was the last to read, and its own output if nothing reads it
        (its root is already taken). Each slot once: an op may read one slot as both operands
        (`matmul(q, q)`, `add(m, m)`). Constants and the output slot stay."""
        op = self.program.ops[i]
        for s in self._freed_after[i]:
            slots.pop(s, None)
        if op.out not in self._last_use and op.out != self.program.output_slot:
            slots.pop(op.out, None)

    def _operands(self, i: int) -> tuple[int, ...]:
        """The distinct slots op i reads (one entry when a == b)."""
        op = self.program.ops[i]
        reads = [op.a]
        if 0 <= op.b < self.program.n_slots and op.b != op.a:
            reads.append(op.b)
        return tuple(reads)

    def _last_uses(self) -> dict[int, int]:
        last: dict[int, int] = {}
        for i in range(len(self.program.ops)):
            for s in self._operands(i):
                last[s] = i
        return last

    def _frees(self) -> list[tuple[int, ...]]:
        """Per op, the distinct slots whose last reader it is and that may be freed then."""
        keep = set(self.constants) | {self.program.output_slot}
        out: list[tuple[int, ...]] = [() for _ in self.program.ops]
        for s, i in self._last_use.items():
            if s not in keep:
                out[i] += (s,)
        return out
