"""Test-side trace of a small program and the two players of the dispute game.

Built on the Python team's reference (`node.program`): tensors, trees and op semantics come
from there; this module only adds what the contract tests need: every state root S_i, a way to
corrupt one op's output (a lying provider), and scripted players that drive `DisputeGame`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import numpy as np

from node.program.constants import NO_SLOT, DType, Flag, Opcode
from node.program.merkle import MerkleTree, slot_tree, tensor_tree
from node.program.ops import Op
from node.program.packing import pack, unpack
from node.program.program import InputSlot, Program
from node.program.reference import run_op
from node.program.tensors import TensorSpec

ZERO = bytes(32)

# DisputeGame.Phase
EXEC_REVEAL, EXEC_PICK, OP_OPEN, TENSOR_REVEAL, TENSOR_PICK = 1, 2, 3, 4, 5
LEAF_REVEAL, ELEMENT_PICK, SUM_REVEAL, SUM_PICK, STEP = 6, 7, 8, 9, 10
PROVIDER_PHASES = {EXEC_REVEAL, OP_OPEN, TENSOR_REVEAL, LEAF_REVEAL, SUM_REVEAL}
# DisputeGame.Status
ACTIVE, PROVIDER_WON, CHALLENGER_WON = 1, 2, 3


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def points(lo: int, hi: int, k: int) -> list[int]:
    """p_0 .. p_n of [lo, hi] (protocol.md §6.3)."""
    w = hi - lo
    n = min(k, w)
    return [lo + i * w // n for i in range(n + 1)]


def _wrap(v: int, dtype: DType) -> int:
    bits = 8 * dtype.itemsize
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@dataclass
class Trace:
    """All tensors, trees and state roots of `program` on `values` (one op output optionally
    corrupted: `corrupt = (op_index, flat_element, delta)`, later ops computed on the lie)."""

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

    # -- accessors used by the players
    @property
    def n_ops(self) -> int:
        return len(self.program.ops)

    def slot_root(self, slot: int) -> bytes:
        return self.trees[slot].root

    def leaf(self, slot: int, j: int) -> bytes:
        dt = self.program.table[slot].dtype
        size = dt.leaf_bytes
        data = self.packed[slot]
        if j * size >= len(data):
            return bytes(size)
        return data[j * size : (j + 1) * size]

    def leaf_proof(self, slot: int, j: int) -> list[bytes]:
        return self.trees[slot].proof(j)

    def node(self, slot: int, height: int, index: int) -> bytes:
        return self.trees[slot].node(height, index)

    def partial_sums(self, op_index: int, leaf_index: int, elem: int) -> list[int]:
        """P_0 .. P_{K/32} of one matmul output element (honest unless corrupted: a corrupted
        element carries its error from the chunk chosen by `lie_chunk`)."""
        op = self.program.ops[op_index]
        f = 32 * leaf_index + elem
        m, n = divmod(f, op.N)
        a = self.tensors[op.a].reshape(op.M, op.K)[m]
        w = self.tensors[op.b].reshape(op.N, op.K)[n]
        sums = [0]
        for c in range(op.K // 32):
            sums.append(sums[-1] + int(np.dot(a[32 * c : 32 * c + 32], w[32 * c : 32 * c + 32])))
        return sums

    def output_proof(self, slot: int) -> list[bytes]:
        return self.state_trees[-1].proof(slot)


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
    """Answers from `trace`. `refuse_at` (provider move number) stops moving; `garbage_at`
    reveals random roots or sums at that move (its later openings then fail); `sum_lie_chunk`
    makes a corrupted matmul element's partial sums wrong from that chunk on."""

    trace: Trace
    k: int
    refuse_at: int | None = None
    garbage_at: int | None = None
    sum_lie_chunk: int | None = None
    moves: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def act(self, g, game, sender):  # noqa: ANN001
        if self.refuse_at is not None and self.moves >= self.refuse_at:
            raise Refuse
        self.moves += 1
        gid = g["id"]
        phase = g["phase"]
        t = self.trace
        garbage = self.garbage_at is not None and self.moves - 1 == self.garbage_at
        if phase == EXEC_REVEAL:
            pts = points(g["lo"], g["hi"], self.k)[1:-1]
            roots = [t.states[p] for p in pts]
            if garbage:
                roots = [self.rng.randbytes(32) for _ in pts]
            g["revealed"] = roots
            return game.revealStates(gid, roots, sender=sender)
        elif phase == OP_OPEN:
            return game.openOp(gid, self.opening(g["lo"]), sender=sender)
        elif phase == TENSOR_REVEAL:
            slot = t.program.n_inputs + g["opIndex"]
            m = min(int(np.log2(self.k)), g["height"])
            lvl = g["height"] - m
            nodes = [t.node(slot, lvl, (g["index"] << m) + i) for i in range(1 << m)]
            g["revealed"] = nodes
            return game.revealNodes(gid, nodes, sender=sender)
        elif phase == LEAF_REVEAL:
            slot = t.program.n_inputs + g["opIndex"]
            return game.revealLeaf(gid, t.leaf(slot, g["index"]), sender=sender)
        elif phase == SUM_REVEAL:
            sums = self.sums(g)
            pts = points(g["lo"], g["hi"], self.k)[1:-1]
            vals = [sums[p] for p in pts]
            if garbage:
                vals = [self.rng.randint(-(2**31), 2**31 - 1) for _ in pts]
            g["revealed"] = vals
            return game.revealSums(gid, vals, sender=sender)
        else:
            raise AssertionError(f"provider asked to move in phase {phase}")

    def sums(self, g) -> list[int]:  # noqa: ANN001
        t = self.trace
        op_i = g["opIndex"]
        honest = t.partial_sums(op_i, g["index"], g["elem"])
        slot = t.program.n_inputs + op_i
        claimed = int(t.tensors[slot][32 * g["index"] + g["elem"]])
        delta = claimed - honest[-1]
        if delta == 0:
            return honest
        c0 = self.sum_lie_chunk if self.sum_lie_chunk is not None else len(honest) - 2
        c0 = min(c0, len(honest) - 2)
        return [s + (delta if c > c0 else 0) for c, s in enumerate(honest)]

    def opening(self, a: int) -> tuple:
        t = self.trace
        p = t.program
        op = p.ops[a]
        st = t.state_trees[a]
        return (op.encode(), p.program_tree().proof(a), t.slot_root(op.out), st.proof(op.out))


