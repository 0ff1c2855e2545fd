"""Adversaries for the tests, the demo and the benchmarks that show cheaters losing.

A provider can lie in a chosen place (an elementwise op's output, a padding leaf, a matmul
element, a partial sum) and then play consistently with its lie, or stop answering; a
challenger can believe a wrong result (and so challenge a correct one) or point at parts it
agrees with. A provider can also compute honestly and hide the output: a corrupted or no blob
behind its locator, and, if it likes, no publication when the poster demands it. Each is built from the seams the roles offer every caller (a trace factory, the
solver's pick hook, one overridable method for answering a game); nothing in `node` knows
about any of this, and nothing in `node` imports this module."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt
import torch

from node.compute.config import ComputeConfig
from node.errors import PocError
from node.game.rules import GameStatus
from node.game.solver import Chooser, first_disagreement
from node.game.view import GameView
from node.program.constants import LEAF_ELEMS, REDUCTION_OPS, Opcode
from node.program.hashing import sha256
from node.program.merkle import MerkleTree
from node.program.packing import zero_leaf
from node.program.program import Program
from node.roles.provider import Provider
from node.roles.watchtower import Watchtower
from node.roles.work import TraceFactory
from node.storage.cid import content_cid
from node.trace.lazy import TraceProvider

PROVIDER_CHEATS = ("op", "leaf", "element", "sum", "silent")
OUTPUT_CHEATS = ("corrupt", "missing")


class AdversaryError(PocError):
    """A cheat that does not fit the program (no op of the asked kind, unknown mode)."""

    exit_code = 2


@dataclass(frozen=True)
class ProviderCheat:
    """mode: op | leaf | element | sum | silent (lies like `op`, then never answers).
    `op_index` None picks the first op that fits the mode; `element` is the flat element
    corrupted; `chunk` (sum mode) is the first chunk whose partial sum is wrong."""

    mode: str
    op_index: int | None = None
    element: int = 0
    delta: int = 1
    chunk: int = 1

    def __post_init__(self) -> None:
        if self.mode not in PROVIDER_CHEATS:
            raise AdversaryError(
                f"unknown provider cheat {self.mode!r} ({', '.join(PROVIDER_CHEATS)})"
            )

    @classmethod
    def parse(cls, text: str) -> ProviderCheat:
        """`mode[:op_index[:element]]`, e.g. `sum`, `op:3`, `element:0:5`."""
        parts = text.split(":")
        op = int(parts[1]) if len(parts) > 1 and parts[1] else None
        elem = int(parts[2]) if len(parts) > 2 else 0
        return cls(parts[0], op, elem)


def lying_trace(cheat: ProviderCheat) -> TraceFactory:
    """A trace factory for the roles: every job's trace lies as `cheat` says."""

    def build(
        program: Program, inputs: Mapping[int, npt.NDArray[Any]], config: ComputeConfig
    ) -> TraceProvider:
        return CorruptedTrace(program, inputs, cheat, config)

    return build


def agreeing_pick(view: GameView, disagrees: Sequence[bool]) -> int:
    """A pick hook that points at a part its own trace agrees with (a losing challenger)."""
    return next((i for i, d in enumerate(disagrees) if not d), first_disagreement(view, disagrees))


def random_pick(rng: random.Random) -> Chooser:
    """A pick hook that points anywhere."""
    return lambda _view, disagrees: rng.randrange(len(disagrees))


class SilentProvider(Provider):
    """Lies (through its trace), then never answers in a game: only its clock beats it."""

    def answer(self, game_id: int, trace: TraceProvider, job_id: int | None = None) -> GameStatus:
        return self.ctx.deployment.game_view(game_id).status


class HidingProvider(Provider):
    """Computes and submits the correct result (S_N and output root, so no game can catch it)
    but hides the output (issue 11, P6): behind its locator it stores the output with its first
    byte flipped (`blob="corrupt"`), or nothing (`"missing"`: the locator of those bytes, never
    stored). It keeps the true output, so it publishes it when the poster demands it, unless
    `withhold`: then it never publishes, and the poster's demand ends its claim by
    outputTimeout."""

    def __init__(
        self, ctx: Any, *args: Any, blob: str = "corrupt", withhold: bool = False, **kwargs: Any
    ) -> None:
        if blob not in OUTPUT_CHEATS:
            raise AdversaryError(f"unknown output cheat {blob!r} ({', '.join(OUTPUT_CHEATS)})")
        super().__init__(ctx, *args, **kwargs)
        self.blob = blob
        self.withhold = withhold

    def store_output(self, job_id: int, output: bytes) -> str:
        bad = bytes([output[0] ^ 1]) + output[1:]
        return content_cid(bad) if self.blob == "missing" else self.ctx.store.put(bad)

    def publish_output(self, job_id: int, claim_id: int, leaf_size: int, data: bytes) -> None:
        if not self.withhold:
            super().publish_output(job_id, claim_id, leaf_size, data)


