"""Test-side trace of a small program and the two players of the dispute game.

Built on the Python team's reference (`node.program`): tensors, trees and op semantics come
from there. `Trace` answers the production solver's `GameTrace` questions from those tensors;
the players drive `DisputeGame` with the production solver (`node.game.solver.solve`) on a
`GameView` of the contract's position. Misbehaviour stays here, as thin wrappers: a corrupted
op output (`Trace(corrupt=...)`), partial sums wrong from a chosen chunk (`SumLie`), a provider
that stops moving or reveals garbage, a challenger that points at random (the solver's pick
hook)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from node.game import rules
from node.game.actions import FUNCTION, Action, RevealStates, RevealSums, StepMove, call_args
from node.game.rules import Side
from node.game.solver import first_disagreement, solve
from node.game.view import GameView, OpenedOp
from node.program.constants import LEAF_ELEMS, MAX_GROUP, NO_SLOT, DType, Flag, Opcode
from node.program.merkle import MerkleTree, multi_proof, slot_tree, tensor_tree
from node.program.ops import Op, group_op, im2col_op, qadd_op
from node.program.packing import pack
from node.program.program import InputSlot, Program
from node.program.reference import (
    elementwise_leaf_indices,
    group_leaf_indices,
    matmul_leaf_indices,
    run_op,
)
from node.program.tensors import TensorSpec
from node.trace.lazy import LeafWitness, StepWitness
from poc_lab.adversary import random_pick

ZERO = bytes(32)


def _wrap(v: int, dtype: DType) -> int:
    bits = 8 * dtype.itemsize
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@dataclass
class Trace:
    """All tensors, trees and state roots of `program` on `values` (one op output optionally
    corrupted: `corrupt = (op_index, flat_element, delta)`, later ops computed on the lie).
    Implements node.game.solver.GameTrace."""

    program: Program
    values: list[np.ndarray]
    corrupt: tuple[int, int, int] | None = None
    tensors: list[np.ndarray] = field(default_factory=list)  # flat int64 per slot
    packed: list[bytes] = field(default_factory=list)
    trees: list[MerkleTree] = field(default_factory=list)
    states: list[bytes] = field(default_factory=list)  # S_0 .. S_N
    state_trees: list[MerkleTree] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.program
        table = p.table
        for v, s in zip(self.values, p.inputs, strict=True):
            self._set(np.asarray(v, dtype=np.int64).reshape(-1), s.spec.dtype)
        for i, op in enumerate(p.ops):
            a = self.tensors[op.a]
            b = self.tensors[op.b] if op.b != NO_SLOT else None
            out = run_op(op, a, b).reshape(-1).astype(np.int64)
            dt = table[p.n_inputs + i].dtype
            if self.corrupt is not None and self.corrupt[0] == i:
                _, e, delta = self.corrupt
                out = out.copy()
                out[e] = _wrap(int(out[e]) + delta, dt)
            self._set(out, dt)
        self._build_states()

    def _build_states(self) -> None:
        """S_0 .. S_N with their trees, all built up front."""
        p = self.program
        n_slots = p.n_slots
        roots = [t.root for t in self.trees]
        for i in range(len(p.ops) + 1):
            slots = roots[: p.n_inputs + i] + [ZERO] * (n_slots - p.n_inputs - i)
            tree = slot_tree(slots)
            self.state_trees.append(tree)
            self.states.append(tree.root)

    def _set(self, flat: np.ndarray, dtype: DType) -> None:
        self.tensors.append(flat)
        data = pack(flat, dtype)
        self.packed.append(data)
        self.trees.append(tensor_tree(data, dtype))

    @property
    def n_ops(self) -> int:
        return len(self.program.ops)

    def slot_root(self, slot: int) -> bytes:
        return self.trees[slot].root

    def leaf_proof(self, slot: int, j: int) -> list[bytes]:
        return self.trees[slot].proof(j)

    def node(self, slot: int, height: int, index: int) -> bytes:
        return self.trees[slot].node(height, index)

    def output_proof(self, slot: int) -> list[bytes]:
        return self.state_trees[-1].proof(slot)

    # -- node.game.solver.GameTrace

    def state_root(self, i: int) -> bytes:
        return self.states[i]

    def state_proof(self, i: int, slot: int) -> list[bytes]:
        return self.state_trees[i].proof(slot)

    def root(self, slot: int) -> bytes:
        return self.trees[slot].root

    def program_proof(self, op_index: int) -> tuple[bytes, list[bytes]]:
        return self.program.ops[op_index].encode(), self.program.ops_tree().proof(op_index)

    def children(self, slot: int, level: int, index: int, m: int) -> list[bytes]:
        return [self.node(slot, level - m, (index << m) + i) for i in range(1 << m)]

    def leaf(self, slot: int, j: int) -> bytes:
        size = self.program.table[slot].dtype.leaf_bytes
        data = self.packed[slot]
        if j * size >= len(data):
            return bytes(size)
        return data[j * size : (j + 1) * size]

    def honest_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]:
        """P_0 .. P_{K/32} of one matmul output element, from the operand tensors."""
        op = self.program.ops[op_index]
        m, n = divmod(LEAF_ELEMS * leaf_index + elem, op.N)
        a = self.tensors[op.a].reshape(op.M, op.K)[m]
        w = self.tensors[op.b].reshape(op.N, op.K)[n]
        sums = [0]
        for c in range(op.K // LEAF_ELEMS):
            lo, hi = LEAF_ELEMS * c, LEAF_ELEMS * (c + 1)
            sums.append(sums[-1] + int(np.dot(a[lo:hi], w[lo:hi])))
        return sums

    def partial_sums(
        self, op_index: int, leaf_index: int, elem: int, lie_chunk: int | None = None
    ) -> list[int]:
        """The sums this trace claims: the honest ones, except for a corrupted element, whose
        error enters at chunk `lie_chunk` (default: the last) so that P_{K/32} is the claimed
        element."""
        honest = self.honest_sums(op_index, leaf_index, elem)
        slot = self.program.n_inputs + op_index
        delta = int(self.tensors[slot][LEAF_ELEMS * leaf_index + elem]) - honest[-1]
        if delta == 0:
            return honest
        c0 = min(lie_chunk if lie_chunk is not None else len(honest) - 2, len(honest) - 2)
        return [s + (delta if c > c0 else 0) for c, s in enumerate(honest)]

    def _witness(self, slot: int, j: int) -> LeafWitness:
        return LeafWitness(slot, j, self.leaf(slot, j), self.leaf_proof(slot, j))

    def step_witness(
        self, op_index: int, leaf_index: int, elem: int | None = None, chunk: int | None = None
    ) -> StepWitness:
        """The operand leaves of one step and their proofs (none for a padding output leaf or
        an im2col padded position; the lut table whole, with an empty proof)."""
        op = self.program.ops[op_index]
        if op.opcode == Opcode.MATMUL:
            assert elem is not None and chunk is not None
            ai, wi = matmul_leaf_indices(op, leaf_index, elem, chunk)
            return StepWitness(
                op_index, leaf_index, self._witness(op.a, ai), self._witness(op.b, wi)
            )
        aw = bw = None
        if leaf_index < op.out_spec.n_leaves and op.opcode in (
            Opcode.GMAX,
            Opcode.GSUM,
            Opcode.TRANSPOSE,
        ):
            # the G input leaves concatenated, with their one multiproof (protocol.md section 5)
            idx = group_leaf_indices(op, leaf_index)
            leaves = b"".join(self.leaf(op.a, i) for i in idx)
            aw = LeafWitness(op.a, idx[0], leaves, multi_proof(self.trees[op.a], idx))
        elif leaf_index < op.out_spec.n_leaves:
            ai, bi = elementwise_leaf_indices(op, leaf_index)
            aw = self._witness(op.a, ai) if ai is not None else None
            if op.opcode == Opcode.LUT:
                bw = LeafWitness(op.b, 0, self.packed[op.b], [])
            elif bi is not None and op.b != NO_SLOT:
                bw = self._witness(op.b, bi)
        return StepWitness(op_index, leaf_index, aw, bw)


class SumLie:
    """A lying trace whose partial sums of the corrupted element are wrong from `chunk` on."""

    def __init__(self, trace: Trace, chunk: int) -> None:
        self.trace = trace
        self.chunk = chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trace, name)

    def partial_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]:
        return self.trace.partial_sums(op_index, leaf_index, elem, self.chunk)


def program_of(
    inputs: list[tuple[DType, int, int]], ops: list[Op], output_slot: int | None = None
) -> Program:
    prog = Program(
        tuple(InputSlot(f"in{i}", TensorSpec(dt, r, c)) for i, (dt, r, c) in enumerate(inputs)),
        tuple(ops),
        output_slot if output_slot is not None else len(inputs) + len(ops) - 1,
    )
    prog.validate()
    return prog


def vision_program(rng: np.random.Generator) -> tuple[Program, list[np.ndarray]]:
    """Global max / sum pools over an 8x8 image (G = 64 = MAX_GROUP) with C = 32 and C = 128,
    a residual qadd, and a 2x2 sum pool."""
    inputs = [(DType.INT8, 64, 32), (DType.INT8, 64, 128)]
    ni = len(inputs)
    win = {"B": 1, "H": 8, "W": 8, "KH": 8, "KW": 8, "S": 1, "P": 0}
    ops = [
        im2col_op(ni, 0, C=32, padv=-128, **win),  # [1, 64*32]
        group_op(Opcode.GMAX, ni + 1, ni, groups=MAX_GROUP, M=1, N=32),
        group_op(Opcode.GSUM, ni + 2, ni, groups=MAX_GROUP, M=1, N=32),
        im2col_op(ni + 3, 1, C=128, **win),  # [1, 64*128]
        group_op(Opcode.GSUM, ni + 4, ni + 3, groups=MAX_GROUP, M=1, N=128),
        group_op(Opcode.GMAX, ni + 5, ni + 3, groups=MAX_GROUP, M=1, N=128),
        qadd_op(ni + 6, ni + 1, ni + 1, M=1, N=32, mult=3 << 20, mult2=5 << 20, shift=23, zp=-1),
        im2col_op(ni + 7, 0, B=1, H=8, W=8, C=32, KH=2, KW=2, S=2, P=0),  # [16, 4*32]
        group_op(Opcode.GSUM, ni + 8, ni + 7, groups=4, M=16, N=32),
    ]
    prog = program_of(inputs, ops)
    vals = [rng.integers(-128, 128, (64, 32)), rng.integers(-128, 128, (64, 128))]
    return prog, vals


def sample_program(
    rng: np.random.Generator, m: int = 2, k: int = 64, n: int = 32
) -> tuple[Program, list[np.ndarray]]:
    """Six ops covering every opcode: matmul, add (broadcast), requant, relu, lut, im2col."""
    inputs = [
        (DType.INT8, m, k),  # 0 X
        (DType.INT8, n, k),  # 1 W
        (DType.INT32, 1, n),  # 2 bias
        (DType.INT8, 1, 256),  # 3 table
        (DType.INT8, 1 * 3 * 3, 32),  # 4 image NHWC
    ]
    ni = len(inputs)
    ops = [
        Op(Opcode.MATMUL, out=ni, a=0, b=1, M=m, K=k, N=n),
        Op(Opcode.ADD, out=ni + 1, a=ni, b=2, M=m, N=n, flags=Flag.ADD_BROADCAST),
        Op(
            Opcode.REQUANT,
            out=ni + 2,
            a=ni + 1,
            M=m,
            N=n,
            mult=1 << 20,
            shift=24,
            zp=3,
            lo=-128,
            hi=127,
        ),
        Op(Opcode.RELU, out=ni + 3, a=ni + 2, M=m, N=n),
        Op(Opcode.LUT, out=ni + 4, a=ni + 3, b=3, M=m, N=n),
        Op(
            Opcode.IM2COL,
            out=ni + 5,
            a=4,
            M=16,
            N=2 * 2 * 32,
            B=1,
            H=3,
            W=3,
            C=32,
            KH=2,
            KW=2,
            S=1,
            P=1,
            padv=-7,
        ),
    ]
    prog = program_of(inputs, ops, output_slot=ni + 4)
    vals = [
        rng.integers(-128, 128, (m, k)),
        rng.integers(-128, 128, (n, k)),
        rng.integers(-(2**20), 2**20, (1, n)),
        rng.integers(-128, 128, (1, 256)),
        rng.integers(-128, 128, (9, 32)),
    ]
    return prog, vals


def out_leaves(op: Op) -> int:
    return op.M * op.N // 32


# ---------------------------------------------------------------------------------- players


class Refuse(Exception):
    """A player that will not (or cannot) move: the harness lets its clock run out."""


@dataclass
class Provider:
    """The production solver on `trace`. `refuse_at` (provider move number) stops moving;
    `garbage_at` reveals random roots or sums at that move (its later openings then fail);
    `sum_lie_chunk` makes a corrupted matmul element's partial sums wrong from that chunk on."""

    trace: Trace
    k: int
    refuse_at: int | None = None
    garbage_at: int | None = None
    sum_lie_chunk: int | None = None
    moves: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def action(self, v: GameView) -> Action:
        if self.refuse_at is not None and self.moves >= self.refuse_at:
            raise Refuse
        self.moves += 1
        t = self.trace if self.sum_lie_chunk is None else SumLie(self.trace, self.sum_lie_chunk)
        (a,) = solve(v, Side.PROVIDER, t)  # type: ignore[arg-type]
        if self.garbage_at is not None and self.moves - 1 == self.garbage_at:
            if isinstance(a, RevealStates):
                a = RevealStates(tuple(self.rng.randbytes(32) for _ in a.roots))
            elif isinstance(a, RevealSums):
                a = RevealSums(tuple(self.rng.randint(-(2**31), 2**31 - 1) for _ in a.sums))
        return a


