"""Constants of the payout model: the contracts' own (docs/protocol.md §6.1) and measured gas.

Every gas figure is a measurement from docs/benchmarks.md, named after the table it comes from;
none is estimated here. A figure a contract change makes stale is re-measured by `make bench`
(the gas and dispute sections) and updated here by hand."""

from __future__ import annotations

from dataclasses import dataclass

ETHER = 10**18
GWEI = 10**9

# ---- the contracts' constants (docs/protocol.md §6.1; JobMarket) ----------------------------
BPS = 10_000
CHALLENGER_SHARE_BPS = 5000  # share of a slashed amount paid to the winning challenger
MISSED_DEADLINE_SLASH_BPS = 1000  # share of the lock paid to the poster at expiry
GAME_LOCK_BASE = 2**128  # v2: StakeManager lock key of game g is GAME_LOCK_BASE + g

# ---- gas per transaction: docs/benchmarks.md, "Gas (contracts)", table "Every function" ------
POST_GAS = 194_226  # JobMarket.post
CLAIM_GAS = 162_123  # JobMarket.claim
SUBMIT_GAS = 92_548  # JobMarket.submitResult
CHALLENGE_GAS = 412_765  # JobMarket.challenge (opens a game, locks its backing)
TIMEOUT_GAS = 217_238  # DisputeGame.timeout (the provider never moved: the claim is rejected)
CANCEL_GAS = 68_159  # JobMarket.cancel
EXPIRE_GAS = 86_826  # JobMarket.expire
FINALIZE_GAS = 93_577  # JobMarket.finalize
WITHDRAW_GAS = 37_595  # JobMarket.withdraw (a credit)
DEPOSIT_GAS = 67_318  # StakeManager.deposit (once per provider, not per job: not charged)


@dataclass(frozen=True)
class DisputeGas:
    """Gas of one whole game played to the one step, split by side (the `challenge` that opens
    it is CHALLENGE_GAS, not included), the provider's first move (a game the provider wins
    because its challenger stops answering costs it that move and a `timeout`), and the `settle`
    that pays a game the step decided (its own transaction since issues 15/16; the node of the
    side that made the step sends it right after)."""

    name: str
    provider: int
    challenger: int  # includes the one step, not the settle
    first_provider_move: int
    provider_moves: int  # on the worst path (node/roles/safety.py `provider_moves`)
    macs: int
    settle: int

    @property
    def total(self) -> int:
        return self.provider + self.challenger


# docs/benchmarks.md, "Gas (contracts)", "Full dispute on a 1.07e+09-MAC program (k = 16)":
# whole dispute 1,296,085 of which provider side 665,795 (v7: the opening in two moves);
# move 1 (revealStates) 56,055; 11 provider moves; settle 176,009; 100 ops, op 49 a
# [1024,1024] x [1024,1024]^T matmul.
BILLION_MAC = DisputeGas(
    name="1.07e9-MAC program (gas section)",
    provider=665_795,
    challenger=1_296_085 - 665_795,
    first_provider_move=56_055,
    provider_moves=11,
    macs=1024 * 1024 * 1024,
    settle=176_009,
)

# docs/benchmarks.md, "Full dispute on anvil": MLP 784-256-256-10, moves 859,720, provider
# 440,932 (8 moves: v7 opens the op in two), challenger 418,788 (one step 98,757); move 1
# (revealStates) 47,781; settle 201,009.
MLP = DisputeGas(
    name="MLP 784-256-256-10 (dispute section)",
    provider=440_932,
    challenger=418_788,
    first_provider_move=47_781,
    provider_moves=8,
    macs=4 * (800 * 256 + 256 * 256 + 256 * 32),
    settle=201_009,
)

# ---- v2 output availability (issue 11, P6): demandOutput, outputTimeout ----------------------
# Not in the gas table yet (the functions are new): each receipt's gasUsed as measured on ape's
# embedded chain by tests/contracts/test_economics_parity.py (test_withheld_output), which keeps
# these within 10 % of the real contracts.
DEMAND_OUTPUT_GAS = 38_962
OUTPUT_TIMEOUT_GAS = 119_308