def cheating_provider(ctx: Any, cheat: ProviderCheat, **kwargs: Any) -> Provider:
    """A provider daemon that lies as `cheat` says (and stays silent for mode `silent`)."""
    cls = SilentProvider if cheat.mode == "silent" else Provider
    return cls(ctx, trace_factory=lying_trace(cheat), **kwargs)


def _wrap(value: int, dtype: torch.dtype) -> int:
    bits = 8 if dtype == torch.int8 else 32
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class CorruptedTrace(TraceProvider):
    """A trace that lies at one place and stays consistent with its lie everywhere after
    (later ops computed on the corrupted tensor, roots and proofs of the corrupted data)."""

    def __init__(
        self,
        program: Program,
        inputs: Mapping[int, npt.NDArray[Any]],
        cheat: ProviderCheat,
        config: ComputeConfig | None = None,
    ) -> None:
        super().__init__(program, inputs, config)
        self.cheat = cheat
        self.target = self._pick_op(cheat)
        self._target_slot = self.n_inputs + self.target
        honest_apply = self.executor.apply

        def apply(i: int, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
            out = honest_apply(i, a, b)
            if i == self.target and cheat.mode in ("op", "element", "sum", "silent"):
                out = out.clone()
                flat = out.reshape(-1)
                flat[cheat.element] = _wrap(int(flat[cheat.element]) + cheat.delta, out.dtype)
            return out

        setattr(self.executor, "apply", apply)  # noqa: B010 (an instance-level override)
        self._bad_leaf = b"\x01" * program.spec(self._target_slot).dtype.leaf_bytes

    def _pick_op(self, cheat: ProviderCheat) -> int:
        ops = self.program.ops

        def fits(i: int) -> bool:
            op = ops[i]
            spec = self.program.spec(self.n_inputs + i)
            if cheat.mode in ("op", "silent"):
                return op.opcode != Opcode.MATMUL
            if cheat.mode == "leaf":
                return spec.n_leaves & (spec.n_leaves - 1) != 0  # has padding leaves
            return op.opcode in REDUCTION_OPS and (cheat.mode != "sum" or op.K > LEAF_ELEMS)

        if cheat.op_index is not None:
            if not fits(cheat.op_index):
                raise AdversaryError(f"op {cheat.op_index} does not fit cheat {cheat.mode!r}")
            return cheat.op_index
        for i in range(len(ops)):
            if fits(i):
                return i
        raise AdversaryError(f"no op of this program fits cheat {cheat.mode!r}")

    # leaf mode: a non-zero padding leaf right after the real ones

    def tree(self, slot: int) -> MerkleTree:
        honest = super().tree(slot)
        if self.cheat.mode != "leaf" or slot != self._target_slot:
            return honest
        spec = self.program.spec(slot)
        nodes = honest.levels[0][: spec.n_leaves * 32] + sha256(self._bad_leaf)
        bad = MerkleTree.from_leaf_nodes(nodes, spec.n_leaves + 1, sha256(zero_leaf(spec.dtype)))
        self._roots[slot] = bad.root
        return bad

    def root(self, slot: int) -> bytes:
        if self.cheat.mode == "leaf" and slot == self._target_slot:
            return self.tree(slot).root
        return super().root(slot)

    def leaf(self, slot: int, j: int) -> bytes:
        if (
            self.cheat.mode == "leaf"
            and slot == self._target_slot
            and j == self.program.spec(slot).n_leaves
        ):
            return self._bad_leaf
        return super().leaf(slot, j)

    # element and sum modes: partial sums consistent with the lie at the end

    def partial_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]:
        sums = super().partial_sums(op_index, leaf_index, elem)
        if op_index != self.target or leaf_index * LEAF_ELEMS + elem != self.cheat.element:
            return sums
        lied = int(self.tensor(self._target_slot).reshape(-1)[self.cheat.element])
        delta = lied - sums[-1]
        if self.cheat.mode == "sum":
            first = max(1, min(self.cheat.chunk, len(sums) - 1))
            return sums[:first] + [s + delta for s in sums[first:]]
        return sums[:-1] + [lied]


def false_challenger(ctx: Any, belief: ProviderCheat | None = None, **kwargs: Any) -> Watchtower:
    """A watchtower that believes a wrong result (its own trace lies as `belief` says, by
    default in the first op that fits `op`), so it challenges correct claims and loses."""
    return Watchtower(ctx, trace_factory=lying_trace(belief or ProviderCheat("op")), **kwargs)


def wrong_picker(ctx: Any, **kwargs: Any) -> Watchtower:
    """A watchtower that recomputes honestly but points at parts it agrees with."""
    return Watchtower(ctx, choose=agreeing_pick, **kwargs)