@dataclass
class Challenger:
    """Points at the first disagreement with `trace` (honest), or at random (`rng` given);
    `refuse_at` stops moving."""

    trace: Trace
    k: int
    rng: random.Random | None = None
    refuse_at: int | None = None
    moves: int = 0

    def _choose(self, mismatches: list[bool]) -> int:
        if self.rng is not None:
            return self.rng.randrange(len(mismatches))
        for i, bad in enumerate(mismatches):
            if bad:
                return i
        return len(mismatches) - 1

    def act(self, g, game, sender):  # noqa: ANN001
        if self.refuse_at is not None and self.moves >= self.refuse_at:
            raise Refuse
        self.moves += 1
        gid = g["id"]
        phase = g["phase"]
        t = self.trace
        if phase == EXEC_PICK:
            roots = g["revealed"]
            pts = points(g["lo"], g["hi"], self.k)
            highs = list(roots) + [g["high"]]
            seg = self._choose([bytes(h) != t.states[pts[s + 1]] for s, h in enumerate(highs)])
            return game.pickState(gid, roots, seg, sender=sender)
        elif phase == TENSOR_PICK:
            nodes = g["revealed"]
            slot = t.program.n_inputs + g["opIndex"]
            m = min(int(np.log2(self.k)), g["height"])
            lvl = g["height"] - m
            seg = self._choose(
                [bytes(x) != t.node(slot, lvl, (g["index"] << m) + i) for i, x in enumerate(nodes)]
            )
            return game.pickNode(gid, nodes, seg, sender=sender)
        elif phase == ELEMENT_PICK:
            leaf = g["leaf"]
            slot = t.program.n_inputs + g["opIndex"]
            mine = unpack(t.leaf(slot, g["index"]), DType.INT32)
            theirs = unpack(leaf, DType.INT32)
            e = self._choose([int(a) != int(b) for a, b in zip(mine, theirs, strict=True)])
            return game.pickElement(gid, leaf, e, sender=sender)
        elif phase == SUM_PICK:
            vals = g["revealed"]
            honest = t.partial_sums(g["opIndex"], g["index"], g["elem"])
            pts = points(g["lo"], g["hi"], self.k)
            highs = list(vals) + [g["highSum"]]
            seg = self._choose([int(h) != honest[pts[s + 1]] for s, h in enumerate(highs)])
            return game.pickSum(gid, vals, seg, sender=sender)
        elif phase == STEP:
            return game.step(gid, self.step_data(g), sender=sender)
        else:
            raise AssertionError(f"challenger asked to move in phase {phase}")

    def step_data(self, g) -> tuple:  # noqa: ANN001
        return step_data(self.trace, g)


