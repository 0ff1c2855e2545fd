"""P4 (issue 11): the table rules on chain (protocol.md section 4, v4).

The attack: a program posted directly through the contract whose op reads a slot of another
dtype or size. Before v4 `openOp` accepted such an op, the challenger's step then needed
operand proofs of a depth no tree of the committed roots has, and a lie on that op won. Now the
program root commits every input's spec and the opening checks the table rules (v7: `openSpecs`,
the opening's second move): the provider that claimed the program cannot complete the opening,
loses by timeout, and its claim is rejected.

And the property: on random programs (random specs, slots and dimensions, malformed spec leaves
included) the contract's opening check (`OpCodecProbe.checkOpening`, what `openOp` and
`openSpecs` run once their proofs hold) names exactly the rule Python's `opening_violation` names, and a program whose
every op opens is one Python validates."""

from __future__ import annotations

from dataclasses import dataclass

import ape
import numpy as np
import pytest
from conftest import BOND, CLOCK, EXECUTE, STAKE, WINDOW, balances_ok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.game.actions import OpOpening
from node.program.constants import MAX_SLOTS, NO_SLOT, DType, Flag, Opcode
from node.program.errors import ProgramError
from node.program.merkle import (
    MerkleTree,
    input_spec_tree,
    ops_tree,
    program_root,
    slot_tree,
    tensor_tree,
)
from node.program.ops import Op, im2col_op, qadd_op, requant_op
from node.program.packing import pack
from node.program.program import InputSlot, Program
from node.program.reference import run_op
from node.program.tensors import TensorSpec
from node.program.validation import opening_violation
from node.roles.safety import MOVE_GAS

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

CLAIM_REJECTED = 4
GAME_CHALLENGER_WON = 3


@pytest.fixture(scope="module")
def codec(project, deployer):  # noqa: ANN001
    return deployer.deploy(project.OpCodecProbe)


# ------------------------------------------------------------------ the attack, by hand


@dataclass
class HandMade:
    """A program committed by hand (no Python validation): its specs, ops, trees and the
    slot roots the liar's S_0 .. S_N are made of."""

    specs: list[TensorSpec]
    ops: list[Op]
    slot_roots: list[bytes]

    @property
    def n_inputs(self) -> int:
        return len(self.specs)

    def ops_tree(self) -> MerkleTree:
        return ops_tree([op.encode() for op in self.ops])

    def spec_tree(self) -> MerkleTree:
        return input_spec_tree([s.spec_leaf() for s in self.specs])

    @property
    def root(self) -> bytes:
        return program_root(self.ops_tree().root, self.spec_tree().root)

    def state(self, i: int) -> MerkleTree:
        n = self.n_inputs + i
        return slot_tree(self.slot_roots[:n] + [bytes(32)] * (len(self.slot_roots) - n))

    def source(self, slot: int) -> tuple[bytes, list[bytes]]:
        if slot < self.n_inputs:
            return self.specs[slot].spec_leaf(), self.spec_tree().proof(slot)
        i = slot - self.n_inputs
        return self.ops[i].encode(), self.ops_tree().proof(i)

    def opening(self, i: int, *, specs: bool = False, **change: object) -> tuple:
        """openOp's OpOpening of op `i` (or, `specs`, openSpecs' SpecOpening), fields replaced."""
        op = self.ops[i]
        a_spec, a_proof = self.source(op.a)
        b_spec, b_proof = self.source(op.b) if op.b != NO_SLOT else (b"", [])
        opening = OpOpening(
            op.encode(),
            tuple(self.ops_tree().proof(i)),
            self.slot_roots[op.out],
            tuple(self.state(i + 1).proof(op.out)),
            self.ops_tree().root,
            self.spec_tree().root,
            a_spec,
            tuple(a_proof),
            b_spec,
            tuple(b_proof),
        )
        struct = opening.specs_struct() if specs else opening.as_struct()
        struct.update(change)
        return tuple(struct.values())


def _root(values: np.ndarray, dtype: DType) -> bytes:
    return tensor_tree(pack(values.reshape(-1), dtype), dtype).root


