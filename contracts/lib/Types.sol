// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Operands of a one step (docs/protocol.md §6.4). `op` and `sLo` must be the ones bound at
/// the opening; `aRoot` / `bRoot` are proven as slots `op.a` / `op.b` of `sLo` by the game
/// (`aSlotProof`, `bSlotProof`); leaves are proven against `aRoot` / `bRoot` by the verifier.
struct StepData {
    bytes op;
    bytes32 aRoot;
    bytes32 bRoot;
    bytes aLeaf;
    bytes32[] aProof;
    bytes bLeaf;
    bytes32[] bProof;
    bytes32 sLo;
    bytes32[] aSlotProof;
    bytes32[] bSlotProof;
}

/// @notice The provider's opening of op `a` at the end of the execution level (§6.3, `openOp`): the
/// op under the program root's ops half and its output slot's transition. The operand slots' spec
/// sources follow in `openSpecs` (v7: one move each stays under 100k gas).
struct OpOpening {
    bytes op;
    bytes32[] opProof;
    bytes32 outRoot;
    bytes32[] outProof;
    bytes32 opsRoot;
    bytes32 inputSpecRoot;
}

/// @notice The second half of an opening (v7, `openSpecs`): the opened op again (as `openOp` kept
/// it), the program root's halves, and the spec source of each operand
/// slot with its sibling path: its 32-byte input spec leaf under `inputSpecRoot`, or the 64-byte op
/// that writes it under `opsRoot` (`bSpec` unused when the op reads no `b`), docs/protocol.md §6.3.
struct SpecOpening {
    bytes op;
    bytes32 opsRoot;
    bytes32 inputSpecRoot;
    bytes aSpec;
    bytes32[] aSpecProof;
    bytes bSpec;
    bytes32[] bSpecProof;
}

/// @notice A job's parameters, fixed when it is posted (§6.2).
struct JobParams {
    bytes32 programRoot;
    bytes32 s0;
    uint32 nInputs;
    uint32 nOps;
    uint32 outputSlot;
    uint128 requiredStake;
    uint128 challengerBond;
    uint64 claimBy;
    uint32 executeWithin;
    uint32 challengeWindow;
    uint32 clock;
}
