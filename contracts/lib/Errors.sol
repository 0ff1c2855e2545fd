// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Every custom error of poc, with the offending values (docs/protocol.md §6). Numeric codes
// (named for the node in node/chain/contracts/errors.py, checked by tests/node/infra):
//   ParamOutOfRange.param (JobMarket.P_*): 0 reward, 1 challengeWindow, 2 clock, 3 executeWithin,
//     4 nInputs + nOps, 5 outputSlot, 6 challengerBond, 7 claimBy, 8 nOps, 9 requiredStake
//   BadProof.which, ProofLength.which: 1 operand A leaf in aRoot, 2 operand B leaf or table in
//     bRoot (TensorStep.OPERAND_*); 3 op in programRoot, 4 aRoot at slot a of S_lo, 5 bRoot at
//     slot b of S_lo, 6 output slot empty in S_lo, 7 outRoot at the output slot of S_hi
//     (DisputeGame.PROOF_*), 8 opsRoot || inputSpecRoot to programRoot, 9 operand a's spec
//     source (its input spec leaf or its producing op), 10 operand b's (v3, table rules)
//   BadInputSpec.field: byte offset in the 32-byte spec leaf (0 dtype, 1 rows, 5 cols, 9 reserved);
//   OperandMismatch.operand, SpecSourceLength.operand: 1 a, 2 b (protocol.md §4, table rules)
//   OperandLength.which: 1 operand A, 2 operand B; BadOpField.field: the field's byte offset in
//     the 64-byte op (OpCodec.F_*: 0 opcode, 1 flags, 2 out, 4 a, 6 b, 8 M, 12 K, 16 N, 20 mult,
//     24 shift, 25 zp, 26 lo, 27 hi, 28 B, 32 H, 34 W, 36 C, 38 KH, 39 KW, 40 S, 41 P, 42 padv,
//     43 mult2, 47 reserved), the same rules and order as node/program/validation.py (protocol.md §4)

// --- common ---
error Reentrancy();
error TransferFailed(address to, uint256 amount);
error NotDeployer(address caller);
error AlreadySet();
error ZeroAmount();
error Unauthorized(address caller);
// --- asset (protocol.md 6.7): token address 0 is ether ---
// a token transfer reverted or returned something other than nothing or true (party: the
// sender of a pull, the recipient of a push, the holder of a balance read with amount 0)
error TokenTransferFailed(address token, address party, uint256 amount);
error EtherOnTokenPath(uint256 sent);
error NotTokenMarket();
error NotEtherMarket(address asset);
error AssetHasNoCode(address asset);

// --- StakeManager ---
error InsufficientStake(address provider, uint256 free, uint256 needed);
error LockExists(uint256 claimId);
error NoLock(uint256 claimId);
error SlashTooLarge(uint256 claimId, uint256 amount, uint256 locked);
error NothingToWithdraw(address account);
error StillUnbonding(address provider, uint256 unlockAt, uint256 nowTs);

// --- JobMarket ---
error ParamOutOfRange(uint8 param, uint256 value, uint256 min, uint256 max);
error JobNotFound(uint256 jobId);
error WrongJobState(uint256 jobId, uint8 have, uint8 want);
error WrongClaimState(uint256 claimId, uint8 have, uint8 want);
error ClaimDeadlinePassed(uint256 jobId, uint256 claimBy, uint256 nowTs);
error NotProvider(uint256 claimId, address caller, address provider);
error NotPoster(uint256 jobId, address caller, address poster);
error ExecutionDeadlinePassed(uint256 claimId, uint256 deadline, uint256 nowTs);
error ExecutionDeadlineNotPassed(uint256 claimId, uint256 deadline, uint256 nowTs);
// computed: the root the output proof reaches; the unproven outputRoot when its depth is wrong
error BadOutputProof(uint256 jobId, bytes32 computed, bytes32 sN);
error WindowClosed(uint256 claimId, uint256 windowEnd, uint256 nowTs);
error WindowOpen(uint256 claimId, uint256 windowEnd, uint256 nowTs);
error WrongBond(uint256 jobId, uint256 sent, uint256 required);
error GamesPending(uint256 claimId, uint256 activeGames);
// a job whose claim ended unaccepted may be claimed again from reopensAt (protocol.md 6.5 R5)
error JobCoolingDown(uint256 jobId, uint256 reopensAt, uint256 nowTs);
// output availability (protocol.md 6.5 R4)
error OutputAlreadyDemanded(uint256 claimId, uint256 due);
error OutputAlreadyPublished(uint256 claimId);
error OutputNotDemanded(uint256 claimId);
error OutputPending(uint256 claimId, uint256 due, uint256 nowTs);
error BadOutputData(uint256 claimId, uint256 length, uint256 leafSize);
error BadOutput(uint256 claimId, bytes32 computed, bytes32 outputRoot);

// --- DisputeGame ---
error GameNotFound(uint256 gameId);
error GameOver(uint256 gameId, uint8 status);
error WrongPhase(uint256 gameId, uint8 have, uint8 want);
error NotMover(uint256 gameId, address caller, address mover);
error ClockExpired(uint256 gameId, uint256 deadline, uint256 nowTs);
error ClockRunning(uint256 gameId, uint256 deadline, uint256 nowTs);
error GameNotDecided(uint256 gameId);
error GameAlreadySettled(uint256 gameId);
error BadLength(uint256 gameId, uint256 have, uint256 want);
error RevealMismatch(uint256 gameId, bytes32 have, bytes32 want);
error IndexOutOfRange(uint256 index, uint256 bound);
error NodesMismatch(uint256 gameId, bytes32 computed, bytes32 node);
error BadProof(uint8 which, bytes32 computed, bytes32 root);
error OpCommitMismatch(uint256 gameId, bytes32 have, bytes32 want);
error BadArity(uint256 log2Arity);

// --- ops and one step ---
error BadOpLength(uint256 length);
error BadOpField(uint8 field, uint256 value);
error ProofLength(uint8 which, uint256 have, uint256 want);
error OperandLength(uint8 which, uint256 have, uint256 want);
error NotElementwise(uint8 opcode, uint256 leafIndex);
error NotReduction(uint8 opcode);
// table rules (protocol.md §4, v3): a malformed input spec leaf; an operand of the wrong dtype or size;
// an operand's spec source of the wrong length (32 for an input's spec leaf, 64 for an op)
error BadInputSpec(uint256 slot, uint8 field, uint256 value);
error OperandMismatch(
    uint8 operand, uint256 slot, uint8 dtype, uint256 numel, uint8 wantDtype, uint256 wantNumel
);
error SpecSourceLength(uint8 operand, uint256 have, uint256 want);

// --- ReplicaMarket (protocol.md 6.8) ---
// reason: 1 not on the job's list, 2 free stake below minStake, 3 too few accepted seats, 4 already seated
error NotEligible(uint256 jobId, address provider, uint8 reason);
error NotSeatHolder(uint256 seatId, address caller, address provider);
error WrongSeatState(uint256 seatId, uint8 have, uint8 want);
error CommitClosed(uint256 seatId, uint256 commitBy, uint256 nowTs);
error RevealsNotOpen(uint256 jobId, uint256 commitBy, uint256 nowTs);
error RevealsClosed(uint256 jobId, uint256 revealBy, uint256 nowTs);
error RevealsOpen(uint256 jobId, uint256 revealBy, uint256 nowTs);
// the revealed (sN, caller, salt) does not hash to the seat's commitment
error BadReveal(uint256 seatId, bytes32 computed, bytes32 commitment);
