"""A dispute over a compiled residual CNN (digits-resnet's architecture: BatchNorm folded,
max pool, identity and 1x1-conv shortcuts, global average pool) on the real DisputeGame and
TensorStep: the provider lies in one qadd or one gmax op of the program and the honest
challenger wins the game; against an honest provider the same challenger loses."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from game_support import play_dispute

from node.game.rules import GameStatus
from node.program.compiler.config import CompileConfig
from node.program.compiler.examples import DigitsResNet
from node.program.compiler.lower import compile_model
from node.program.constants import Opcode
from node.program.spec import JobSpec
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat


@pytest.fixture(scope="module")
def resnet_job() -> tuple[JobSpec, dict[int, Any]]:
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    model = DigitsResNet(width=8).eval()
    for m in model.modules():  # running statistics far from the identity, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)  # type: ignore[union-attr]
            m.running_var.uniform_(0.5, 2.0, generator=g)  # type: ignore[union-attr]
    calib = torch.rand(64, 1, 8, 8, generator=g)
    spec = compile_model(model, calib, CompileConfig(batch=1))
    data = spec.quantize_input(torch.rand(1, 1, 8, 8, generator=g).numpy())
    return spec, dict(enumerate(spec.input_values(data)))


@pytest.mark.parametrize(
    ("opcode", "lie"), [(Opcode.QADD, True), (Opcode.GMAX, True), (Opcode.QADD, False)]
)
def test_residual_cnn_dispute_is_won_by_the_honest_side(
    make_ctx: Any, resnet_job: tuple[JobSpec, dict[int, Any]], opcode: Opcode, lie: bool
) -> None:
    spec, inputs = resnet_job
    prog = spec.program
    op_index = next(i for i, op in enumerate(prog.ops) if op.opcode == opcode)
    honest = TraceProvider(prog, inputs)
    trace = honest
    if lie:  # one element of that op's output off by 3; every later op computed from it
        numel = prog.spec(prog.n_inputs + op_index).numel
        trace = CorruptedTrace(prog, inputs, ProviderCheat("op", op_index, numel // 2, 3))
        n = len(prog.ops)
        assert trace.state_root(n) != honest.state_root(n)
    played = play_dispute(make_ctx, trace, honest, rounds=60)
    assert played.status == (GameStatus.CHALLENGER_WON if lie else GameStatus.PROVIDER_WON)
    if lie:  # decided by the one-step check of the op that lied, not elsewhere
        assert played.opened == {(op_index, int(opcode))}, played.opened
