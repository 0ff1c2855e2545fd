"""Properties of the solver over random programs, lies and challengers (hypothesis), played
against the Python referee: an honest challenger beats every consistent lie, and an honest
provider beats a challenger that points anywhere it likes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referee import play_out

from node.game.rules import GameStatus
from node.game.solver import Chooser
from node.game.view import GameView
from node.program.spec import JobSpec
from node.roles.examples import random_mlp
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat

WIDTHS = st.lists(st.sampled_from([32, 64, 96]), min_size=2, max_size=4)
# a random MLP job (spec, input data) of 2-4 layers, 1-3 rows, and a draw for the rest
ON_RANDOM_JOBS = given(
    job=st.builds(random_mlp, WIDTHS, st.integers(1, 3), st.integers(0, 2**16)), data=st.data()
)
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@ON_RANDOM_JOBS
def test_every_consistent_lie_loses(job: tuple[JobSpec, Any], data: st.DataObject) -> None:
    spec, x = job
    inputs = dict(enumerate(spec.input_values(x)))
    prog = spec.program
    op_index = data.draw(st.integers(0, len(prog.ops) - 1), label="op")
    op = prog.ops[op_index]
    numel = prog.spec(prog.n_inputs + op_index).numel
    mode = "element" if op.opcode == 1 else "op"
    if op.opcode == 1 and op.K > 32 and data.draw(st.booleans(), label="sum mode"):
        mode = "sum"
    cheat = ProviderCheat(
        mode,
        op_index,
        data.draw(st.integers(0, numel - 1), label="elem"),
        delta=data.draw(st.sampled_from([-3, 1, 77]), label="delta"),
        chunk=data.draw(st.integers(1, max(1, op.K // 32 - 1)), label="chunk"),
    )
    liar = CorruptedTrace(prog, inputs, cheat)
    honest = TraceProvider(prog, inputs)
    n = len(prog.ops)
    if liar.state_root(n) == honest.state_root(n):
        return  # the lie was clamped away by a later op: nothing to dispute
    end, _ = play_out(liar, honest, liar.state_root(n))
    assert end.status == GameStatus.CHALLENGER_WON


def _random_pick(draw: st.DataObject) -> Chooser:
    """Points anywhere (hypothesis draws the index, so a failure shrinks)."""

    def pick(v: GameView, disagrees: Sequence[bool]) -> int:
        return draw.draw(st.integers(0, len(disagrees) - 1))

    return pick


@SETTINGS
@ON_RANDOM_JOBS
def test_honest_provider_beats_any_pointing(job: tuple[JobSpec, Any], data: st.DataObject) -> None:
    spec, x = job
    honest = TraceProvider(spec.program, dict(enumerate(spec.input_values(x))))
    n = len(spec.program.ops)
    end, _ = play_out(honest, honest, honest.state_root(n), choose=_random_pick(data))
    assert end.status == GameStatus.PROVIDER_WON