def _post_claim_submit(system, chain, poster, provider, hm: HandMade, output_slot: int) -> int:  # noqa: ANN001
    """Post `hm` directly through the contract (no node validates it), claim it and submit the
    liar's S_N; returns the job id."""
    n_ops = len(hm.ops)
    params = (
        hm.root, hm.state(0).root, hm.n_inputs, n_ops, output_slot, STAKE, BOND,
        chain.pending_timestamp + 10 * 86400, EXECUTE, WINDOW, CLOCK,
    )  # fmt: skip
    system.market.post(params, "ipfs://hand-made", value=10**17, sender=poster)
    job_id = int(system.market.jobCount())
    if system.stake.freeStake(provider) < 2 * STAKE:  # the claim's lock and one game's backing
        system.stake.deposit(value=2 * STAKE, sender=provider)
    system.market.claim(job_id, sender=provider)
    s_n = hm.state(n_ops)
    system.market.submitResult(
        job_id, s_n.root, hm.slot_roots[output_slot], s_n.proof(output_slot), "ipfs://out",
        sender=provider,
    )  # fmt: skip
    return job_id


def test_table_rule_attack_is_lost_by_the_claimant(
    system, chain, poster, provider, challenger, anyone
):  # noqa: ANN001
    """Op 1 reads op 0's int8 output as an int32 relu (T2, through the producing op). The liar
    reveals S_1 right and anything after it; the challenger agrees with S_1 and points at op 1,
    which cannot be opened whatever the provider sends: it loses by timeout, its claim is
    rejected and the challenger is paid its bond and the bounty."""
    g, m = system.game, system.market
    x = np.random.default_rng(7).integers(-128, 128, (4, 64))
    relu8 = Op(Opcode.RELU, out=1, a=0, M=4, N=64)
    bad = Op(Opcode.RELU, out=2, a=1, M=4, N=64, flags=Flag.RELU_INT32)  # slot 1 is int8
    last = Op(Opcode.RELU, out=3, a=1, M=4, N=64)
    y = run_op(relu8, x, None)
    lie = _root(np.arange(256) - 7, DType.INT32)  # the liar's "output" of the broken op
    hm = HandMade(
        [TensorSpec(DType.INT8, 4, 64)],
        [relu8, bad, last],
        [_root(x, DType.INT8), _root(y, DType.INT8), lie, _root(y, DType.INT8)],
    )
    with pytest.raises(ProgramError, match="operand a"):  # no node would post or claim it
        Program((InputSlot("x", hm.specs[0]),), tuple(hm.ops), 3).validate()
    job = _post_claim_submit(system, chain, poster, provider, hm, 3)
    claim_id = int(m.claimCount())
    m.challenge(job, value=BOND, sender=challenger)
    gid = int(g.gameCount())
    backing = int(m.backingOfGame(gid))
    credits0 = int(m.credits(challenger))
    roots = [hm.state(1).root, hm.state(2).root]
    g.revealStates(gid, roots, sender=provider)
    g.pickState(gid, roots, 1, sender=challenger)  # agrees with S_1: op 1 is disputed
    g.openOp(gid, hm.opening(1), sender=provider)  # the op rules hold: the table rules follow
    args = {"operand": 1, "slot": 1, "dtype": 1, "numel": 256, "wantDtype": 4, "wantNumel": 256}
    with ape.reverts(g.OperandMismatch, **args):
        g.openSpecs(gid, hm.opening(1, specs=True), sender=provider)
    # no other source passes: a forged spec source is not under the committed roots
    forged = Op(Opcode.RELU, out=1, a=0, M=4, N=64, flags=Flag.RELU_INT32).encode()
    with ape.reverts(g.BadProof, which=9):
        g.openSpecs(gid, hm.opening(1, specs=True, aSpec=forged), sender=provider)
    with ape.reverts(g.OpCommitMismatch):
        g.openSpecs(
            gid, hm.opening(1, specs=True, opsRoot=ops_tree([forged]).root), sender=provider
        )
    assert g.mover(gid) == provider.address  # its clock runs in OpSpecs
    chain.pending_timestamp = int(g.deadline(gid)) + 1
    chain.mine()
    g.timeout(gid, sender=anyone)
    assert int(g.getGame(gid).status) == GAME_CHALLENGER_WON
    assert int(m.getClaim(claim_id).state) == CLAIM_REJECTED
    assert int(m.credits(challenger)) - credits0 == BOND + backing // 2 and backing > 0
    balances_ok(system)