@dataclass
class Challenger:
    """The production solver on `trace`: points at the first disagreement (honest), or at
    random (`rng` given, through the solver's pick hook); `refuse_at` stops moving."""

    trace: Trace
    k: int
    rng: random.Random | None = None
    refuse_at: int | None = None
    moves: int = 0

    def action(self, v: GameView) -> Action:
        if self.refuse_at is not None and self.moves >= self.refuse_at:
            raise Refuse
        self.moves += 1
        choose = random_pick(self.rng) if self.rng is not None else first_disagreement
        (a,) = solve(v, Side.CHALLENGER, self.trace, choose)  # type: ignore[arg-type]
        return a


def game_view(game, gid: int, log2_arity: int = 4, now: int = 0, **carried: Any) -> GameView:  # noqa: ANN001
    """The solver's view of game `gid` (`carried`: what the contract keeps only as hashes)."""
    return GameView.of_game(gid, game.getGame(gid), now, log2_arity, **carried)


def synthetic_view(trace: Trace, op_index: int, index: int, **over: Any) -> GameView:
    """A step position of op `op_index`, leaf `index` without a game (for the verifier's own
    tests): the challenger to move, the op opened."""
    p = trace.program
    op = p.ops[op_index]
    start = rules.initial(ZERO, ZERO, p.n_inputs, len(p.ops), log2_arity=4, clock=1)
    fields: dict[str, Any] = {
        "phase": rules.Phase.STEP, "lo": 0, "hi": 1, "index": index, "op_index": op_index,
        "opcode": int(op.opcode), "out_leaves": op.out_spec.n_leaves,
        "k_chunks": op.K // LEAF_ELEMS, "opened": OpenedOp(op.encode(), ZERO),
    }  # fmt: skip
    return replace(start, **(fields | over))


