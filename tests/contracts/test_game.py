"""DisputeGame: every level, every move error, clocks, and the two properties that make the
protocol sound: an honest provider beats every challenger strategy, an honest challenger beats
every lying provider (wrong reveal at any level, wrong leaf, wrong partial sum, refusing to move).

Property tests use hypothesis with a bounded number of examples; POC_FUZZ=1 raises them (make fuzz)."""

from __future__ import annotations

import functools
import os
import random

import ape
import numpy as np
import pytest
from conftest import ARITY, CLOCK, FUZZ, balances_ok, claimed_submitted, open_game
from contracts_trace import (
    Challenger,
    Match,
    Provider,
    Trace,
    game_view,
    play_traces,
    program_of,
    step_data,
    synthetic_view,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.game.actions import OpenOp
from node.game.rules import GameStatus, Phase, Side, points
from node.game.solver import solve
from node.game.view import OpenedOp
from node.program.constants import DType, Flag, Opcode
from node.program.ops import Op

PLAYERS = None  # set per test: (provider, challenger, anyone)
GAMES_PER_PROPERTY = 6  # per property in CI; the slow campaign below runs POC_FUZZ_GAMES each


def long_program(
    rng: np.random.Generator, m: int = 40, k: int = 32 * 40, n: int = 32, chain_len: int = 40
):
    """A matmul with K/32 = 40 chunks and 40 output leaves, then a chain of int32 relus and adds:
    every level has more than one round at k = 16."""
    inputs = [(DType.INT8, m, k), (DType.INT8, n, k), (DType.INT32, 1, n)]
    ni = len(inputs)
    ops = [Op(Opcode.MATMUL, out=ni, a=0, b=1, M=m, K=k, N=n)]
    for i in range(chain_len):
        slot = ni + len(ops)
        if i % 2:
            ops.append(
                Op(Opcode.ADD, out=slot, a=slot - 1, b=2, M=m, N=n, flags=Flag.ADD_BROADCAST)
            )
        else:
            ops.append(Op(Opcode.RELU, out=slot, a=slot - 1, M=m, N=n, flags=Flag.RELU_INT32))
    prog = program_of(inputs, ops)
    vals = [
        rng.integers(-128, 128, (m, k)),
        rng.integers(-128, 128, (n, k)),
        rng.integers(-1000, 1000, (1, n)),
    ]
    return prog, vals


@pytest.fixture(scope="module")
def long_trace() -> Trace:
    prog, vals = long_program(np.random.default_rng(5))
    return Trace(prog, vals)


def run(system, chain, players, trace_p: Trace, honest: Trace, prov_kw=None, chal_kw=None):  # noqa: ANN001
    provider, challenger, anyone = players
    job = claimed_submitted(system, PLAYERS_POSTER[0], provider, trace_p, chain)
    gid = open_game(system, job, challenger)
    return play_traces(system.game, gid, trace_p, honest, players, chain, ARITY, prov_kw, chal_kw)


PLAYERS_POSTER: list = []


@pytest.fixture(autouse=True)
def _poster(poster):  # noqa: ANN001
    PLAYERS_POSTER[:] = [poster]


# ------------------------------------------------------------------ full games, every level


def test_points_are_evenly_spaced(game):  # noqa: ANN001
    for lo, hi in [(0, 2), (0, 16), (0, 17), (3, 100), (0, 65535), (10, 11 + 15)]:
        assert list(game.points(lo, hi)) == points(lo, hi, ARITY)[1:-1]
    assert game.arity() == ARITY


def test_long_program_liar_loses_on_partial_sum(
    system, provider, challenger, anyone, chain, long_trace
):  # noqa: ANN001
    t = long_trace
    liar = Trace(t.program, t.values, corrupt=(0, 32 * 37 + 9, 11))
    r = run(system, chain, (provider, challenger, anyone), liar, t, prov_kw={"sum_lie_chunk": 23})
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts
    # execution level: 41 ops -> 2 reveals; tensor: depth 6 -> 2 reveals; sums: 40 chunks -> 2 reveals
    assert len(r.gas["revealStates"]) == 2 and len(r.gas["revealNodes"]) == 2
    assert len(r.gas["revealSums"]) == 2 and r.gas["step"]
    assert r.provider_moves <= 12
    balances_ok(system)


def test_long_program_liar_loses_on_a_late_elementwise_op(
    system, provider, challenger, anyone, chain, long_trace
):  # noqa: ANN001
    t = long_trace
    liar = Trace(t.program, t.values, corrupt=(29, 32 * 21 + 2, -5))
    r = run(system, chain, (provider, challenger, anyone), liar, t)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts and "revealLeaf" not in r.gas


def test_honest_provider_wins_long_program(system, provider, challenger, anyone, chain, long_trace):  # noqa: ANN001
    r = run(
        system,
        chain,
        (provider, challenger, anyone),
        long_trace,
        long_trace,
        chal_kw={"rng": random.Random(3)},
    )
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts


@pytest.mark.parametrize("op_i", range(6))
def test_every_opcode_liar_loses(system, provider, challenger, anyone, chain, honest_trace, op_i):  # noqa: ANN001
    t = honest_trace
    n_out = t.tensors[t.program.n_inputs + op_i].size
    liar = Trace(t.program, t.values, corrupt=(op_i, n_out - 1, 1))
    r = run(system, chain, (provider, challenger, anyone), liar, t)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts


def test_padding_leaf_must_be_zero(system, provider, challenger, anyone, chain):  # noqa: ANN001
    """A provider whose output tree has a non-zero padding leaf loses at the step."""
    from node.program.merkle import MerkleTree
    from node.program.packing import zero_leaf

    prog = program_of(
        [(DType.INT32, 3, 32)], [Op(Opcode.RELU, out=1, a=0, M=3, N=32, flags=Flag.RELU_INT32)]
    )
    vals = [np.arange(-48, 48).reshape(3, 32)]
    honest = Trace(prog, vals)
    liar = Trace(prog, vals)
    # rebuild the liar's output tree with leaf 3 (padding) set to ones
    data = liar.packed[1] + b"\x01" * 128
    from node.program.hashing import hash_blocks, sha256

    liar.trees[1] = MerkleTree.from_leaf_nodes(
        hash_blocks(data, 128), 4, sha256(zero_leaf(DType.INT32))
    )
    liar.packed[1] = data
    from node.program.merkle import slot_tree

    roots = [liar.trees[0].root, liar.trees[1].root]
    liar.state_trees[1] = slot_tree(roots)
    liar.states[1] = liar.state_trees[1].root
    r = run(system, chain, (provider, challenger, anyone), liar, honest)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts


# ------------------------------------------------------------------ move errors and clocks


def _opening_args(t: Trace, i: int, *, specs: bool = False, **change: object) -> tuple:
    """openOp's OpOpening (or, `specs`, openSpecs' SpecOpening) for op `i` as the honest
    provider's solver builds it, with fields replaced (Solidity names)."""
    v = synthetic_view(t, i, 0, phase=Phase.OP_OPEN, lo=i, hi=i + 1)
    (action,) = solve(v, Side.PROVIDER, t)
    assert isinstance(action, OpenOp)
    struct = action.opening.specs_struct() if specs else action.opening.as_struct()
    struct.update(change)
    return tuple(struct.values())


def _fresh_game(system, chain, players, trace):  # noqa: ANN001
    provider, challenger, _ = players
    job = claimed_submitted(system, PLAYERS_POSTER[0], provider, trace, chain)
    return open_game(system, job, challenger)


def test_move_errors(system, provider, challenger, anyone, chain, honest_trace, long_trace):  # noqa: ANN001
    g = system.game
    t = long_trace
    gid = _fresh_game(system, chain, (provider, challenger, anyone), t)
    with ape.reverts(g.GameNotFound, gameId=999):
        g.revealStates(999, [], sender=provider)
    pts = points(0, t.n_ops, ARITY)[1:-1]
    roots = [t.states[p] for p in pts]
    with ape.reverts(g.NotMover, gameId=gid, caller=challenger.address, mover=provider.address):
        g.revealStates(gid, roots, sender=challenger)
    with ape.reverts(g.WrongPhase, gameId=gid, have=1, want=2):
        g.pickState(gid, roots, 0, sender=challenger)
    with ape.reverts(g.BadLength, gameId=gid, have=len(roots) - 1, want=len(roots)):
        g.revealStates(gid, roots[:-1], sender=provider)
    with ape.reverts(g.WrongPhase, gameId=gid, have=1, want=3):
        g.openOp(gid, _opening_args(t, 0), sender=provider)
    g.revealStates(gid, roots, sender=provider)
    assert g.mover(gid) == challenger.address
    with ape.reverts(g.RevealMismatch):
        g.pickState(gid, roots[::-1], 0, sender=challenger)
    with ape.reverts(g.IndexOutOfRange, index=ARITY, bound=ARITY):
        g.pickState(gid, roots, ARITY, sender=challenger)
    with ape.reverts(g.ClockRunning):
        g.timeout(gid, sender=anyone)
    g.pickState(gid, roots, 0, sender=challenger)  # [0, 2]
    assert game_view(g, gid).phase == Phase.EXEC_REVEAL
    g.revealStates(gid, [t.states[1]], sender=provider)
    g.pickState(gid, [t.states[1]], 0, sender=challenger)  # [0, 1]: the matmul -> opening
    v = game_view(g, gid)
    assert (v.lo, v.hi, v.phase) == (0, 1, Phase.OP_OPEN)
    op = t.program.ops[0]
    enc = op.encode()
    proof = t.program.ops_tree().proof(0)
    with ape.reverts(g.BadProof, which=3):
        g.openOp(gid, _opening_args(t, 0, opProof=[bytes(32)] * len(proof)), sender=provider)
    with ape.reverts(g.ProofLength, which=3, have=len(proof) + 1, want=len(proof)):
        g.openOp(gid, _opening_args(t, 0, opProof=proof + [bytes(32)]), sender=provider)
    with ape.reverts(g.BadProof, which=7):
        g.openOp(gid, _opening_args(t, 0, outRoot=bytes(32)), sender=provider)
    # v3: the program root's two halves
    with ape.reverts(g.BadProof, which=8):
        g.openOp(gid, _opening_args(t, 0, inputSpecRoot=bytes(32)), sender=provider)
    with ape.reverts(g.WrongPhase, gameId=gid, have=3, want=11):
        g.openSpecs(gid, _opening_args(t, 0, specs=True), sender=provider)
    g.openOp(gid, _opening_args(t, 0), sender=provider)
    v = game_view(g, gid)
    assert (v.phase, v.mover, v.high) == (Phase.OP_SPECS, Side.PROVIDER, t.root(op.out))
    # v7, the second move: the op openOp kept, the halves again, then each
    # operand's committed spec (the matmul reads two inputs: spec leaves under the spec root)
    specs = functools.partial(_opening_args, t, 0, specs=True)
    with ape.reverts(g.NotMover):
        g.openSpecs(gid, specs(), sender=challenger)
    with ape.reverts(g.OpCommitMismatch, gameId=gid):  # another op, or other halves
        g.openSpecs(gid, specs(op=t.program.ops[1].encode()), sender=provider)
    with ape.reverts(g.OpCommitMismatch, gameId=gid):
        g.openSpecs(gid, specs(opsRoot=bytes(32)), sender=provider)
    a_spec, a_proof = t.program.spec_source(op.a)
    with ape.reverts(g.BadProof, which=9):
        g.openSpecs(gid, specs(aSpecProof=[bytes(32)] * len(a_proof)), sender=provider)
    with ape.reverts(g.ProofLength, which=10):
        g.openSpecs(gid, specs(bSpecProof=[]), sender=provider)
    with ape.reverts(g.SpecSourceLength, operand=1, have=64, want=32):
        g.openSpecs(gid, specs(aSpec=enc), sender=provider)
    g.openSpecs(gid, specs(), sender=provider)
    v = game_view(g, gid)
    assert v.phase == Phase.TENSOR_REVEAL and v.height == 6
    nodes = [t.node(op.out, 2, i) for i in range(16)]
    with ape.reverts(g.BadLength, gameId=gid, have=8, want=16):
        g.revealNodes(gid, nodes[:8], sender=provider)
    bad = list(nodes)
    bad[0] = bytes(32)
    with ape.reverts(g.NodesMismatch):
        g.revealNodes(gid, bad, sender=provider)
    g.revealNodes(gid, nodes, sender=provider)
    g.pickNode(gid, nodes, 1, sender=challenger)
    nodes = [t.node(op.out, 0, 4 + i) for i in range(4)]
    g.revealNodes(gid, nodes, sender=provider)
    g.pickNode(gid, nodes, 2, sender=challenger)  # leaf 6 (real) -> leaf reveal
    v = game_view(g, gid)
    assert (v.phase, v.index, v.height) == (Phase.LEAF_REVEAL, 6, 0)
    with ape.reverts(g.BadLength, gameId=gid, have=32, want=128):
        g.revealLeaf(gid, bytes(32), sender=provider)
    with ape.reverts(g.NodesMismatch):
        g.revealLeaf(gid, bytes(128), sender=provider)
    leaf = t.leaf(op.out, 6)
    g.revealLeaf(gid, leaf, sender=provider)
    with ape.reverts(g.IndexOutOfRange, index=32, bound=32):
        g.pickElement(gid, leaf, 32, sender=challenger)
    g.pickElement(gid, leaf, 4, sender=challenger)
    sums = t.partial_sums(0, 6, 4)
    vals = [sums[p] for p in points(0, 40, ARITY)[1:-1]]
    g.revealSums(gid, vals, sender=provider)
    with ape.reverts(g.RevealMismatch):
        g.pickSum(gid, vals[1:] + [0], 0, sender=challenger)
    g.pickSum(gid, vals, 0, sender=challenger)  # chunks [0, 2]
    vals2 = [sums[1]]
    g.revealSums(gid, vals2, sender=provider)
    g.pickSum(gid, vals2, 1, sender=challenger)  # chunk 1
    v = game_view(g, gid, now=chain.pending_timestamp, opened=OpenedOp(enc, t.slot_root(op.out)))
    assert v.phase == Phase.STEP and v.lo == 1 and v.chunk_step
    d = step_data(v, t)
    bad = list(d)
    bad[7] = bytes(32)
    with ape.reverts(g.OpCommitMismatch):
        g.step(gid, tuple(bad), sender=challenger)
    bad = list(d)
    bad[8] = [bytes(32)] * len(d[8])
    with ape.reverts(g.BadProof, which=4):
        g.step(gid, tuple(bad), sender=challenger)
    bad = list(d)
    bad[9] = [bytes(32)] * len(d[9])
    with ape.reverts(g.BadProof, which=5):
        g.step(gid, tuple(bad), sender=challenger)
    # the challenger's clock runs out: it can no longer move, and anyone may end the game
    chain.pending_timestamp = int(g.deadline(gid)) + 1
    chain.mine()
    with ape.reverts(g.ClockExpired):
        g.step(gid, d, sender=challenger)
    g.timeout(gid, sender=anyone)
    assert game_view(g, gid).status == GameStatus.PROVIDER_WON and g.mover(gid) == "0x" + "00" * 20
    with ape.reverts(g.GameOver, gameId=gid, status=GameStatus.PROVIDER_WON):
        g.timeout(gid, sender=anyone)
    balances_ok(system)


def test_clock_is_charged_only_on_own_turn(system, provider, challenger, anyone, chain, long_trace):  # noqa: ANN001
    g = system.game
    t = long_trace
    gid = _fresh_game(system, chain, (provider, challenger, anyone), t)
    chain.pending_timestamp = chain.pending_timestamp + 100
    roots = [t.states[p] for p in points(0, t.n_ops, ARITY)[1:-1]]
    g.revealStates(gid, roots, sender=provider)
    s = g.getGame(gid)
    assert CLOCK - 110 <= s.providerClock <= CLOCK - 99 and s.challengerClock == CLOCK
    assert g.deadline(gid) == s.lastMoveAt + CLOCK


def test_op_without_b_rejects_a_b_root(system, provider, challenger, anyone, chain, honest_trace):  # noqa: ANN001
    """requant per-tensor (op 2) has no b: the step must carry bRoot = 0 and no b slot proof."""
    t = honest_trace
    liar = Trace(t.program, t.values, corrupt=(2, 0, 1))
    g = system.game
    gid = _fresh_game(system, chain, (provider, challenger, anyone), liar)
    # both play by the solver up to the step, which the test then sends itself
    match = Match(g, gid, Provider(liar, ARITY), Challenger(t, ARITY), (provider, challenger))
    moves = 0
    while (v := match.view(chain.pending_timestamp)).phase != Phase.STEP:
        match.move(v)
        moves += 1
        assert moves < 30
    d = step_data(v, t)
    bad = list(d)
    bad[2] = b"\x01" * 32
    with ape.reverts(g.BadProof, which=5):
        g.step(gid, tuple(bad), sender=challenger)
    g.step(gid, d, sender=challenger)
    assert game_view(g, gid).status == GameStatus.CHALLENGER_WON


# ------------------------------------------------------------------ properties


def _settings(n: int) -> settings:
    return settings(
        max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not FUZZ
    )


HONEST_ARGS = {
    "seed": st.integers(0, 2**32 - 1),
    "refuse": st.one_of(st.none(), st.integers(0, 12)),
    "long": st.booleans(),
}
LIAR_ARGS = {
    "data": st.data(),
    "kind": st.sampled_from(["leaf", "sum", "garbage", "refuse"]),
    "long": st.booleans(),
}


def _honest_provider_vs_random_challenger(
    system, provider, challenger, anyone, chain, honest_trace, long_trace, seed, refuse, long
):  # noqa: ANN001
    t = long_trace if long else honest_trace
    r = run(
        system,
        chain,
        (provider, challenger, anyone),
        t,
        t,
        chal_kw={"rng": random.Random(seed), "refuse_at": refuse},
    )
    assert r.status == GameStatus.PROVIDER_WON, r
    assert not r.reverts, r.reverts
    _count("games: honest provider vs random challenger")


def _honest_challenger_vs_lying_provider(
    system, provider, challenger, anyone, chain, honest_trace, long_trace, data, kind, long
):  # noqa: ANN001
    t = long_trace if long else honest_trace
    prog = t.program
    prov_kw: dict = {}
    if kind in ("leaf", "sum"):
        op_i = data.draw(st.integers(0, len(prog.ops) - 1)) if kind == "leaf" else 0
        n_out = t.tensors[prog.n_inputs + op_i].size
        e = data.draw(st.integers(0, n_out - 1))
        delta = data.draw(st.integers(1, 200)) * data.draw(st.sampled_from([1, -1]))
        liar = Trace(prog, t.values, corrupt=(op_i, e, delta))
        if kind == "sum":
            prov_kw["sum_lie_chunk"] = data.draw(st.integers(0, prog.ops[0].K // 32 - 1))
    else:
        # wrong output claimed, and a garbage reveal or a refusal at some move
        liar = Trace(prog, t.values, corrupt=(len(prog.ops) - 1, 0, 1))
        key = "garbage_at" if kind == "garbage" else "refuse_at"
        prov_kw[key] = data.draw(st.integers(0, 10))
    r = run(system, chain, (provider, challenger, anyone), liar, t, prov_kw=prov_kw)
    assert r.status == GameStatus.CHALLENGER_WON, (kind, r)
    _count(f"games: honest challenger vs lying provider ({kind})")


# CI: a few games per property. make fuzz (POC_FUZZ=1, -m slow): 500 + 500 games.
test_honest_provider_beats_random_challenger = _settings(GAMES_PER_PROPERTY)(
    given(**HONEST_ARGS)(_honest_provider_vs_random_challenger)
)
test_honest_challenger_beats_lying_provider = _settings(GAMES_PER_PROPERTY)(
    given(**LIAR_ARGS)(_honest_challenger_vs_lying_provider)
)
FUZZ_GAMES = int(os.environ.get("POC_FUZZ_GAMES", "500")) if FUZZ else 10
test_fuzz_honest_provider_campaign = pytest.mark.slow(
    _settings(FUZZ_GAMES)(given(**HONEST_ARGS)(_honest_provider_vs_random_challenger))
)
test_fuzz_lying_provider_campaign = pytest.mark.slow(
    _settings(FUZZ_GAMES)(given(**LIAR_ARGS)(_honest_challenger_vs_lying_provider))
)


COUNTS: dict[str, int] = {}


def _count(key: str) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + 1


def teardown_module(module) -> None:  # noqa: ANN001
    from fuzz_counts import record

    record("game", COUNTS)
