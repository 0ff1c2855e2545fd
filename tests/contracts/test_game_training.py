"""Disputes over a training job (issue 15, protocol v6) on the embedded chain: a small MLP
trained by integer SGD for a few steps as one static op list. The game bisects across steps as
across layers; a lie in a transpose or in the last step's update is lost by the liar at the one
step; a corrupted early update followed by honestly computed steps (every later state differs
from the honest one) is caught at that update, the first wrong op; an honest provider beats a
challenger that disputes an update; in a fine-tuning job (the first layer frozen, the head
trained), a lie in the head's last update is caught there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ARITY, STAKE, claimed_submitted, open_game
from contracts_trace import Trace, play_traces

from node.game.rules import GameStatus
from node.program.compiler.training import TrainJobConfig, build_training_job, init_weights
from node.program.constants import Opcode

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only

STEPS = 3
STEP_GAS: dict[str, int] = {}


def _trace(frozen: int = 0) -> Trace:
    rng = np.random.default_rng(15)
    n, feats, classes = 96, 32, 4
    y = rng.integers(0, classes, n)
    centers = rng.normal(0, 1, (classes, feats))
    x = np.clip(centers[y] + rng.normal(0, 0.5, (n, feats)), -2, 2) / 2
    batches = [rng.permutation(n)[:32] for _ in range(STEPS)]
    job = build_training_job(
        init_weights([feats, 32, classes], 0),
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y),
        classes,
        TrainJobConfig(steps=STEPS, batch=32, lr=0.2, seed=5, frozen=frozen),
        batches,
    )
    prog = job.program
    return Trace(prog, [job.constants[s] for s in range(prog.n_inputs)])


@pytest.fixture(scope="module")
def train_trace() -> Trace:
    return _trace()


def _ops(t: Trace, code: Opcode) -> list[int]:
    return [i for i, op in enumerate(t.program.ops) if op.opcode == code]


def _play(system, poster, provider, challenger, anyone, chain, honest, liar, liar_is_provider):  # noqa: ANN001, ANN202
    system.stake.deposit(value=2 * STAKE, sender=provider)
    claimed = liar if liar_is_provider else honest
    job = claimed_submitted(system, poster, provider, claimed, chain)
    gid = open_game(system, job, challenger)
    p, c = (liar, honest) if liar_is_provider else (honest, liar)
    r = play_traces(system.game, gid, p, c, (provider, challenger, anyone), chain, ARITY)
    return r, system.game.getGame(gid)


@pytest.mark.parametrize("which", ["transpose first", "update last", "update first"])
def test_lie_in_a_training_op_loses_at_its_step(  # noqa: ANN001
    system, poster, provider, challenger, anyone, chain, train_trace, which
) -> None:
    t = train_trace
    code = Opcode.TRANSPOSE if which.startswith("transpose") else Opcode.UPDATE
    ops = _ops(t, code)
    op_i = ops[0] if which.endswith("first") else ops[-1]
    n_out = t.tensors[t.program.n_inputs + op_i].size
    # the lie, and every later op computed honestly on it (a chain of honest steps)
    liar = Trace(t.program, t.values, corrupt=(op_i, n_out // 3, 1))
    later = [i for i in range(op_i + 1, t.n_ops) if liar.states[i + 1] != t.states[i + 1]]
    assert later, "the lie propagates to the later states"
    r, g = _play(system, poster, provider, challenger, anyone, chain, t, liar, True)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts, r
    assert [m for m, _ in r.sequence[-2:]] == ["step", "settle"], r.sequence
    assert g.opIndex == op_i  # caught at the corrupted op, not at a later honest one
    STEP_GAS[which] = r.gas["step"][0]
    print(f"\n{which} (op {op_i} of {t.n_ops}): step gas {r.gas['step'][0]:,}, settle gas {r.gas['settle'][0]:,}, "
          f"provider moves {r.provider_moves}, dispute gas {sum(sum(v) for v in r.gas.values()):,}")  # fmt: skip


def test_honest_provider_wins_against_a_challenger_disputing_an_update(  # noqa: ANN001
    system, poster, provider, challenger, anyone, chain, train_trace
) -> None:
    t = train_trace
    op_i = _ops(t, Opcode.UPDATE)[-1]
    n_out = t.tensors[t.program.n_inputs + op_i].size
    wrong = Trace(t.program, t.values, corrupt=(op_i, n_out - 1, -1))
    r, _ = _play(system, poster, provider, challenger, anyone, chain, t, wrong, False)
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts, r


def test_lie_in_a_fine_tuned_head_loses_at_its_update(  # noqa: ANN001
    system, poster, provider, challenger, anyone, chain
) -> None:
    t = _trace(frozen=1)
    updates = _ops(t, Opcode.UPDATE)
    assert len(updates) == STEPS  # the head's only: the frozen layer has no master
    op_i = updates[-1]
    n_out = t.tensors[t.program.n_inputs + op_i].size
    liar = Trace(t.program, t.values, corrupt=(op_i, n_out // 2, 1))
    r, g = _play(system, poster, provider, challenger, anyone, chain, t, liar, True)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts, r
    assert r.sequence[-2][0] == "step" and r.sequence[-1][0] == "settle" and g.opIndex == op_i
