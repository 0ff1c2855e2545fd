"""Playing one's games: read each game's view, ask the solver, hand the actions to the
responder. Shared by the provider (defends) and the watchtower (attacks)."""

from __future__ import annotations

import logging

from node.game.responder import MoveRecord, Responder
from node.game.solver import Chooser, GameTrace, first_disagreement, solve
from node.game.view import GameStatus, Side
from node.roles.protocol import Protocol
from node.state.store import StateStore

log = logging.getLogger(__name__)


def play(
    protocol: Protocol,
    responder: Responder,
    state: StateStore,
    game_id: int,
    side: Side,
    trace: GameTrace | None,
    choose: Chooser = first_disagreement,
    job_id: int | None = None,
) -> GameStatus:
    """One move (if it is ours, or a timeout we can claim) in game `game_id`; returns the
    game's status as read before the move."""
    view = protocol.game_view(game_id)
    state.upsert_game(
        game_id,
        status=int(view.status),
        phase=int(view.phase),
        role=side.name.lower(),
        job_id=job_id,
        claim_id=view.claim_id,
        data={
            "provider": view.provider,
            "challenger": view.challenger,
            "lo": view.lo,
            "hi": view.hi,
            "height": view.height,
            "index": view.index,
        },
    )
    if not view.active:
        return view.status
    if trace is None and view.mover == side:
        log.warning("game %d: no trace to answer from", game_id)
        return view.status
    actions = solve(view, side, trace, choose)  # type: ignore[arg-type]
    moves: list[MoveRecord] = responder.execute(view, side, actions)
    if moves:
        log.debug("game %d: %d move(s)", game_id, len(moves))
    return view.status