def struct_args(a: Action) -> list[Any]:
    """The call's arguments after the game id, structs as tuples in Solidity field order."""
    return [tuple(x.values()) if isinstance(x, dict) else x for x in call_args(a)]


def step_data(v: GameView, t: Trace) -> tuple:
    """StepData of the step at `v`, by the solver from an honest trace (operands are agreed)."""
    (a,) = solve(v, Side.CHALLENGER, t)  # type: ignore[arg-type]
    assert isinstance(a, StepMove), a
    return struct_args(a)[0]


# The position fields a move changes; `low` is stale on chain while the reduction's lo = 0.
POSITION = ("phase", "lo", "hi", "height", "index", "elem", "chunk_step", "high", "op_index",
            "opcode", "out_leaves", "k_chunks")  # fmt: skip
CARRIED = ("revealed_states", "revealed_nodes", "revealed_sums", "revealed_leaf", "opened")


@dataclass
class Match:
    """One game between two players: reads the position, asks the mover's solver, sends the
    move, and carries what the contract keeps only as hashes (the revealed array, the opened
    op) to the next view. Every move's outcome on chain is checked against node.game.rules."""

    game: Any
    gid: int
    provider: Provider
    challenger: Challenger
    accounts: tuple[Any, Any]  # (provider, challenger)
    expect: GameView | None = None  # the position the last move leads to, by node.game.rules

    def view(self, now: int) -> GameView:
        log2k = self.provider.k.bit_length() - 1
        carried = {f: getattr(self.expect, f) for f in CARRIED} if self.expect else {}
        v = game_view(self.game, self.gid, log2k, now, **carried)
        e = self.expect
        if e is not None and v.active:
            have = {f: getattr(v, f) for f in POSITION}
            want = {f: getattr(e, f) for f in POSITION}
            assert have == want, (have, want)
            assert v.low == e.low or (v.chunk_step and v.lo == 0), (v.low, e.low)
        return v

    def move(self, v: GameView) -> tuple[str, Any]:
        """Plays the mover's move at `v`: (function name, receipt). Raises Refuse, or the
        contract's revert."""
        provider = v.mover == Side.PROVIDER
        a = (self.provider if provider else self.challenger).action(v)
        if a.__class__ not in FUNCTION:
            raise Refuse  # the solver waits (its clock ran out)
        name = FUNCTION[a.__class__]
        who = self.accounts[0 if provider else 1]
        receipt = getattr(self.game, name)(self.gid, *struct_args(a), sender=who)
        self.expect = None if isinstance(a, StepMove) else rules.after(v, a)
        return name, receipt


