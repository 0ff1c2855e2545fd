"""Shared helpers of the roles suite (a uniquely named module: `conftest` names clash across
test folders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.roles.client import JobClient, JobTerms
from node.roles.context import RoleContext
from node.roles.examples import tiny_mlp

ETHER = 10**18
TERMS = JobTerms(
    reward=ETHER // 10,
    required_stake=ETHER // 2,
    challenger_bond=ETHER // 50,
    execute_within=900,
    challenge_window=600,
    clock=600,
)


def advance(chain: Any, seconds: int) -> None:
    chain.pending_timestamp += seconds
    chain.mine()


def drive(
    chain: Any,
    roles: list[Any],
    until: Callable[[], bool],
    rounds: int = 40,
    seconds_per_round: int = 0,
) -> int:
    """Tick every role once per round until `until()`; returns the rounds used."""
    for n in range(1, rounds + 1):
        for role in roles:
            role.tick()
        if until():
            return n
        if seconds_per_round:
            advance(chain, seconds_per_round)
    raise AssertionError(f"not done after {rounds} rounds")


def post_tiny(ctx: RoleContext, seed: int = 0, terms: JobTerms = TERMS) -> int:
    spec, data = tiny_mlp(seed=seed)
    return JobClient(ctx).post(spec, data, terms)
