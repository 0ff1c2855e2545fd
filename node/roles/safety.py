"""Safe job parameters for the chain a node sees (docs/protocol.md §6.5, docs/operator.md).

One rule, shared by the provider (which refuses unsafe jobs), the poster's client (which warns
about them) and `poc deploy` (which derives the market's floors from it):

- a job's **clock** must outlast the provider's moves on the worst path of the game: an honest
  provider answers each move in the block after the challenger's, so its clock is charged at
  least one block time per move. `provider_moves` counts the moves of one program's worst path
  (the same narrowing as node/game/rules.py `points`, arity k = 16); `MAX_PROVIDER_MOVES` bounds
  every program the protocol accepts (MAX_SLOTS ops, tensors of at most MAX_TENSOR_ELEMS
  elements, K <= MAX_K): 5 execution reveals (v7: MAX_SLOTS = 2^17) + 2 opening moves (v7:
  openOp, openSpecs) + 7 tensor reveals + 1 leaf + 3 sum reveals = 18.
- the **challenger bond** must pay the provider's gas for a whole defence: the opening's two
  moves (OPEN_GAS together) and the other moves (MOVE_GAS each) at the chain's gas price.
- **execute-within** must hold the execution and two transactions (claim, submit); the
  **challenge window** must let a watchtower re-execute and land a challenge.
- the **output** must be publishable on demand (issue 11, P6): the poster may demand it, free,
  and the provider must then publish it in one `publishOutput` transaction or lose its lock. So
  it must fit one transaction that every node relays (`MAX_OUTPUT_BYTES`), and publishing it
  at the chain's gas price must cost less than the reward (`publish_gas`).

Every time bound is multiplied by a safety margin (the provider's polling interval, a block
missed under congestion, a short outage)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

from node.program.constants import (
    LEAF_ELEMS,
    MAX_K,
    MAX_SLOTS,
    MAX_TENSOR_ELEMS,
    REDUCTION_OPS,
    Opcode,
)
from node.program.merkle import depth_for
from node.program.ops import Op
from node.program.program import Program

LOG2_ARITY = 4  # protocol.md §6.1: k = 16
ARITY = 1 << LOG2_ARITY
# Every provider move, upper bound: the largest measured are the opening's two moves (v7) at the
# deepest trees the protocol admits, MAX_SLOTS = 2^17 slots with both operands written by ops:
# openOp 98,607 and openSpecs 91,934 gas on the embedded chain, 95,807 and 89,134 on anvil
# (tests/contracts/test_table_rules.py); then revealNodes at 72k (docs/benchmarks.md, gas
# section). The opening's two moves together (190,541 there) stay under OPEN_GAS = 2 x MOVE_GAS,
# which the bond counts in place of two MOVE_GAS.
MOVE_GAS = 100_000
OPEN_GAS = 200_000
OPENING_MOVES = 2  # openOp, openSpecs
# The deployment's clock floor never goes below this (the contracts' MIN_CLOCK before it became a
# deployment parameter): a node's polling and a short restart fit in it on any chain.
CLOCK_FLOOR_S = 60
SAFETY = 3  # safety factor of the deployed clock floor
MAX_CLOCK = 7 * 24 * 3600  # JobMarket.MAX_CLOCK
MAX_TENSOR_HEIGHT = depth_for(MAX_TENSOR_ELEMS // LEAF_ELEMS)  # 26: output trees of 2^26 leaves
GWEI = 10**9


@cache
def reveals(width: int, arity: int = ARITY) -> int:
    """Reveals on the worst path that narrows an interval of `width` (ops or chunks) to width 1
    by evenly spaced points (rules.points: segments of floor or ceil of width / n)."""
    if width <= 1:
        return 0
    n = min(arity, width)
    return 1 + max(reveals(width // n, arity), reveals(-(-width // n), arity))


def tensor_reveals(height: int, log2_arity: int = LOG2_ARITY) -> int:
    """Reveals from an output root `height` levels above its leaves down to a leaf."""
    return -(-height // log2_arity)


def op_moves(op: Op, arity: int = ARITY) -> int:
    """Provider moves once op `op` is reached: the opening's two, the tensor level and, for a
    matmul, the leaf and the reduction level over K/32 chunks."""
    log2k = arity.bit_length() - 1
    moves = OPENING_MOVES + tensor_reveals(depth_for(op.out_spec.n_leaves), log2k)
    if op.opcode in REDUCTION_OPS:
        moves += 1 + reveals(op.K // LEAF_ELEMS, arity)
    return moves


def provider_moves(program: Program, arity: int = ARITY) -> int:
    """Provider moves of the program's worst path (an upper bound: the deepest execution path
    plus the most expensive op)."""
    return reveals(len(program.ops), arity) + max(op_moves(op, arity) for op in program.ops)


def max_provider_moves(arity: int = ARITY) -> int:
    """Provider moves of the worst path of any program the protocol accepts."""
    log2k = arity.bit_length() - 1
    return (
        reveals(MAX_SLOTS, arity)
        + OPENING_MOVES
        + tensor_reveals(MAX_TENSOR_HEIGHT, log2k)
        + 1
        + reveals(MAX_K // LEAF_ELEMS, arity)
    )


MAX_PROVIDER_MOVES = max_provider_moves()  # 18 (v7: 2^17 slots, the opening in two moves)
# 1,800,000: the most gas an honest defence spends (the opening's two moves, 16 other moves)
DEFENCE_GAS = OPEN_GAS + (MAX_PROVIDER_MOVES - OPENING_MOVES) * MOVE_GAS


def defence_bond(moves: int, gas_price: int, margin: float) -> int:
    """The smallest bond that pays `moves` provider moves (two of them the opening) at
    `gas_price`, times `margin`, in wei: exact (bonds pass 2^53 wei at high gas prices, where
    floats round)."""
    return math.ceil(defence_gas(moves) * gas_price * Fraction(margin))


def defence_gas(moves: int) -> int:
    """The provider's gas for a defence of `moves` moves: the opening's two and the others."""
    return OPEN_GAS + max(moves - OPENING_MOVES, 0) * MOVE_GAS


def program_macs(program: Program) -> int:
    """Multiply-accumulates of the program (elementwise ops count one per element; gmax and
    gsum one per input element: K = G of them per output element, like a matmul's K)."""
    total = 0
    reduces_k = (Opcode.MATMUL, Opcode.GMAX, Opcode.GSUM)
    for op in program.ops:
        if op.opcode == Opcode.REDUCE:
            total += op.M * op.K  # one pass over each input element, 32 values per row out
            continue
        total += op.M * op.N * (op.K if op.opcode in reduces_k else 1)
    return total


# ---- publishing the output on demand (issue 11, P6) ---------------------------------------

# Go-ethereum's transaction pool drops transactions above 128 KiB (4 slots of 32 KiB), and most
# nodes follow it: an output over this cannot be published in one transaction that reaches a
# block. 96 KiB leaves room for the call's encoding; publishing it costs at most 8.6M gas (an
# int8 output; measured 7.4M), under EIP-7825's cap of 2^24 gas on one transaction.
MAX_OUTPUT_BYTES = 96 * 1024
# publishOutput's gas, an upper bound fitted to measurements on the embedded chain
# (tests/node/roles/test_output_publish_cost.py checks it against the contract; docs/operator.md
# has the figures): int8 32 B 39,208 gas, 3 KiB 266,996, 96 KiB 7,403,782; int32 128 B 41,337,
# 96 KiB 3,416,315. A least-squares fit gives 20.9 gas a byte and 1,731 a leaf over a base of
# about 38,000; the constants round each up.
PUBLISH_GAS_BASE = 45_000
PUBLISH_GAS_PER_BYTE = 24  # calldata (16) and the event's data (8), per non-zero byte
PUBLISH_GAS_PER_LEAF = 2_000  # the leaf's sha256 and one inner node's, with their memory
# EIP-7623 (Prague): a data-heavy transaction pays at least this per non-zero calldata byte
CALLDATA_FLOOR_PER_BYTE = 40
CALL_OVERHEAD_BYTES = 256  # selector, job id, leaf size, offset and length words, padding


def publish_gas(output_bytes: int, output_leaves: int) -> int:
    """Gas of `publishOutput` for an output of `output_bytes` bytes in `output_leaves` leaves
    (an upper bound: the execution, or EIP-7623's calldata floor where it is higher)."""
    execution = (
        PUBLISH_GAS_BASE
        + PUBLISH_GAS_PER_BYTE * output_bytes
        + PUBLISH_GAS_PER_LEAF * output_leaves
    )
    floor = 21_000 + CALLDATA_FLOOR_PER_BYTE * (output_bytes + CALL_OVERHEAD_BYTES)
    return max(execution, floor)


# ---- the deployment's floors -------------------------------------------------------------


@dataclass(frozen=True)
class Floors:
    """JobMarket's constructor arguments `minClock_` (seconds) and `minBond_` (wei)."""

    min_clock: int
    min_bond: int


def floors_in_asset(floors: Floors, decimals: int, price_eth: float) -> Floors:
    """`floors` for a token market: the bond floor (wei) in the token's base units at
    `price_eth` ETH per whole token, rounded up (the clock floor is unchanged)."""
    if price_eth <= 0:
        raise ValueError(f"asset price {price_eth} ETH must be positive")
    wei_per_unit = price_eth * 10**18 / 10**decimals
    return Floors(floors.min_clock, max(1, math.ceil(floors.min_bond / wei_per_unit)))


def deploy_floors(block_time: float, gas_price: int, safety: float = SAFETY) -> Floors:
    """min_clock = max(60 s, MAX_PROVIDER_MOVES x block time x safety);
    min_bond = DEFENCE_GAS x gas price (protocol.md §6.5)."""
    if block_time <= 0 or gas_price < 0 or safety < 1:
        raise ValueError(
            f"block time {block_time} s, gas price {gas_price} wei, safety {safety}: "
            "need a positive block time, a gas price >= 0 and a safety factor >= 1"
        )
    clock = max(CLOCK_FLOOR_S, math.ceil(MAX_PROVIDER_MOVES * block_time * safety))
    if clock > MAX_CLOCK:
        raise ValueError(f"a clock floor of {clock} s exceeds MAX_CLOCK ({MAX_CLOCK} s)")
    return Floors(clock, max(1, DEFENCE_GAS * gas_price))


# Local chains (anvil with 1 s blocks, ape's embedded chain) at 1 gwei: 60 s and 0.0018 ETH.
DEVNET_FLOORS = deploy_floors(1.0, GWEI)


# ---- what a node sees ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainConditions:
    block_time: float  # seconds
    gas_price: int  # wei


def measure_block_time(w3: Any, blocks: int = 20) -> float | None:
    """Median interval of the last `blocks` blocks (at least 1 s: timestamps are whole
    seconds); None when the chain has fewer than two blocks."""
    head = int(w3.eth.block_number)
    first = max(0, head - blocks)
    if head - first < 1:
        return None
    stamps = [int(w3.eth.get_block(n)["timestamp"]) for n in range(first, head + 1)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return max(1.0, float(statistics.median(gaps)))


def chain_conditions(
    w3: Any, block_time: float | None = None, gas_price: int | None = None
) -> ChainConditions:
    """The given values, or what the chain shows (median recent block interval, 1 s on a chain
    without history; the node's gas price)."""
    if block_time is None:
        block_time = measure_block_time(w3) or 1.0
    if gas_price is None:
        gas_price = int(w3.eth.gas_price)
    return ChainConditions(float(block_time), int(gas_price))


# ---- the rule ------------------------------------------------------------------------------


def asset_wei_per_unit(decimals: int, price_eth: float | None, is_ether: bool) -> float | None:
    """What one base unit of the market's asset is worth in wei: 1 for ether; for a token,
    `price_eth` (ETH per whole token, the operator's --asset-price-eth) scaled by its decimals;
    None when a token market has no price (the bond cannot be judged against gas)."""
    if is_ether:
        return 1.0
    if price_eth is None:
        return None
    if price_eth <= 0:
        raise ValueError(f"asset price {price_eth} ETH must be positive")
    return price_eth * 10**18 / 10**decimals


@dataclass(frozen=True)
class Margins:
    """How much slack a node demands over the bare need."""

    margin: float = 3.0  # on every time bound
    bond_margin: float = 2.0  # on the bond (gas price swings)
    macs_per_second: float = 1e8  # a slow CPU: the execution estimate for execute-within/window
    max_output_bytes: int = 0  # 0: MAX_OUTPUT_BYTES (what one transaction can publish)


@dataclass(frozen=True)
class JobCost:
    moves: int  # provider moves of the worst path
    macs: int
    output_bytes: int = 0  # the packed output: what publishing it on demand sends
    output_leaves: int = 0  # its leaves (32 elements each), hashed by the contract

    @classmethod
    def of(cls, program: Program) -> JobCost:
        out = program.spec(program.output_slot)
        return cls(provider_moves(program), program_macs(program), out.nbytes, out.n_leaves)


def unsafe_terms(
    *,
    clock: int,
    execute_within: int,
    challenge_window: int,
    challenger_bond: int,
    cost: JobCost,
    chain: ChainConditions,
    margins: Margins = Margins(),  # noqa: B008 (frozen)
    reward: int | None = None,
    wei_per_unit: float = 1.0,
) -> list[str]:
    """Why an honest provider refuses these terms on this chain (empty: safe). The cost of
    publishing the output on demand is weighed against `reward` when it is given. Bond and
    reward are in the market's asset: `wei_per_unit` is what one base unit of it is worth in
    wei (1 for ether; for a token, the operator's price: asset_wei_per_unit)."""
    m = margins.margin
    reasons = clock_rule(clock, cost.moves, "provider", chain, margins)
    reasons += execute_rule(execute_within, cost, chain, margins)
    need_exec = _execution_bound(cost, chain, margins)
    if challenge_window < need_exec:
        reasons.append(
            f"challenge window {challenge_window} s < {need_exec} s (re-execution and a "
            f"challenge transaction, x margin {m:g}): no watchtower could check the result"
        )
    reasons += bond_rule(challenger_bond, cost.moves, chain, margins, wei_per_unit)
    limit = margins.max_output_bytes or MAX_OUTPUT_BYTES
    if cost.output_bytes > limit:
        reasons.append(
            f"output of {cost.output_bytes} bytes > {limit} bytes: too large to publish on "
            "chain in one transaction if the poster demands it"
        )
    elif reward is not None:
        gas = publish_gas(cost.output_bytes, cost.output_leaves)
        need = math.ceil(gas * chain.gas_price * margins.bond_margin)
        reward_wei = math.floor(reward * wei_per_unit)
        if reward_wei < need:
            reasons.append(
                f"reward {reward_wei} wei < {need} wei (publishing the {cost.output_bytes}-byte "
                f"output on demand: about {gas} gas at {chain.gas_price / GWEI:g} gwei x "
                f"{margins.bond_margin:g}): a demand would cost more than the job pays"
            )
    return reasons


def clock_rule(
    clock: int, moves: int, who: str, chain: ChainConditions, margins: Margins
) -> list[str]:
    """`who` (provider, replica, watchtower) makes `moves` moves on the worst path, each
    charged at least one block of its clock."""
    bt, m = chain.block_time, margins.margin
    need = math.ceil(moves * bt * m)
    if clock >= need:
        return []
    return [
        f"clock {clock} s < {need} s ({moves} {who} moves x {bt:g} s blocks x margin {m:g}): "
        f"an honest {who} could lose by clock"
    ]


def _execution_bound(cost: JobCost, chain: ChainConditions, margins: Margins) -> int:
    """Seconds to execute the program and land two transactions, times the margin."""
    compute = cost.macs / margins.macs_per_second
    return math.ceil(margins.margin * (compute + 2 * chain.block_time))


def execute_rule(
    execute_within: int, cost: JobCost, chain: ChainConditions, margins: Margins
) -> list[str]:
    need = _execution_bound(cost, chain, margins)
    if execute_within >= need:
        return []
    compute = cost.macs / margins.macs_per_second
    return [
        f"execute-within {execute_within} s < {need} s (about {compute:.0f} s of "
        f"compute and 2 blocks of {chain.block_time:g} s, x margin {margins.margin:g}): the "
        "deadline could be missed"
    ]


def bond_rule(
    challenger_bond: int,
    moves: int,
    chain: ChainConditions,
    margins: Margins,
    wei_per_unit: float = 1.0,
) -> list[str]:
    """A failed challenge must pay the defence of `moves` provider moves."""
    need_bond = defence_bond(moves, chain.gas_price, margins.bond_margin)
    bond_wei = math.floor(Fraction(challenger_bond) * Fraction(wei_per_unit))
    if bond_wei >= need_bond:
        return []
    return [
        f"challenger bond {bond_wei} wei < {need_bond} wei ({moves} moves, "
        f"{defence_gas(moves):,} gas at {chain.gas_price / GWEI:g} gwei x "
        f"{margins.bond_margin:g}): "
        "a failed challenge would not pay the defence"
    ]


# ReplicaMarket.CHALLENGER_SHARE_BPS: a pair game's winner gets this share of the loser's lock
PAIR_WINNER_BPS = 5000


def unsafe_replica_terms(
    *,
    clock: int,
    execute_within: int,
    reveal_window: int,
    challenger_bond: int,
    required_stake: int,
    cost: JobCost,
    chain: ChainConditions,
    margins: Margins = Margins(),  # noqa: B008 (frozen)
    wei_per_unit: float = 1.0,
) -> list[str]:
    """Why an honest replica does not take a seat of a replicated job (docs/protocol.md §6.8)
    on these terms (empty: safe). As `unsafe_terms`, except: the agreement window is the
    poster's choice (the replicas check one another; 0 is allowed) and there is no output
    demand; a replica plays pair games on either side (the challenger's side has one more
    move, the step); a pair game has no bond, so the half of a disagreeing replica's lock that
    the winner gets must pay the defence; and the reveal window must hold a reveal and a tally."""
    moves = cost.moves + 1
    bt, m = chain.block_time, margins.margin
    reasons = clock_rule(clock, moves, "replica", chain, margins)
    reasons += execute_rule(execute_within, cost, chain, margins)
    need_reveal = math.ceil(2 * bt * m)
    if reveal_window < need_reveal:
        reasons.append(
            f"reveal window {reveal_window} s < {need_reveal} s (a reveal and a tally, 2 blocks "
            f"of {bt:g} s x margin {m:g}): a late reveal costs 10 % of the lock"
        )
    reasons += bond_rule(challenger_bond, cost.moves, chain, margins, wei_per_unit)
    need = defence_bond(moves, chain.gas_price, margins.bond_margin)
    forfeit = math.floor(
        Fraction(required_stake * PAIR_WINNER_BPS, 10_000) * Fraction(wei_per_unit)
    )
    if forfeit < need:
        reasons.append(
            f"required stake: a disagreeing replica forfeits {forfeit} wei to the winner (50 % "
            f"of its lock) < {need} wei ({moves} moves, {defence_gas(moves):,} gas at "
            f"{chain.gas_price / GWEI:g} gwei x {margins.bond_margin:g}): a pair game against "
            "a liar would not pay for itself"
        )
    return reasons


def unsafe_watch(
    *,
    clock: int,
    cost: JobCost,
    chain: ChainConditions,
    margins: Margins = Margins(),  # noqa: B008 (frozen)
) -> list[str]:
    """Why an honest watchtower does not challenge on these terms (empty: safe): its clock
    must outlast its moves on the worst path (one more than the provider's: the step), or a
    liar that stalls wins the game and the bond by timeout."""
    return clock_rule(clock, cost.moves + 1, "watchtower", chain, margins)
