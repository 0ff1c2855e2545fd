"""The solver as a pure function: against a Python referee of the game (no chain), the honest
side wins whatever the other does, and clocks turn into Timeout / Wait."""

from __future__ import annotations

from dataclasses import replace

import pytest
from referee import play_out, start

from node.game import rules
from node.game.actions import OpenOp, OpenSpecs, PickState, RevealStates, Settle, Timeout, Wait
from node.game.rules import GameStatus, Phase, Side
from node.game.solver import Chooser, first_disagreement, solve
from node.program.constants import Opcode
from node.program.samples import random_op
from node.roles.examples import random_mlp, tiny_mlp
from node.trace.lazy import TraceProvider, provider_for_spec
from poc_lab.adversary import CorruptedTrace, ProviderCheat, agreeing_pick


def _traces(
    cheat: ProviderCheat | None,
    seed: int = 0,
    widths: tuple[int, ...] = (64, 32, 32),
    rows: int = 3,
) -> tuple[TraceProvider, TraceProvider]:
    spec, data = random_mlp(widths, rows, seed) if widths != (64, 32, 32) else tiny_mlp(rows, seed)
    honest = provider_for_spec(spec, data)
    if cheat is None:
        return honest, honest
    inputs = dict(enumerate(spec.input_values(data)))
    return CorruptedTrace(spec.program, inputs, cheat), honest


def _final_state(t: TraceProvider) -> bytes:
    return t.state_root(len(t.program.ops))


@pytest.mark.parametrize(
    "cheat",
    [
        ProviderCheat("op"),
        ProviderCheat("op", op_index=5, element=40),
        ProviderCheat("leaf"),
        ProviderCheat("element", element=70),
        ProviderCheat("sum", chunk=1),
        ProviderCheat("element", op_index=3, element=3),
    ],
)
def test_honest_challenger_beats_every_lie(cheat: ProviderCheat) -> None:
    liar, honest = _traces(cheat)
    end, moves = play_out(liar, honest, _final_state(liar))
    assert end.status == GameStatus.CHALLENGER_WON
    assert end.op_index == liar.target


def test_lie_deep_in_a_wide_program_is_found() -> None:
    # 6 layers = 18 ops: two execution rounds with k = 16
    liar, honest = _traces(
        ProviderCheat("sum", op_index=9, element=33, chunk=3),
        seed=3,
        widths=(128, 64, 64, 64, 64, 64, 32),
        rows=2,
    )
    end, moves = play_out(liar, honest, _final_state(liar))
    assert end.status == GameStatus.CHALLENGER_WON and end.op_index == 9 and end.chunk_step


@pytest.mark.parametrize("choose", [first_disagreement, agreeing_pick])
def test_honest_provider_beats_any_challenger(choose: Chooser) -> None:
    honest, _ = _traces(None, seed=1)
    end, _ = play_out(honest, honest, _final_state(honest), choose=choose)
    assert end.status == GameStatus.PROVIDER_WON


def test_wrong_pointing_challenger_loses_even_against_a_liar() -> None:
    liar, honest = _traces(ProviderCheat("op", op_index=5))
    end, _ = play_out(liar, honest, _final_state(liar), choose=agreeing_pick)
    assert end.status == GameStatus.PROVIDER_WON


def test_clocks_give_timeout_to_the_waiting_side_only() -> None:
    t, _ = _traces(None)
    v = start(t.state_root(0), bytes(32), t.program.n_inputs, len(t.program.ops))
    assert v.mover == Side.PROVIDER
    assert isinstance(solve(v, Side.PROVIDER, t)[0], RevealStates)
    (wait,) = solve(v, Side.CHALLENGER, t)
    assert isinstance(wait, Wait) and wait.until == v.deadline + 1
    late = replace(v, now=v.deadline + 1)
    assert isinstance(solve(late, Side.CHALLENGER, t)[0], Timeout)
    assert isinstance(solve(late, Side.PROVIDER, t)[0], Wait)  # too late to move
    # decided by the step: its winner settles it; the loser waits for the winner, then
    # settles only once the decided game's clock has run out (to free the claim)
    decided = replace(v, status=GameStatus.PROVIDER_WON)
    assert solve(decided, Side.PROVIDER, t) == [Settle()]
    (waits,) = solve(decided, Side.CHALLENGER, t)
    assert isinstance(waits, Wait) and waits.until == decided.deadline + 1
    left = replace(decided, now=decided.deadline + 1)
    assert all(solve(left, s, t) == [Settle()] for s in Side)
    over = replace(decided, settled=True)
    assert all(isinstance(a, Wait) for s in Side for a in solve(over, s, t))


