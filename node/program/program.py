"""An integer tensor program: the input slots (data and constants) and one SSA slot per op."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.program.constants import MAX_SLOTS
from node.program.errors import SizeLimitExceeded, SlotOutOfRange
from node.program.merkle import MerkleTree, program_tree
from node.program.ops import Op
from node.program.tensors import TensorSpec
from node.program.validation import validate_op


@dataclass(frozen=True)
class InputSlot:
    name: str
    spec: TensorSpec


@dataclass(frozen=True)
class Program:
    inputs: tuple[InputSlot, ...]
    ops: tuple[Op, ...]
    output_slot: int
    _table: tuple[TensorSpec, ...] = field(default=(), compare=False, repr=False)

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def n_slots(self) -> int:
        return self.n_inputs + len(self.ops)

    @property
    def table(self) -> tuple[TensorSpec, ...]:
        """Spec of every slot (inputs, then op outputs)."""
        if not self._table:
            object.__setattr__(self, "_table", self.validate())
        return self._table

    def spec(self, slot: int) -> TensorSpec:
        return self.table[slot]

    def input_index(self, name: str) -> int:
        for i, s in enumerate(self.inputs):
            if s.name == name:
                return i
        raise SlotOutOfRange(f"no input named {name!r}")

    def validate(self) -> tuple[TensorSpec, ...]:
        if not self.ops:
            raise SizeLimitExceeded("a program has at least one op")
        if self.n_slots > MAX_SLOTS:
            raise SizeLimitExceeded(f"{self.n_slots} slots exceed MAX_SLOTS = {MAX_SLOTS}")
        table: list[TensorSpec] = []
        for s in self.inputs:
            s.spec.check()
            table.append(s.spec)
        for i, op in enumerate(self.ops):
            table.append(validate_op(op, i, self.n_inputs, table))
        if not 0 <= self.output_slot < len(table):
            raise SlotOutOfRange(f"output slot {self.output_slot} does not exist")
        return tuple(table)

    def encodings(self) -> list[bytes]:
        return [op.encode() for op in self.ops]

    def program_tree(self) -> MerkleTree:
        return program_tree(self.encodings())

    @property
    def root(self) -> bytes:
        return self.program_tree().root

    def op_slot(self, i: int) -> int:
        return self.n_inputs + i
