"""The moves of the dispute game, as data: what the solver decides and the responder sends.
One class per contract call of DisputeGame (protocol.md §6A), plus Wait."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RevealStates:
    roots: tuple[bytes, ...]


@dataclass(frozen=True)
class PickState:
    roots: tuple[bytes, ...]
    seg: int


@dataclass(frozen=True)
class OpOpening:
    """The opening of op `a`, both its moves (v7): `openOp` takes `as_struct` (DisputeGame.OpOpening:
    the op under the ops root, the program root's first half, and its output root as slot
    `op.out` of S_{a+1}, empty in S_a: one sibling path serves both); `openSpecs` takes
    `specs_struct` (DisputeGame.SpecOpening: the op again, the root's halves and
    each operand slot's spec source, an input's spec leaf or the op that writes the slot, with its
    path; empty for an absent `b`), for the table rules."""

    op: bytes
    op_proof: tuple[bytes, ...]
    out_root: bytes
    out_proof: tuple[bytes, ...]
    ops_root: bytes
    input_spec_root: bytes
    a_spec: bytes
    a_spec_proof: tuple[bytes, ...]
    b_spec: bytes = b""
    b_spec_proof: tuple[bytes, ...] = ()

    def as_struct(self) -> dict[str, object]:
        return {
            "op": self.op,
            "opProof": list(self.op_proof),
            "outRoot": self.out_root,
            "outProof": list(self.out_proof),
            "opsRoot": self.ops_root,
            "inputSpecRoot": self.input_spec_root,
        }

    def specs_struct(self) -> dict[str, object]:
        return {
            "op": self.op,
            "opsRoot": self.ops_root,
            "inputSpecRoot": self.input_spec_root,
            "aSpec": self.a_spec,
            "aSpecProof": list(self.a_spec_proof),
            "bSpec": self.b_spec,
            "bSpecProof": list(self.b_spec_proof),
        }


@dataclass(frozen=True)
class OpenOp:
    opening: OpOpening


@dataclass(frozen=True)
class OpenSpecs:
    """The opening's second move (v7): the operand specs of the op `openOp` opened."""

    opening: OpOpening


@dataclass(frozen=True)
class RevealNodes:
    nodes: tuple[bytes, ...]


@dataclass(frozen=True)
class PickNode:
    nodes: tuple[bytes, ...]
    child: int


@dataclass(frozen=True)
class RevealLeaf:
    leaf: bytes


@dataclass(frozen=True)
class PickElement:
    leaf: bytes
    elem: int


@dataclass(frozen=True)
class RevealSums:
    sums: tuple[int, ...]


@dataclass(frozen=True)
class PickSum:
    sums: tuple[int, ...]
    seg: int


@dataclass(frozen=True)
class StepData:
    op: bytes
    a_root: bytes
    b_root: bytes
    a_leaf: bytes
    a_proof: tuple[bytes, ...]
    b_leaf: bytes
    b_proof: tuple[bytes, ...]
    s_lo: bytes  # the agreed state before the op, bound at the opening
    a_slot_proof: tuple[bytes, ...]  # a_root as slot op.a of s_lo
    b_slot_proof: tuple[bytes, ...]

    def as_struct(self) -> dict[str, object]:
        return {
            "op": self.op,
            "aRoot": self.a_root,
            "bRoot": self.b_root,
            "aLeaf": self.a_leaf,
            "aProof": list(self.a_proof),
            "bLeaf": self.b_leaf,
            "bProof": list(self.b_proof),
            "sLo": self.s_lo,
            "aSlotProof": list(self.a_slot_proof),
            "bSlotProof": list(self.b_slot_proof),
        }


@dataclass(frozen=True)
class StepMove:
    """The one step (protocol.md §6.4)."""

    data: StepData


@dataclass(frozen=True)
class Timeout:
    """End the game for us: the other side's clock ran out."""


@dataclass(frozen=True)
class Settle:
    """Pay a decided game (protocol.md §6.5): open to anyone, once; either side's node sends it
    (the challenger's right after its step, and any node that finds its game decided and unpaid)."""


@dataclass(frozen=True)
class Wait:
    """Nothing to send now (the other side moves, or the game is over)."""

    reason: str
    until: int | None = None  # a timestamp after which something may change


Action = (
    RevealStates
    | PickState
    | OpenOp
    | OpenSpecs
    | RevealNodes
    | PickNode
    | RevealLeaf
    | PickElement
    | RevealSums
    | PickSum
    | StepMove
    | Timeout
    | Settle
    | Wait
)

# the DisputeGame function each move calls
FUNCTION = {
    RevealStates: "revealStates",
    PickState: "pickState",
    OpenOp: "openOp",
    OpenSpecs: "openSpecs",
    RevealNodes: "revealNodes",
    PickNode: "pickNode",
    RevealLeaf: "revealLeaf",
    PickElement: "pickElement",
    RevealSums: "revealSums",
    PickSum: "pickSum",
    StepMove: "step",
    Timeout: "timeout",
    Settle: "settle",
}


def call_args(action: Action) -> list[object]:
    """The arguments after the game id (structs as dicts keyed by Solidity field names)."""
    if isinstance(action, (RevealStates,)):
        return [list(action.roots)]
    if isinstance(action, PickState):
        return [list(action.roots), action.seg]
    if isinstance(action, OpenOp):
        return [action.opening.as_struct()]
    if isinstance(action, OpenSpecs):
        return [action.opening.specs_struct()]
    if isinstance(action, RevealNodes):
        return [list(action.nodes)]
    if isinstance(action, PickNode):
        return [list(action.nodes), action.child]
    if isinstance(action, RevealLeaf):
        return [action.leaf]
    if isinstance(action, PickElement):
        return [action.leaf, action.elem]
    if isinstance(action, RevealSums):
        return [list(action.sums)]
    if isinstance(action, PickSum):
        return [list(action.sums), action.seg]
    if isinstance(action, StepMove):
        return [action.data.as_struct()]
    if isinstance(action, (Timeout, Settle)):
        return []
    raise TypeError(f"{action!r} is not a contract call")