def test_input_of_another_size_cannot_be_opened(
    system, chain, poster, provider, challenger, anyone
):  # noqa: ANN001
    """The issue's case: a one-op program whose relu reads its input as [4, 64] while the input
    is [2, 64] (a step on output leaf 7 would need a depth-3 proof in a depth-2 tree). The spec
    leaf commits [2, 64]: the opening reverts, a spec leaf claiming [4, 64] is not the
    committed one, and the provider loses by timeout."""
    g = system.game
    x = np.random.default_rng(8).integers(-128, 128, (2, 64))
    op = Op(Opcode.RELU, out=1, a=0, M=4, N=64)
    lie = _root(np.arange(256) % 100, DType.INT8)
    hm = HandMade([TensorSpec(DType.INT8, 2, 64)], [op], [_root(x, DType.INT8), lie])
    job = _post_claim_submit(system, chain, poster, provider, hm, 1)
    claim_id = int(system.market.claimCount())
    system.market.challenge(job, value=BOND, sender=challenger)
    gid = int(g.gameCount())
    g.openOp(gid, hm.opening(0), sender=provider)
    args = {"operand": 1, "slot": 0, "dtype": 1, "numel": 128, "wantDtype": 1, "wantNumel": 256}
    with ape.reverts(g.OperandMismatch, **args):
        g.openSpecs(gid, hm.opening(0, specs=True), sender=provider)
    claimed = TensorSpec(DType.INT8, 4, 64).spec_leaf()
    with ape.reverts(g.BadProof, which=9):
        g.openSpecs(gid, hm.opening(0, specs=True, aSpec=claimed), sender=provider)
    chain.pending_timestamp = int(g.deadline(gid)) + 1
    chain.mine()
    g.timeout(gid, sender=anyone)
    assert int(system.market.getClaim(claim_id).state) == CLAIM_REJECTED
    balances_ok(system)


def test_open_op_gas_with_the_spec_checks(system, chain, poster, provider, challenger):  # noqa: ANN001
    """The opening (openOp, then openSpecs) of a valid two-input matmul (two spec leaves) and of a
    relu of an op output (a producing op): each move under MOVE_GAS (docs/benchmarks.md)."""
    g = system.game
    rng = np.random.default_rng(9)
    a, w = rng.integers(-128, 128, (4, 64)), rng.integers(-128, 128, (32, 64))
    mm = Op(Opcode.MATMUL, out=2, a=0, b=1, M=4, K=64, N=32)
    relu = Op(Opcode.RELU, out=3, a=2, M=4, N=32, flags=Flag.RELU_INT32)
    y = run_op(mm, a, w)
    hm = HandMade(
        [TensorSpec(DType.INT8, 4, 64), TensorSpec(DType.INT8, 32, 64)],
        [mm, relu],
        [_root(a, DType.INT8), _root(w, DType.INT8), _root(y, DType.INT32), bytes(32)],
    )
    hm.slot_roots[3] = _root(np.maximum(y, 0) + 1, DType.INT32)  # a lie on op 1
    Program(
        tuple(InputSlot(f"in{i}", s) for i, s in enumerate(hm.specs)), tuple(hm.ops), 3
    ).validate()
    gas = {}
    for i in (0, 1):
        job = _post_claim_submit(system, chain, poster, provider, hm, 3)
        system.market.challenge(job, value=BOND, sender=challenger)
        gid = int(g.gameCount())
        roots = [hm.state(1).root]
        g.revealStates(gid, roots, sender=provider)
        g.pickState(gid, roots, i, sender=challenger)
        gas[i] = (
            g.openOp(gid, hm.opening(i), sender=provider).gas_used,
            g.openSpecs(gid, hm.opening(i, specs=True), sender=provider).gas_used,
        )
    print(
        f"openOp, openSpecs gas (v7): matmul of two inputs {gas[0][0]:,}, {gas[0][1]:,}; "
        f"relu of an op output {gas[1][0]:,}, {gas[1][1]:,}"
    )
    assert all(0 < x < MOVE_GAS for pair in gas.values() for x in pair)


