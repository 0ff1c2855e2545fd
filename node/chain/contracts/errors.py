"""The custom errors of the protocol contracts (contracts/lib/Errors.sol) by name, the ones a
game move may meet only because the position moved on, and the meaning of the numeric codes
some errors carry (`ParamOutOfRange.param`, `BadProof.which`, ...). Pure data: this module
imports nothing of the package, so node.chain.revert and node.chain.errors may use it.
tests/node/infra/test_abi_layout.py checks it against the ABIs and the Solidity constants."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ContractError(StrEnum):
    """Every custom error of contracts/lib/Errors.sol (members compare equal to the name)."""

    REENTRANCY = "Reentrancy"
    TRANSFER_FAILED = "TransferFailed"
    NOT_DEPLOYER = "NotDeployer"
    ALREADY_SET = "AlreadySet"
    ZERO_AMOUNT = "ZeroAmount"
    UNAUTHORIZED = "Unauthorized"
    TOKEN_TRANSFER_FAILED = "TokenTransferFailed"
    ETHER_ON_TOKEN_PATH = "EtherOnTokenPath"
    NOT_TOKEN_MARKET = "NotTokenMarket"
    NOT_ETHER_MARKET = "NotEtherMarket"
    ASSET_HAS_NO_CODE = "AssetHasNoCode"
    INSUFFICIENT_STAKE = "InsufficientStake"
    LOCK_EXISTS = "LockExists"
    NO_LOCK = "NoLock"
    SLASH_TOO_LARGE = "SlashTooLarge"
    NOTHING_TO_WITHDRAW = "NothingToWithdraw"
    STILL_UNBONDING = "StillUnbonding"
    PARAM_OUT_OF_RANGE = "ParamOutOfRange"
    JOB_NOT_FOUND = "JobNotFound"
    WRONG_JOB_STATE = "WrongJobState"
    WRONG_CLAIM_STATE = "WrongClaimState"
    CLAIM_DEADLINE_PASSED = "ClaimDeadlinePassed"
    NOT_PROVIDER = "NotProvider"
    NOT_POSTER = "NotPoster"
    EXECUTION_DEADLINE_PASSED = "ExecutionDeadlinePassed"
    EXECUTION_DEADLINE_NOT_PASSED = "ExecutionDeadlineNotPassed"
    BAD_OUTPUT_PROOF = "BadOutputProof"
    WINDOW_CLOSED = "WindowClosed"
    WINDOW_OPEN = "WindowOpen"
    WRONG_BOND = "WrongBond"
    GAMES_PENDING = "GamesPending"
    JOB_COOLING_DOWN = "JobCoolingDown"
    OUTPUT_ALREADY_DEMANDED = "OutputAlreadyDemanded"
    OUTPUT_ALREADY_PUBLISHED = "OutputAlreadyPublished"
    OUTPUT_NOT_DEMANDED = "OutputNotDemanded"
    OUTPUT_PENDING = "OutputPending"
    BAD_OUTPUT_DATA = "BadOutputData"
    BAD_OUTPUT = "BadOutput"
    GAME_NOT_FOUND = "GameNotFound"
    GAME_OVER = "GameOver"
    WRONG_PHASE = "WrongPhase"
    NOT_MOVER = "NotMover"
    CLOCK_EXPIRED = "ClockExpired"
    CLOCK_RUNNING = "ClockRunning"
    GAME_NOT_DECIDED = "GameNotDecided"
    GAME_ALREADY_SETTLED = "GameAlreadySettled"
    BAD_LENGTH = "BadLength"
    REVEAL_MISMATCH = "RevealMismatch"
    INDEX_OUT_OF_RANGE = "IndexOutOfRange"
    NODES_MISMATCH = "NodesMismatch"
    BAD_PROOF = "BadProof"
    OP_COMMIT_MISMATCH = "OpCommitMismatch"
    BAD_ARITY = "BadArity"
    BAD_OP_LENGTH = "BadOpLength"
    BAD_OP_FIELD = "BadOpField"
    PROOF_LENGTH = "ProofLength"
    OPERAND_LENGTH = "OperandLength"
    NOT_ELEMENTWISE = "NotElementwise"
    NOT_REDUCTION = "NotReduction"
    BAD_INPUT_SPEC = "BadInputSpec"
    OPERAND_MISMATCH = "OperandMismatch"
    SPEC_SOURCE_LENGTH = "SpecSourceLength"
    NOT_ELIGIBLE = "NotEligible"
    NOT_SEAT_HOLDER = "NotSeatHolder"
    WRONG_SEAT_STATE = "WrongSeatState"
    COMMIT_CLOSED = "CommitClosed"
    REVEALS_NOT_OPEN = "RevealsNotOpen"
    REVEALS_CLOSED = "RevealsClosed"
    REVEALS_OPEN = "RevealsOpen"
    BAD_REVEAL = "BadReveal"


# Reverts of a game move that only mean "the position moved on before the move landed"
# (another party, or an earlier run of ours, already acted): the responder re-reads the game.
STALE_MOVE: frozenset[str] = frozenset(
    {
        ContractError.WRONG_PHASE,
        ContractError.NOT_MOVER,
        ContractError.GAME_OVER,
        ContractError.REVEAL_MISMATCH,
        ContractError.CLOCK_RUNNING,
        ContractError.CLOCK_EXPIRED,
        ContractError.GAME_ALREADY_SETTLED,  # the other side (or anyone) settled it first
    }
)

# NotEligible.reason (ReplicaMarket.eligible, protocol.md 6.8): why a provider may not take a seat.
NOT_ELIGIBLE: Mapping[int, str] = {
    1: "not on the job's list of providers",
    2: "free stake below the job's minimum",
    3: "too few accepted seats on record",
    4: "already holds a seat of this round",
}
# ReplicaMarket seat states (protocol.md 6.8)
SEAT_STATES: Mapping[int, str] = {
    1: "claimed", 2: "committed", 3: "revealed", 4: "accepted", 5: "rejected", 6: "expired", 7: "released",
}  # fmt: skip

# ParamOutOfRange.param: which JobParams field (or sum) is out of range (JobMarket.P_*).
PARAM: Mapping[int, str] = {
    0: "reward",
    1: "challengeWindow",
    2: "clock",
    3: "executeWithin",
    4: "nInputs+nOps",
    5: "outputSlot",
    6: "challengerBond",
    7: "claimBy",
    8: "nOps",
    9: "requiredStake",
}

# BadProof.which and ProofLength.which: which Merkle proof failed. 1-2 from TensorStep
# (OPERAND_*: an operand leaf under its tensor root), 3-10 from DisputeGame (PROOF_*).
PROOF: Mapping[int, str] = {
    1: "aProof: operand A leaf in aRoot",
    2: "bProof: operand B leaf or table in bRoot",
    3: "opProof: op in opsRoot",
    4: "aSlotProof: aRoot at slot a of S_lo",
    5: "bSlotProof: bRoot at slot b of S_lo",
    6: "outProof: output slot empty in S_lo",
    7: "outProof: outRoot at the output slot of S_hi",
    8: "opsRoot || inputSpecRoot: the two halves of programRoot",
    9: "aSpecProof: operand a's spec source (input spec leaf or producing op)",
    10: "bSpecProof: operand b's spec source (input spec leaf or producing op)",
}

# OperandLength.which: which operand leaf has the wrong length (TensorStep.OPERAND_*).
OPERAND: Mapping[int, str] = {1: "aLeaf", 2: "bLeaf"}

# BadOpField.field: the byte offset of the bad field in the 64-byte op (OpCodec.F_*); the same
# rule, in the same order, is named by node/program/validation.py (protocol.md section 4).
OP_FIELD: Mapping[int, str] = {
    0: "opcode",
    1: "flags",
    2: "out",
    4: "a",
    6: "b",
    8: "M",
    12: "K",
    16: "N",
    20: "mult",
    24: "shift",
    25: "zp",
    26: "lo (clamp)",
    27: "hi",
    28: "B (im2col)",
    32: "H",
    34: "W",
    36: "C",
    38: "KH",
    39: "KW",
    40: "S",
    41: "P",
    42: "padv",
    43: "mult2 (qadd)",
    47: "kind (reduce, rowop)",
    48: "pos",
    52: "period",
    62: "reserved",
}

# BadInputSpec.field: the byte offset of the bad field in an input's 32-byte spec leaf
# (OpCodec.S_*, protocol.md section 4 rule T1).
SPEC_FIELD: Mapping[int, str] = {0: "dtype", 1: "rows", 5: "cols", 9: "reserved"}

# OperandMismatch.operand and SpecSourceLength.operand: which operand of the opened op.
OPENED_OPERAND: Mapping[int, str] = {1: "a", 2: "b"}

# (error, argument) -> the names of its codes
CODES: Mapping[tuple[str, str], Mapping[int, str]] = {
    (ContractError.PARAM_OUT_OF_RANGE, "param"): PARAM,
    (ContractError.BAD_PROOF, "which"): PROOF,
    (ContractError.PROOF_LENGTH, "which"): PROOF,
    (ContractError.OPERAND_LENGTH, "which"): OPERAND,
    (ContractError.BAD_OP_FIELD, "field"): OP_FIELD,
    (ContractError.BAD_INPUT_SPEC, "field"): SPEC_FIELD,
    (ContractError.OPERAND_MISMATCH, "operand"): OPENED_OPERAND,
    (ContractError.SPEC_SOURCE_LENGTH, "operand"): OPENED_OPERAND,
}


def code_labels(error: str, args: Mapping[str, Any]) -> dict[str, str]:
    """The names of the numeric codes among an error's arguments, e.g.
    `code_labels("ParamOutOfRange", {"param": 1, ...}) == {"param": "challengeWindow"}`;
    an unknown code is labelled "unknown"."""
    out = {}
    for arg, value in args.items():
        table = CODES.get((error, arg))
        if table is not None and isinstance(value, int):
            out[arg] = table.get(value, "unknown")
    return out