def step_data(t: Trace, g: dict) -> tuple:
    """StepData of the disputed leaf or chunk, from an honest trace (operands are agreed)."""
    from node.program.reference import elementwise_leaf_indices

    a_op = g["opIndex"]
    op = t.program.ops[a_op]
    enc = op.encode()
    st = t.state_trees[a_op]
    a_root = t.slot_root(op.a)
    has_b = op.b != NO_SLOT
    b_root = t.slot_root(op.b) if has_b else ZERO
    tail = (t.states[a_op], st.proof(op.a), st.proof(op.b) if has_b else [])
    j = g["index"]
    if j >= out_leaves(op):
        return (enc, a_root, b_root, b"", [], b"", []) + tail
    if g["chunkStep"]:
        mrow, ncol = divmod(32 * j + g["elem"], op.N)
        kl = op.K // 32
        ai, wi = mrow * kl + g["lo"], ncol * kl + g["lo"]
        return (
            enc, a_root, b_root,
            t.leaf(op.a, ai), t.leaf_proof(op.a, ai),
            t.leaf(op.b, wi), t.leaf_proof(op.b, wi),
        ) + tail  # fmt: skip
    ai, bi = elementwise_leaf_indices(op, j)
    a_leaf, a_proof = (t.leaf(op.a, ai), t.leaf_proof(op.a, ai)) if ai is not None else (b"", [])
    if op.opcode == Opcode.LUT:
        b_leaf, b_proof = t.packed[op.b], []
    elif bi is not None and has_b:
        b_leaf, b_proof = t.leaf(op.b, bi), t.leaf_proof(op.b, bi)
    else:
        b_leaf, b_proof = b"", []
    return (enc, a_root, b_root, a_leaf, a_proof, b_leaf, b_proof) + tail


def game_view(game, gid: int) -> dict:  # noqa: ANN001
    s = game.getGame(gid)
    low, high = bytes(s.low), bytes(s.high)
    return {
        "id": gid,
        "phase": int(s.phase),
        "status": int(s.status),
        "lo": int(s.lo),
        "hi": int(s.hi),
        "index": int(s.index),
        "height": int(s.height),
        "opIndex": int(s.opIndex),
        "elem": int(s.elem),
        "chunkStep": bool(s.chunkStep),
        "low": low,
        "high": high,
        "highSum": int.from_bytes(high, "big", signed=True),
        "lastMoveAt": int(s.lastMoveAt),
    }


@dataclass
class GameResult:
    status: int
    provider_moves: int
    challenger_moves: int
    gas: dict[str, list[int]]
    reverts: list[str]
    sequence: list[tuple[str, int]] = field(default_factory=list)


def play(
    game, gid, provider: Provider, challenger: Challenger, accounts_pc, chain, max_moves: int = 200
) -> GameResult:  # noqa: ANN001
    """Drives game `gid` to its end. A player that refuses, or whose move reverts (a liar that
    cannot back its reveal), loses by `timeout`, called by a third party."""
    from ape.exceptions import ContractLogicError

    prov_acct, chal_acct, anyone = accounts_pc
    carry: dict = {}
    gas: dict[str, list[int]] = {}
    reverts: list[str] = []
    sequence: list[tuple[str, int]] = []
    for _ in range(max_moves):
        g = game_view(game, gid)
        if g["status"] != ACTIVE:
            return GameResult(g["status"], provider.moves, challenger.moves, gas, reverts, sequence)
        g.update(carry)
        provider_turn = g["phase"] in PROVIDER_PHASES
        try:
            if provider_turn:
                receipt = provider.act(g, game, prov_acct)
            else:
                receipt = challenger.act(g, game, chal_acct)
            gas.setdefault(PHASE_NAMES[g["phase"]], []).append(int(receipt.gas_used))
            sequence.append((PHASE_NAMES[g["phase"]], int(receipt.gas_used)))
            carry = {k: g[k] for k in ("revealed",) if k in g}
            if g["phase"] == LEAF_REVEAL:
                carry["leaf"] = provider.trace.leaf(
                    provider.trace.program.n_inputs + g["opIndex"], g["index"]
                )
        except (Refuse, ContractLogicError) as exc:
            if isinstance(exc, ContractLogicError):
                reverts.append(
                    f"{PHASE_NAMES[g['phase']]}: {exc!r} {getattr(exc, 'revert_message', '')}"
                )
            deadline = int(game.deadline(gid))
            chain.pending_timestamp = max(chain.pending_timestamp, deadline + 1)
            game.timeout(gid, sender=anyone)
    raise AssertionError("game did not end")


PHASE_NAMES = {
    EXEC_REVEAL: "revealStates", EXEC_PICK: "pickState", OP_OPEN: "openOp",
    TENSOR_REVEAL: "revealNodes", TENSOR_PICK: "pickNode", LEAF_REVEAL: "revealLeaf",
    ELEMENT_PICK: "pickElement", SUM_REVEAL: "revealSums", SUM_PICK: "pickSum", STEP: "step",
}  # fmt: skip