@pytest.mark.slow
@pytest.mark.parametrize("n_in", [MAX_SLOTS // 2, 1])
def test_open_op_gas_at_the_deepest_trees(system, chain, poster, provider, challenger, n_in):  # noqa: ANN001
    """The costliest opening the protocol admits (v7): MAX_SLOTS = 2^17 slots, 2^16 of them inputs
    or one (2^17 - 1 ops), so the op proof, both operand spec proofs (each operand written by an
    op) and the slot proof are all 16-17 levels deep, the slot ids' high halves non-zero and the
    ops' encodings mostly non-zero bytes (the dearest calldata). Each of its two moves stays under MOVE_GAS (node/roles/safety.py), the
    bound of every provider move (v7)."""
    g = system.game
    n_ops = MAX_SLOTS - n_in
    m, n = 0x0101, 0x010120  # [257, 65824]: every dimension byte but one non-zero
    specs = [TensorSpec(DType.INT8, m, n)] * n_in
    ops = [
        Op(Opcode.RELU, out=n_in, a=0, M=m, N=n),
        Op(Opcode.RELU, out=n_in + 1, a=n_in, M=m, N=n),
    ]
    for i in range(2, n_ops):
        big = 0x7F7F7F7F
        ops.append(
            qadd_op(n_in + i, n_in + i - 1, n_in + i - 2, M=m, N=n, mult=big, mult2=big, shift=61)
        )
    root = _root(np.zeros(32, dtype=np.int64), DType.INT8)
    hm = HandMade(specs, ops, [root] * (n_in + n_ops))
    ops_root = hm.ops_tree()  # the trees once: HandMade rebuilds them on every call
    spec_root = hm.spec_tree()
    hm.ops_tree = lambda: ops_root  # type: ignore[method-assign]
    hm.spec_tree = lambda: spec_root  # type: ignore[method-assign]
    hm.slot_roots[-1] = _root(np.ones(32, dtype=np.int64), DType.INT8)  # the lie: the last op
    states = {i: hm.state(i) for i in (0, n_ops - 1, n_ops)}
    hm.state = states.__getitem__  # type: ignore[method-assign]
    job = _post_claim_submit(system, chain, poster, provider, hm, n_in + n_ops - 1)
    system.market.challenge(job, value=BOND, sender=challenger)
    gid = int(g.gameCount())
    lo, hi = 0, n_ops
    while hi - lo > 1:  # the challenger always disputes the last segment
        pts = [lo + (i * (hi - lo)) // min(16, hi - lo) for i in range(min(16, hi - lo) + 1)]
        roots = [states[p].root if p in states else p.to_bytes(32, "big") for p in pts[1:-1]]
        g.revealStates(gid, roots, sender=provider)
        g.pickState(gid, roots, len(pts) - 2, sender=challenger)
        lo, hi = pts[-2], pts[-1]
    gas = g.openOp(gid, hm.opening(lo), sender=provider).gas_used
    specs = g.openSpecs(gid, hm.opening(lo, specs=True), sender=provider).gas_used
    print(
        f"openOp, openSpecs gas at {MAX_SLOTS:,} slots, {n_in} inputs (op {lo}, both operands op "
        "outputs): "
        f"{gas:,}, {specs:,}"
    )
    assert 0 < gas < MOVE_GAS and 0 < specs < MOVE_GAS


# ------------------------------------------------------------------ the property


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, list[bytes], list[TensorSpec], list[Op]]:
    """Random inputs (nominal specs, some leaves then corrupted) and ops whose dimensions
    follow an operand's nominal spec, perturbed now and then, so that every rule, op or
    table, is hit and most ops are valid."""
    n_inputs = draw(st.integers(1, 4))
    specs: list[TensorSpec] = []
    leaves: list[bytes] = []
    for _ in range(n_inputs):
        dt = draw(st.sampled_from([DType.INT8, DType.INT32]))
        spec = TensorSpec(dt, draw(st.integers(1, 4)), 32 * draw(st.integers(1, 3)))
        if draw(st.integers(0, 9)) == 0:
            spec = TensorSpec(DType.INT8, 1, 256)  # a lut table
        leaf = bytearray(spec.spec_leaf())
        if draw(st.integers(0, 11)) == 0:
            leaf[draw(st.integers(0, 31))] = draw(st.integers(0, 255))
        specs.append(spec)
        leaves.append(bytes(leaf))
    table = list(specs)
    ops: list[Op] = []
    for i in range(draw(st.integers(1, 5))):
        out = n_inputs + i
        a = draw(st.integers(0, out - 1))
        b = draw(st.integers(0, out - 1))
        sa = table[a]
        rows = sa.rows + (draw(st.integers(-1, 1)) if draw(st.integers(0, 4)) == 0 else 0)
        rows = max(rows, 1)
        cols = sa.cols
        kind = draw(st.sampled_from(["relu", "add", "requant", "requant_pc", "lut", "matmul",
                                     "im2col"]))  # fmt: skip
        if kind == "relu":
            int32 = sa.dtype == DType.INT32 if draw(st.integers(0, 4)) else draw(st.booleans())
            op = Op(Opcode.RELU, out=out, a=a, M=rows, N=cols,
                    flags=Flag.RELU_INT32 if int32 else 0)  # fmt: skip
        elif kind == "add":
            bc = draw(st.booleans())
            op = Op(Opcode.ADD, out=out, a=a, b=b, M=rows, N=cols,
                    flags=Flag.ADD_BROADCAST if bc else 0)  # fmt: skip
        elif kind == "requant":
            op = requant_op(out, a, M=rows, N=cols, shift=4, mult=3)
        elif kind == "requant_pc":
            op = requant_op(out, a, M=rows, N=cols, shift=4, mults=b)
        elif kind == "lut":
            op = Op(Opcode.LUT, out=out, a=a, b=b, M=rows, N=cols)
        elif kind == "matmul":
            op = Op(
                Opcode.MATMUL, out=out, a=a, b=b, M=rows, K=cols, N=32 * draw(st.integers(1, 2))
            )
        else:
            op = im2col_op(out, a, B=1, H=rows, W=1, C=cols, KH=1, KW=1, S=1, P=0)
        ops.append(op)
        table.append(op.out_spec)
    return n_inputs, leaves, specs, ops


def _sources(n_inputs: int, leaves: list[bytes], ops: list[Op], op: Op) -> dict[int, bytes]:
    out = {}
    for slot in (op.a, op.b):
        if slot == NO_SLOT:
            continue
        out[slot] = leaves[slot] if slot < n_inputs else ops[slot - n_inputs].encode()
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(prog=programs())
def test_chain_opening_check_equals_python_validation(codec, prog) -> None:  # noqa: ANN001
    n_inputs, leaves, specs, ops = prog
    every_op_opens = True
    for i, op in enumerate(ops):
        enc = op.encode()
        sources = _sources(n_inputs, leaves, ops, op)
        a_src = sources[op.a]
        b_src = sources.get(op.b, b"")
        v = opening_violation(enc, i, n_inputs, sources)
        if v is None:
            assert codec.checkOpening(enc, n_inputs, i, a_src, b_src) == int(op.opcode)
            continue
        every_op_opens = False
        with ape.reverts(getattr(codec, v.chain_error), **v.chain_args):
            codec.checkOpening(enc, n_inputs, i, a_src, b_src)
    # a program whose spec leaves are well-formed is valid exactly when every op opens
    if all(leaf == s.spec_leaf() for leaf, s in zip(leaves, specs, strict=True)):
        inputs = tuple(InputSlot(f"in{k}", s) for k, s in enumerate(specs))
        program = Program(inputs, tuple(ops), n_inputs + len(ops) - 1)
        try:
            program.validate()
            valid = True
        except ProgramError:
            valid = False
        assert valid == every_op_opens
