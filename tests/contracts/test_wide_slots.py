"""v7 (issue 16, MAX_SLOTS): a program of more than 65,536 slots on chain. Slot ids are 32 bits
(protocol.md section 4), so a program past the old uint16 limit posts, commits and is disputed
like any other: the provider lies in an op whose output slot and both operand slots are above
65,535; the challenger bisects down to it, the provider opens it (`openOp` proves the op, its
output slot, then `openSpecs` both operands' writers at those slot ids) and the challenger wins at its one step
(operand roots proven at the wide slots of the agreed state). The market takes programs of up
to MAX_SLOTS = 2^17 slots."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, overload

import ape
import numpy as np
import pytest
from conftest import ARITY, STAKE, claimed_submitted, open_game, post_job
from contracts_trace import ZERO, Trace, play_traces

from node.game.rules import GameStatus
from node.program.constants import MAX_SLOTS, DType
from node.program.merkle import MerkleTree, slot_tree
from node.program.ops import qadd_op
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

N_OPS = 66_000  # with 2 inputs: 66,002 slots, state trees of depth 17
LIE = N_OPS - 5  # op 65,995 writes slot 65,997 and reads slots 65,996 and 65,995


class _States(Sequence[bytes]):
    """S_0 .. S_N of a trace, each tree built when first asked for (a Trace builds all N + 1
    trees of T slots up front: quadratic at this size)."""

    def __init__(self, roots: list[bytes], n_inputs: int, n_ops: int) -> None:
        self.roots, self.n_inputs, self.n_ops = roots, n_inputs, n_ops
        self.tree = lru_cache(maxsize=64)(self._tree)

    def _tree(self, i: int) -> MerkleTree:
        n = self.n_inputs + i
        return slot_tree(self.roots[:n] + [ZERO] * (len(self.roots) - n))

    def __len__(self) -> int:
        return self.n_ops + 1

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[bytes]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            raise TypeError("no slices")
        return self.tree(range(len(self))[i]).root

    def __iter__(self) -> Iterator[bytes]:
        return (self[i] for i in range(len(self)))


class WideTrace(Trace):
    """A `Trace` whose state trees are built on demand."""

    def _build_states(self) -> None:
        p = self.program
        self.lazy = _States([t.root for t in self.trees], p.n_inputs, len(p.ops))
        self.states = self.lazy  # type: ignore[assignment]

    def state_proof(self, i: int, slot: int) -> list[bytes]:
        return self.lazy.tree(i).proof(slot)

    def output_proof(self, slot: int) -> list[bytes]:
        return self.lazy.tree(len(self.lazy) - 1).proof(slot)


def _program() -> tuple[Program, list[np.ndarray]]:
    """Two int8 [1, 32] inputs, then qadds each of the two slots before it (cheap ops: one leaf
    each), the last op's output the result."""
    spec = TensorSpec(DType.INT8, 1, 32)
    inputs = [InputSlot(f"x{i}", spec) for i in range(2)]
    ops = [qadd_op(2 + i, 1 + i, i, M=1, N=32, mult=1, mult2=1, shift=1) for i in range(N_OPS)]
    prog = Program(tuple(inputs), tuple(ops), output_slot=1 + N_OPS)
    tree = prog.ops_tree()  # once: Program rebuilds it on every call
    object.__setattr__(prog, "ops_tree", lambda: tree)
    rng = np.random.default_rng(16)
    return prog, [rng.integers(-100, 100, 32) for _ in range(2)]


@pytest.fixture(scope="module")
def wide() -> tuple[WideTrace, WideTrace]:
    prog, values = _program()
    return WideTrace(prog, values), WideTrace(prog, values, corrupt=(LIE, 3, 1))


# the session's contracts first: deployed after the module-scoped `wide`, ape's isolation would
# drop them at the module's end (InvalidIsolationWarning) and the next test's calls would fail
@pytest.mark.usefixtures("system")
def test_the_program_needs_wide_slot_ids(wide) -> None:  # noqa: ANN001
    honest, _ = wide
    op = honest.program.ops[LIE]
    assert honest.program.n_slots > 65_536 and min(op.out, op.a, op.b) > 0xFFFF
    assert op.encode()[56:62] == bytes([0, 1]) * 3  # the high halves of out, a, b


def test_lie_at_a_wide_slot_loses_at_its_step(
    system, poster, provider, challenger, anyone, chain, wide
) -> None:  # noqa: ANN001
    honest, liar = wide
    system.stake.deposit(value=2 * STAKE, sender=provider)
    job = claimed_submitted(system, poster, provider, liar, chain)
    gid = open_game(system, job, challenger)
    r = play_traces(system.game, gid, liar, honest, (provider, challenger, anyone), chain, ARITY)
    assert r.status == GameStatus.CHALLENGER_WON, r.reverts
    assert not r.reverts and "openOp" in r.gas and "openSpecs" in r.gas and "step" in r.gas
    assert int(system.game.getGame(gid).opIndex) == LIE
    print(
        f"wide slots: openOp {r.gas['openOp'][0]:,}, openSpecs {r.gas['openSpecs'][0]:,}, "
        f"step {r.gas['step'][0]:,} gas"
    )


def test_market_takes_programs_up_to_max_slots(system, poster, honest_trace, chain) -> None:  # noqa: ANN001
    """v7: `nInputs + nOps <= MAX_SLOTS = 2^17` (protocol.md section 6.2, param 4)."""
    m = system.market
    assert int(m.MAX_SLOTS()) == MAX_SLOTS == 1 << 17
    before = int(m.jobCount())
    post_job(
        m, poster, honest_trace, chain, nInputs=2, nOps=MAX_SLOTS - 2, outputSlot=MAX_SLOTS - 1
    )
    assert int(m.jobCount()) == before + 1
    with ape.reverts(m.ParamOutOfRange, param=4, value=MAX_SLOTS + 1, min=2, max=MAX_SLOTS):
        post_job(m, poster, honest_trace, chain, nInputs=3, nOps=MAX_SLOTS - 2, outputSlot=0)
