"""Sizing a job's terms: the time and bond bounds come from node/roles/safety.py (the rule the
provider node enforces and `poc deploy` derives its floors from, docs/protocol.md §6.5), never
restated; the stake bounds are this model's (docs/economics.md): how large the lock must be for
lying not to pay, and how often lies must come for a watchtower's bounties to pay its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from node.roles.safety import (
    ChainConditions,
    Floors,
    JobCost,
    Margins,
    defence_bond,
    deploy_floors,
    unsafe_terms,
)
from poc_lab.economics.constants import (
    CHALLENGE_GAS,
    CHALLENGER_SHARE_BPS,
    CLAIM_GAS,
    FINALIZE_GAS,
    SUBMIT_GAS,
    WITHDRAW_GAS,
    DisputeGas,
)
from poc_lab.economics.rules import Terms, share
from poc_lab.economics.settlement import EconomicsError


def chain_floors(block_time: float, gas_price: int) -> Floors:
    """The deployment's MIN_CLOCK and MIN_BOND (safety.deploy_floors)."""
    return deploy_floors(block_time, gas_price)


def unsafe(terms: Terms, dispute: DisputeGas, block_time: float, gas_price: int) -> list[str]:
    """Why an honest provider node refuses these terms for a program like `dispute`'s."""
    return unsafe_terms(
        clock=terms.clock,
        execute_within=terms.execute_within,
        challenge_window=terms.window,
        challenger_bond=terms.bond,
        cost=JobCost(dispute.provider_moves, dispute.macs),
        chain=ChainConditions(block_time, gas_price),
    )


@dataclass(frozen=True)
class SafeMinimums:
    """The smallest clock, execute-within, window and bond `unsafe_terms` accepts (its own
    expressions, evaluated; tests/node/test_economics_model.py checks each against it)."""

    clock: int
    execute_within: int
    window: int
    bond: int


def safe_minimums(
    dispute: DisputeGas,
    block_time: float,
    gas_price: int,
    margins: Margins = Margins(),  # noqa: B008 (frozen)
) -> SafeMinimums:
    m, t = margins.margin, block_time
    compute = dispute.macs / margins.macs_per_second
    need_exec = math.ceil(m * (compute + 2 * t))
    return SafeMinimums(
        clock=math.ceil(dispute.provider_moves * t * m),
        execute_within=need_exec,
        window=need_exec,
        bond=defence_bond(dispute.provider_moves, gas_price, margins.bond_margin),
    )


# gas of a claim that ends well for the provider: claim, submit, finalize, withdraw
PAID_CLAIM_GAS = CLAIM_GAS + SUBMIT_GAS + FINALIZE_GAS + WITHDRAW_GAS


def stake_against_lying(reward: int, catch: float, gas_price: int = 0) -> int:
    """Smallest claim lock L for which a liar that keeps no free stake (so loses only L when
    caught) expects a loss: (1 - p)(R - g_paid) - p (L + g_caught) < 0, p the probability
    that someone checks its claim. Gas helps the deterrent, so at gas price 0 this is the
    bound (1 - p) / p x R."""
    if not 0 < catch <= 1:
        raise EconomicsError(f"catch probability must be in (0, 1], got {catch}")
    p = Fraction(catch)  # exact: the bound is a whole number of wei
    paid = reward - PAID_CLAIM_GAS * gas_price
    caught = (CLAIM_GAS + SUBMIT_GAS) * gas_price
    need = ((1 - p) * paid - p * caught) / p
    return max(1, math.floor(need) + 1)


def bounty(stake: int, exposed_free_stake: int) -> int:
    """The bounty of a watchtower's won game under v2: half the backing it found free."""
    return share(min(stake, exposed_free_stake), CHALLENGER_SHARE_BPS)


def tower_break_even(
    stake: int, exposed_free_stake: int, compute_cost: int, dispute: DisputeGas, gas_price: int
) -> float:
    """Share of claims that must be backed lies (liars with at least `exposed_free_stake` free)
    for a watchtower that re-executes every claim to break even, alone: lam x (bounty - gas of
    its game) = compute cost. Infinite when the bounty does not pay the game's gas."""
    net = bounty(stake, exposed_free_stake) - (CHALLENGE_GAS + dispute.challenger) * gas_price
    return math.inf if net <= 0 else compute_cost / net