def test_solver_is_pure() -> None:
    liar, honest = _traces(ProviderCheat("op"))
    v = start(liar.state_root(0), _final_state(liar), liar.program.n_inputs, len(liar.program.ops))
    (reveal,) = solve(v, Side.PROVIDER, liar)
    assert solve(v, Side.PROVIDER, liar) == [reveal]
    picked = replace(v, phase=Phase.EXEC_PICK, revealed_states=reveal.roots)  # type: ignore[union-attr]
    (pick,) = solve(picked, Side.CHALLENGER, honest)
    assert isinstance(pick, PickState) and pick.seg == liar.target  # first wrong S_{i+1}
    assert solve(picked, Side.CHALLENGER, honest) == [pick]


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("seed", [0, 1])
def test_single_op_programs_of_every_opcode(opcode: Opcode, seed: int) -> None:
    """nOps = 1 starts at the opening; each op's own step decides."""
    import numpy as np

    sample = random_op(np.random.default_rng(seed), opcode)
    inputs = dict(enumerate(sample.values))
    honest = TraceProvider(sample.program, inputs)
    spec = sample.program.spec(sample.program.n_inputs)
    mode = "element" if opcode == Opcode.MATMUL else "op"
    liar = CorruptedTrace(
        sample.program, inputs, ProviderCheat(mode, element=spec.numel - 1, delta=3)
    )
    if _final_state(liar) == _final_state(honest):
        pytest.skip("the corruption clamped back to the honest value")
    end, moves = play_out(liar, honest, _final_state(liar))
    assert end.status == GameStatus.CHALLENGER_WON
    assert isinstance(moves[0], OpenOp) and isinstance(moves[1], OpenSpecs)
    end, _ = play_out(honest, honest, _final_state(honest))
    assert end.status == GameStatus.PROVIDER_WON


def test_opening_is_two_provider_moves_and_resumes_from_the_phase() -> None:
    """v7: openOp leads to OP_SPECS, where the provider moves again (its clock runs); a provider
    that restarts between the two moves finds the phase on chain and sends openSpecs of the same
    op, from its trace alone."""
    t, _ = _traces(None)
    v = replace(
        start(t.state_root(0), t.state_root(1), t.program.n_inputs, len(t.program.ops)),
        phase=Phase.OP_OPEN,
        hi=1,
    )
    (first,) = solve(v, Side.PROVIDER, t)
    assert isinstance(first, OpenOp)
    opened = rules.after(v, first)
    assert (opened.phase, opened.mover, opened.high) == (
        Phase.OP_SPECS,
        Side.PROVIDER,
        first.opening.out_root,
    )
    assert opened.phase.order == Phase.OP_OPEN.order + 1 < Phase.TENSOR_REVEAL.order
    restarted = replace(opened, opened=None)  # a fresh view: nothing carried over
    (second,) = solve(restarted, Side.PROVIDER, t)
    assert isinstance(second, OpenSpecs) and second.opening == first.opening
    assert solve(restarted, Side.CHALLENGER, t)[0].__class__ is Wait
    late = replace(restarted, now=restarted.deadline + 1)
    assert isinstance(solve(late, Side.CHALLENGER, t)[0], Timeout)  # never sent: it loses
    after = rules.after(opened, second)
    assert after.phase in (Phase.TENSOR_REVEAL, Phase.LEAF_REVEAL, Phase.STEP)
    assert after.high == first.opening.out_root and after.op_index == 0
