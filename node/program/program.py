"""An integer tensor program: the input slots (data and constants) and one SSA slot per op."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.program.constants import MAX_SLOTS
from node.program.errors import SizeLimitExceeded, SlotOutOfRange
from node.program.merkle import MerkleTree, input_spec_tree, ops_tree, program_root
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

    def ops_tree(self) -> MerkleTree:
        """The ops half of the program root (op proofs of the opening are against its root)."""
        return ops_tree(self.encodings())

    def input_spec_tree(self) -> MerkleTree:
        """The input spec table (protocol.md section 3): every input's dtype and shape."""
        return input_spec_tree([s.spec.spec_leaf() for s in self.inputs])

    @property
    def root(self) -> bytes:
        """The program root (v4): sha256(ops root || input spec root)."""
        return program_root(self.ops_tree().root, self.input_spec_tree().root)

    def spec_source(self, slot: int) -> tuple[bytes, list[bytes]]:
        """What `DisputeGame.openOp` takes to learn `slot`'s committed spec (protocol.md 6.3):
        an input's 32-byte spec leaf with its path in the input spec table, or the 64-byte
        encoding of the op that writes the slot with its path in the ops tree."""
        if not 0 <= slot < self.n_slots:
            raise SlotOutOfRange(f"slot {slot} does not exist ({self.n_slots} slots)")
        if slot < self.n_inputs:
            return self.inputs[slot].spec.spec_leaf(), self.input_spec_tree().proof(slot)
        i = slot - self.n_inputs
        return self.ops[i].encode(), self.ops_tree().proof(i)

    def op_slot(self, i: int) -> int:
        return self.n_inputs + i
