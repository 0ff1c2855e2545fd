"""Safe job parameters for the chain a node sees (docs/protocol.md §6.5, docs/operator.md).

One rule, shared by the provider (which refuses unsafe jobs), the poster's client (which warns
about them) and `poc deploy` (which derives the market's floors from it):

- a job's **clock** must outlast the provider's moves on the worst path of the game: an honest
  provider answers each move in the block after the challenger's, so its clock is charged at
  least one block time per move. `provider_moves` counts the moves of one program's worst path
  (the same narrowing as node/game/rules.py `points`, arity k = 16); `MAX_PROVIDER_MOVES` bounds
  every program the protocol accepts (MAX_SLOTS ops, tensors of at most MAX_TENSOR_ELEMS
  elements, K <= MAX_K): 4 execution reveals + 1 opening + 7 tensor reveals + 1 leaf + 3 sum
  reveals = 16.
- the **challenger bond** must pay the provider's gas for a whole defence: moves x MOVE_GAS at
  the chain's gas price.
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
# One provider move, upper bound: the largest measured is openOp at 108,368 gas (v4: the operand
# spec proofs; docs/benchmarks.md, gas section), the next revealStates at 56k.
MOVE_GAS = 110_000
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
    """Provider moves once op `op` is reached: the opening, the tensor level and, for a matmul,
    the leaf and the reduction level over K/32 chunks."""
    log2k = arity.bit_length() - 1
    moves = 1 + tensor_reveals(depth_for(op.out_spec.n_leaves), log2k)
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
        + 1
        + tensor_reveals(MAX_TENSOR_HEIGHT, log2k)
        + 1
        + reveals(MAX_K // LEAF_ELEMS, arity)
    )


MAX_PROVIDER_MOVES = max_provider_moves()  # 16
DEFENCE_GAS = MAX_PROVIDER_MOVES * MOVE_GAS  # 1,760,000: the most gas an honest defence spends


def defence_bond(moves: int, gas_price: int, margin: float) -> int:
    """The smallest bond that pays `moves` provider moves at `gas_price`, times `margin`, in
    wei: exact (bonds pass 2^53 wei at high gas prices, where floats round)."""
    return math.ceil(moves * MOVE_GAS * gas_price * Fraction(margin))


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


# Local chains (anvil with 1 s blocks, ape's embedded chain) at 1 gwei: 60 s and 0.00176 ETH.
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
    bt, m = chain.block_time, margins.margin
    reasons = []
    need_clock = math.ceil(cost.moves * bt * m)
    if clock < need_clock:
        reasons.append(
            f"clock {clock} s < {need_clock} s ({cost.moves} provider moves x {bt:g} s blocks "
            f"x margin {m:g}): an honest provider could lose by clock"
        )
    compute = cost.macs / margins.macs_per_second
    need_exec = math.ceil(m * (compute + 2 * bt))
    if execute_within < need_exec:
        reasons.append(
            f"execute-within {execute_within} s < {need_exec} s (about {compute:.0f} s of "
            f"compute and 2 blocks of {bt:g} s, x margin {m:g}): the deadline could be missed"
        )
    if challenge_window < need_exec:
        reasons.append(
            f"challenge window {challenge_window} s < {need_exec} s (re-execution and a "
            f"challenge transaction, x margin {m:g}): no watchtower could check the result"
        )
    need_bond = defence_bond(cost.moves, chain.gas_price, margins.bond_margin)
    bond_wei = math.floor(Fraction(challenger_bond) * Fraction(wei_per_unit))
    if bond_wei < need_bond:
        reasons.append(
            f"challenger bond {bond_wei} wei < {need_bond} wei ({cost.moves} moves x "
            f"{MOVE_GAS} gas at {chain.gas_price / GWEI:g} gwei x {margins.bond_margin:g}): "
            "a failed challenge would not pay the defence"
        )
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
