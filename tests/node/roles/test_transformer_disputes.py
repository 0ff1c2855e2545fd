"""Disputes on a small transformer block built from the v5 ops (embedding gather, K and V^T
caches by write, causal softmax by reduce / rowop / lut, a mul gate, a LayerNorm by reduce +
rowop norm, logits and greedy argmax): a lie in each v5 op is decided at that op's step for the
honest challenger on the embedded chain, with the real DisputeGame and TensorStep; an honest
provider is defended. The step's gas of each is printed (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from game_support import play_dispute

from node.game.rules import GameStatus
from node.program.compiler.builder import ProgramBuilder
from node.program.constants import DType, Opcode, ReduceKind, RowKind
from node.program.program import Program
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat

T, TMAX, DM, DH, V = 32, 64, 64, 32, 64
# the one-step target: the step transaction decides and pays nothing (the claim's resolution is
# the settle's own transaction since issues 15/16; docs/benchmarks.md)
STEP_GAS_GUARD = 300_000


def attention_block(rng: np.random.Generator) -> tuple[Program, dict[int, np.ndarray]]:
    """One head of a causal block on T tokens, caches padded to TMAX, then logits and argmax."""
    b = ProgramBuilder()
    ids = np.zeros((T, 32), dtype=np.int64)
    ids[:, 0] = rng.integers(-1000, 1000, T)
    b.constant("ids", ids, DType.INT32)
    i8 = lambda *s: rng.integers(-128, 128, s)  # noqa: E731
    b.constant("emb", i8(V, DM), DType.INT8)
    for w in ("wq", "wk", "wv"):
        b.constant(w, rng.integers(-20, 20, (DH, DM)), DType.INT8)
    b.constant("wlm", i8(V, DH), DType.INT8)
    b.constant("kc0", np.zeros((TMAX, DH)), DType.INT8)
    b.constant("vc0", np.zeros((DH, TMAX)), DType.INT8)
    exp = np.round(127 * np.exp(np.arange(-128, 128) / 16.0)).clip(0, 127)
    exp[0] = 0  # masked positions (-128) weigh nothing
    b.constant("exp", exp, DType.INT8)
    x = b.gather("emb", "ids")
    q = b.requant(b.matmul(x, "wq", T, DM, DH), T, DH, shift=10, mult=1)
    k = b.requant(b.matmul(x, "wk", T, DM, DH), T, DH, shift=10, mult=1)
    kc = b.write("kc0", k, pos=0, count=T)
    s = b.requant(b.matmul(q, kc, T, DH, TMAX), T, TMAX, shift=8, mult=1)
    causal = (0, T)  # row m at position m
    mx = b.reduce(s, ReduceKind.MAX, mask=causal)
    e = b.lut(b.rowop(s, mx, RowKind.SUB, mask=causal), "exp", T, TMAX)
    p = b.rowop(e, b.reduce(e, ReduceKind.MOMENTS), RowKind.DIV, shift=7, lo=0, hi=127)
    vt = b.requant(b.matmul("wv", x, DH, DM, T), DH, T, shift=10, mult=1)
    vc = b.write("vc0", vt, pos=0, count=T, columns=True)
    o = b.requant(b.matmul(p, vc, T, TMAX, DH), T, DH, shift=7, mult=1)
    g = b.requant(b.mul(o, o), T, DH, shift=4, mult=1)
    y = b.rowop(g, b.reduce(g, ReduceKind.MOMENTS), RowKind.NORM, shift=5, d=DH)
    logits = b.matmul(y, "wlm", T, DH, V)
    out = b.reduce(logits, ReduceKind.ARGMAX)
    return b.finish(out)


@pytest.fixture(scope="module")
def block() -> tuple[Program, dict[int, np.ndarray]]:
    return attention_block(np.random.default_rng(3))


V5 = (Opcode.GATHER, Opcode.WRITE, Opcode.REDUCE, Opcode.ROWOP, Opcode.MUL)


def _targets(prog: Program) -> list[int]:
    """Each v5 op of the block (every reduce and rowop kind, both write modes)."""
    return [i for i, op in enumerate(prog.ops) if op.opcode in V5]


def test_the_block_runs_and_names_its_ops(block: tuple[Program, dict[int, np.ndarray]]) -> None:
    prog, consts = block
    t = TraceProvider(prog, consts)
    names = [prog.ops[i].name for i in _targets(prog)]
    assert {"gather", "write", "reduce", "rowop", "mul"} == set(names)
    tokens = t.values(prog.output_slot)
    assert tokens.shape == (T, 32) and ((0 <= tokens) & (tokens < V)).all()
    assert (tokens == tokens[:, :1]).all()  # every column of a row holds the argmax


@pytest.mark.parametrize("target", range(12))
def test_lie_in_a_v5_op_loses_at_its_step(make_ctx: Any, block: Any, target: int) -> None:
    prog, consts = block
    targets = _targets(prog)
    if target >= len(targets):
        pytest.skip("fewer v5 ops")
    i = targets[target]
    op = prog.ops[i]
    honest = TraceProvider(prog, consts)
    numel = op.M * op.N
    liar = CorruptedTrace(
        prog, consts, ProviderCheat("op", op_index=i, element=numel // 2 + 3, delta=1)
    )
    played = play_dispute(make_ctx, liar, honest, rounds=60)
    status, moves = played.status, played.moves
    assert status == GameStatus.CHALLENGER_WON
    last, settle = moves[-2], moves[-1]
    assert last.move == "step" and last.side == "challenger", moves[-3:]
    assert settle.move == "settle" and settle.side == "challenger", moves[-3:]
    print(f"\nstep gas, lie in op {i} ({op.name} kind {op.kind}, M={op.M}, K={op.K}, N={op.N}): "
          f"{last.gas_used:,}; settle gas {settle.gas_used:,}; "
          f"largest other move {max(m.gas_used for m in moves[:-2]):,}")  # fmt: skip
    assert last.gas_used <= STEP_GAS_GUARD


def test_honest_provider_is_defended(make_ctx: Any, block: Any) -> None:
    prog, consts = block
    honest = TraceProvider(prog, consts)
    i = _targets(prog)[-1]  # the argmax
    wrong = CorruptedTrace(prog, consts, ProviderCheat("op", op_index=i, element=5, delta=1))
    status = play_dispute(make_ctx, honest, wrong, rounds=60).status
    assert status == GameStatus.PROVIDER_WON
