"""Lazy trace provider: everything the dispute game asks of a computation, on demand.

For a program and its inputs it answers: state roots S_i, tensor roots, the 2^m descendants of
any node of any slot's tensor tree, leaf bytes and proofs, matmul partial sums at chunk
boundaries, and the operand leaves with proofs for one step. Tensors, trees and roots are
computed when first asked and cached within a memory budget; evicted tensors are recomputed
from their operands (which is exact, so recomputation gives the same bits).

Node addressing: (level, index), level 0 = the leaf nodes, level `depth` = the root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from node.compute.commit import packed, state_tree
from node.compute.config import ComputeConfig
from node.compute.executor import Executor
from node.program.constants import LEAF_ELEMS, REDUCTION_OPS, Opcode
from node.program.errors import ProgramError
from node.program.merkle import MerkleTree, multi_proof, tensor_tree
from node.program.program import Program
from node.program.reference import (
    elementwise_leaf_indices,
    group_leaf_indices,
    matmul_leaf_indices,
    step_elementwise,
    step_matmul,
)
from node.program.transformer_ref import gather_table_leaf, reduce_states, step_reduce
from node.trace.cache import ByteBudgetCache


class TraceQueryError(ProgramError):
    """A query names an op, slot, node, leaf, element or chunk that does not exist."""


@dataclass(frozen=True)
class LeafWitness:
    slot: int
    leaf_index: int  # gmax / gsum: the first of the G leaves
    leaf: bytes  # gmax / gsum: the G leaves concatenated
    siblings: list[bytes]  # against the slot's tensor root; gmax / gsum: their multiproof


@dataclass(frozen=True)
class StepWitness:
    """What the challenger supplies for one step, and what the step must give."""

    op_index: int
    leaf_index: int
    a: LeafWitness | None  # None: im2col padded position, or a padding output leaf
    b: LeafWitness | None  # lut: the whole 256-byte table (proof empty: it hashes to the root)
    expected_leaf: bytes | None = None  # elementwise
    elem: int | None = None  # matmul
    chunk: int | None = None
    prev: int | None = None
    next: int | None = None


class TraceProvider:
    def __init__(
        self,
        program: Program,
        inputs: Mapping[int, npt.NDArray[Any]],
        config: ComputeConfig | None = None,
    ) -> None:
        self.config = config or ComputeConfig()
        self.program = program
        self.n_inputs = program.n_inputs
        missing = set(range(self.n_inputs)) - set(inputs)
        if missing:
            raise TraceQueryError(f"input slots {sorted(missing)} not given")
        self.executor = Executor(program, inputs, self.config)
        budget = self.config.memory_budget
        self._tensors: ByteBudgetCache[int, torch.Tensor] = ByteBudgetCache(
            budget // 2, lambda t: t.numel() * t.element_size()
        )
        self._trees: ByteBudgetCache[int, MerkleTree] = ByteBudgetCache(
            budget // 2, lambda tr: sum(len(lv) for lv in tr.levels)
        )
        self._roots: dict[int, bytes] = {}
        self._state_trees: dict[int, MerkleTree] = {}

    # ---- tensors ----

    def tensor(self, slot: int) -> torch.Tensor:
        self._check_slot(slot)
        if slot < self.n_inputs:
            return self.executor.constants[slot]
        hit = self._tensors.get(slot)
        if hit is not None:
            return hit
        # Find the missing ancestors and compute them in slot order (SSA: operands come first).
        need: set[int] = set()
        stack = [slot]
        while stack:
            s = stack.pop()
            if s < self.n_inputs or s in need or s in self._tensors:
                continue
            need.add(s)
            op = self.program.ops[s - self.n_inputs]
            stack.extend(x for x in (op.a, op.b) if x < self.program.n_slots)
        local: dict[int, torch.Tensor] = {}

        def get(s: int) -> torch.Tensor | None:
            if s >= self.program.n_slots:
                return None
            if s in local:
                return local[s]
            return self.tensor(s)  # an input or a cached slot: no further recursion

        for s in sorted(need):
            i = s - self.n_inputs
            op = self.program.ops[i]
            a = get(op.a)
            assert a is not None
            local[s] = self.executor.apply(i, a, get(op.b))
            self._tensors.put(s, local[s])
        return local[slot]

    def values(self, slot: int) -> npt.NDArray[Any]:
        return self.tensor(slot).cpu().numpy()

    # ---- commitments ----

    def tree(self, slot: int) -> MerkleTree:
        hit = self._trees.get(slot)
        if hit is None:
            hit = tensor_tree(packed(self.tensor(slot)), self.program.spec(slot).dtype)
            self._trees.put(slot, hit)
            self._roots[slot] = hit.root
        return hit

    def root(self, slot: int) -> bytes:
        r = self._roots.get(slot)
        if r is None:
            r = self.tree(slot).root
        return r

    def state_tree(self, i: int) -> MerkleTree:
        """Tree of S_i: slots 0 .. nInputs + i - 1 set, the rest zero."""
        if not 0 <= i <= len(self.program.ops):
            raise TraceQueryError(f"S_{i} does not exist (program has {len(self.program.ops)} ops)")
        t = self._state_trees.get(i)
        if t is None:
            n_set = self.n_inputs + i
            t = state_tree(
                [self.root(s) if s < n_set else None for s in range(self.program.n_slots)]
            )
            self._state_trees[i] = t
        return t

    def state_root(self, i: int) -> bytes:
        return self.state_tree(i).root

    def state_proof(self, i: int, slot: int) -> list[bytes]:
        self._check_slot(slot)
        return self.state_tree(i).proof(slot)

    def op_output_root(self, op_index: int) -> bytes:
        return self.root(self._op_slot(op_index))

    def program_proof(self, op_index: int) -> tuple[bytes, list[bytes]]:
        """(64-byte encoding, sibling path to the ops root: the program root's ops half)."""
        self._op_slot(op_index)
        return self.program.ops[op_index].encode(), self.program.ops_tree().proof(op_index)

    # ---- tensor level ----

    def node(self, slot: int, level: int, index: int) -> bytes:
        try:
            return self.tree(slot).node(level, index)
        except IndexError as exc:
            raise TraceQueryError(str(exc)) from None

    def children(self, slot: int, level: int, index: int, m: int) -> list[bytes]:
        """The 2^m nodes m levels below node (level, index) of the slot's tensor tree."""
        tree = self.tree(slot)
        if m < 1 or level - m < 0:
            raise TraceQueryError(f"cannot go {m} levels below level {level}")
        self.node(slot, level, index)
        return tree.nodes(level - m, index << m, 1 << m)

    def leaf(self, slot: int, j: int) -> bytes:
        spec = self.program.spec(slot)
        if not 0 <= j < (1 << self.tree(slot).depth):
            raise TraceQueryError(f"leaf {j} outside slot {slot}'s tree")
        if j >= spec.n_leaves:
            return bytes(spec.dtype.leaf_bytes)
        flat = self.tensor(slot).reshape(-1)[j * LEAF_ELEMS : (j + 1) * LEAF_ELEMS]
        return packed(flat)

    def leaf_witness(self, slot: int, j: int) -> LeafWitness:
        return LeafWitness(slot, j, self.leaf(slot, j), self.tree(slot).proof(j))

    def group_witness(self, slot: int, indices: list[int]) -> LeafWitness:
        """The leaves at `indices` (increasing) concatenated, with their one multiproof
        (protocol.md section 5): what a gmax / gsum step reads."""
        leaves = b"".join(self.leaf(slot, i) for i in indices)
        return LeafWitness(slot, indices[0], leaves, multi_proof(self.tree(slot), indices))

    # ---- reduction level and one step ----

    def partial_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]:
        """P_0 = 0, ..., P_{K/32} (= the element) of a matmul or reduce output element (reduce:
        the kind's states, section 5)."""
        op = self._reduction(op_index)
        m, n = self._element(op_index, leaf_index, elem)
        if op.opcode == Opcode.REDUCE:
            row = self.tensor(op.a).reshape(op.M, op.K)[m].to(torch.int64).cpu()
            return reduce_states(op, [int(v) for v in row], m, elem)
        a = self.tensor(op.a).reshape(op.M, op.K)[m].to(torch.int64).cpu()
        w = self.tensor(op.b).reshape(op.N, op.K)[n].to(torch.int64).cpu()
        chunks = (a * w).reshape(-1, LEAF_ELEMS).sum(dim=1)
        return [0] + [int(v) for v in torch.cumsum(chunks, 0)]

    def step_witness(
        self, op_index: int, leaf_index: int, elem: int | None = None, chunk: int | None = None
    ) -> StepWitness:
        slot = self._op_slot(op_index)
        op = self.program.ops[op_index]
        if op.opcode in REDUCTION_OPS and leaf_index < op.out_spec.n_leaves:
            if elem is None or chunk is None:
                raise TraceQueryError(f"a {op.name} step needs elem and chunk")
            if not 0 <= chunk < op.K // LEAF_ELEMS:
                raise TraceQueryError(f"chunk {chunk} outside 0..{op.K // LEAF_ELEMS - 1}")
            self._element(op_index, leaf_index, elem)
            if op.opcode == Opcode.REDUCE:
                rw = self.leaf_witness(op.a, (leaf_index * op.K + LEAF_ELEMS * chunk) // LEAF_ELEMS)
                prev = self.partial_sums(op_index, leaf_index, elem)[chunk]
                nxt = step_reduce(op, leaf_index, elem, chunk, rw.leaf, prev)
                return StepWitness(
                    op_index, leaf_index, rw, None, elem=elem, chunk=chunk, prev=prev, next=nxt
                )
            ai, wi = matmul_leaf_indices(op, leaf_index, elem, chunk)
            a, w = self.leaf_witness(op.a, ai), self.leaf_witness(op.b, wi)
            prev = self.partial_sums(op_index, leaf_index, elem)[chunk]
            return StepWitness(
                op_index,
                leaf_index,
                a,
                w,
                elem=elem,
                chunk=chunk,
                prev=prev,
                next=step_matmul(a.leaf, w.leaf, prev),
            )
        n_leaves = op.out_spec.n_leaves
        if not 0 <= leaf_index < (1 << self.tree(slot).depth):
            raise TraceQueryError(f"leaf {leaf_index} outside op {op_index}'s output tree")
        aw: LeafWitness | None = None
        bw: LeafWitness | None = None
        if leaf_index < n_leaves and op.opcode in (Opcode.GMAX, Opcode.GSUM):
            aw = self.group_witness(op.a, group_leaf_indices(op, leaf_index))
        elif leaf_index < n_leaves and op.opcode == Opcode.GATHER:
            bw = self.leaf_witness(op.b, leaf_index * LEAF_ELEMS // op.N)
            aw = self.leaf_witness(op.a, gather_table_leaf(op, leaf_index, bw.leaf))
        elif leaf_index < n_leaves and op.opcode not in REDUCTION_OPS:
            ea, eb = elementwise_leaf_indices(op, leaf_index)
            aw = self.leaf_witness(op.a, ea) if ea is not None else None
            if eb is not None:
                if op.opcode == Opcode.LUT:
                    bw = LeafWitness(op.b, 0, packed(self.tensor(op.b).reshape(-1)), [])
                else:
                    bw = self.leaf_witness(op.b, eb)
        expected = step_elementwise(
            op, leaf_index, n_leaves, aw.leaf if aw else None, bw.leaf if bw else None
        )
        return StepWitness(op_index, leaf_index, aw, bw, expected_leaf=expected)

    # ---- checks ----

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.program.n_slots:
            raise TraceQueryError(f"slot {slot} does not exist ({self.program.n_slots} slots)")

    def _op_slot(self, op_index: int) -> int:
        if not 0 <= op_index < len(self.program.ops):
            raise TraceQueryError(f"op {op_index} does not exist ({len(self.program.ops)} ops)")
        return self.n_inputs + op_index

    def _reduction(self, op_index: int) -> Any:
        self._op_slot(op_index)
        op = self.program.ops[op_index]
        if op.opcode not in REDUCTION_OPS:
            raise TraceQueryError(f"op {op_index} is {op.name}, not matmul or reduce")
        return op

    def _element(self, op_index: int, leaf_index: int, elem: int) -> tuple[int, int]:
        op = self._reduction(op_index)
        if not 0 <= elem < LEAF_ELEMS or not 0 <= leaf_index < op.out_spec.n_leaves:
            raise TraceQueryError(f"no element {elem} of leaf {leaf_index} in op {op_index}")
        return divmod(leaf_index * LEAF_ELEMS + elem, op.N)


def provider_for_spec(
    spec: Any, data: npt.NDArray[np.int8], config: ComputeConfig | None = None
) -> TraceProvider:
    """A provider for a JobSpec (node.program.spec) run on int8 data."""
    return TraceProvider(spec.program, dict(enumerate(spec.input_values(data))), config)