def play_traces(
    game,
    gid,
    provider: Trace,
    challenger: Trace,
    accounts_pc,
    chain,
    k: int = 16,
    prov_kw: dict | None = None,
    chal_kw: dict | None = None,
    settle: bool = True,
) -> GameResult:  # noqa: ANN001
    """`play` with a provider playing `provider` and a challenger playing `challenger`."""
    p = Provider(provider, k, **(prov_kw or {}))
    c = Challenger(challenger, k, **(chal_kw or {}))
    return play(game, gid, p, c, accounts_pc, chain, settle=settle)


@dataclass
class GameResult:
    status: int
    provider_moves: int
    challenger_moves: int
    gas: dict[str, list[int]]
    reverts: list[str]
    sequence: list[tuple[str, int]] = field(default_factory=list)


def play(
    game,
    gid,
    provider: Provider,
    challenger: Challenger,
    accounts_pc,
    chain,
    max_moves: int = 200,
    settle: bool = True,
) -> GameResult:  # noqa: ANN001
    """Drives game `gid` to its end. A player that refuses, or whose move reverts (a liar that
    cannot back its reveal), loses by `timeout`, called by a third party. A game the step decided
    is settled by that third party (not with `settle=False`: it is left decided and unpaid)."""
    from ape.exceptions import ContractLogicError

    prov_acct, chal_acct, anyone = accounts_pc
    match = Match(game, gid, provider, challenger, (prov_acct, chal_acct))
    gas: dict[str, list[int]] = {}
    reverts: list[str] = []
    sequence: list[tuple[str, int]] = []
    for _ in range(max_moves):
        v = match.view(chain.pending_timestamp)
        if v.unsettled and settle:  # the step decided it: a third party makes the payouts (settle)
            receipt = game.settle(gid, sender=anyone)
            gas.setdefault("settle", []).append(int(receipt.gas_used))
            sequence.append(("settle", int(receipt.gas_used)))
            continue
        if not v.active:
            return GameResult(v.status, provider.moves, challenger.moves, gas, reverts, sequence)
        try:
            name, receipt = match.move(v)
            gas.setdefault(name, []).append(int(receipt.gas_used))
            sequence.append((name, int(receipt.gas_used)))
        except (Refuse, ContractLogicError) as exc:
            if isinstance(exc, ContractLogicError):
                reverts.append(f"{v.phase.name}: {exc!r} {getattr(exc, 'revert_message', '')}")
            deadline = int(game.deadline(gid))
            chain.pending_timestamp = max(chain.pending_timestamp, deadline + 1)
            game.timeout(gid, sender=anyone)
    raise AssertionError("game did not end")
