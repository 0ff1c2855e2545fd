"""The solver and responder against the real DisputeGame and TensorStep, for a one-op program
of every opcode (lut tables, im2col padding, matmul chunks, padding leaves): no roles, no
content store, just the game."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from game_support import play_dispute

from node.game.rules import GameStatus
from node.program.constants import Opcode
from node.program.samples import random_op
from node.trace.lazy import TraceProvider
from poc_lab.adversary import CorruptedTrace, ProviderCheat


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("lie", [True, False])
def test_every_opcode_is_decided_on_chain(make_ctx: Any, opcode: Opcode, lie: bool) -> None:
    sample = random_op(np.random.default_rng(11), opcode)
    inputs = dict(enumerate(sample.values))
    honest = TraceProvider(sample.program, inputs)
    trace = honest
    if lie:
        numel = sample.program.spec(sample.program.n_inputs).numel
        mode = "element" if opcode == Opcode.MATMUL else "op"
        trace = CorruptedTrace(
            sample.program, inputs, ProviderCheat(mode, element=numel - 1, delta=5)
        )
    played = play_dispute(make_ctx, trace, honest, rounds=40)
    assert played.status == (GameStatus.CHALLENGER_WON if lie else GameStatus.PROVIDER_WON)
