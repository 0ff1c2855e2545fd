// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Every custom error of poc, with the offending values (docs/protocol.md §6).

// --- common ---
error Reentrancy();
error TransferFailed(address to, uint256 amount);
error NotDeployer(address caller);
error AlreadySet();
error ZeroAmount();
error Unauthorized(address caller);

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
error BadOutputProof(uint256 jobId, bytes32 computed, bytes32 sN);
error WindowClosed(uint256 claimId, uint256 windowEnd, uint256 nowTs);
error WindowOpen(uint256 claimId, uint256 windowEnd, uint256 nowTs);
error WrongBond(uint256 jobId, uint256 sent, uint256 required);
error GamesPending(uint256 claimId, uint256 activeGames);

// --- DisputeGame ---
error GameNotFound(uint256 gameId);
error GameOver(uint256 gameId, uint8 status);
error WrongPhase(uint256 gameId, uint8 have, uint8 want);
error NotMover(uint256 gameId, address caller, address mover);
error ClockExpired(uint256 gameId, uint256 deadline, uint256 nowTs);
error ClockRunning(uint256 gameId, uint256 deadline, uint256 nowTs);
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
error BadMultiplier(int256 mult);
