// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IStakeManager: provider stake, locks, slashing, unbonding (docs/protocol.md §6.6)
/// @notice A lock is kept under a key chosen by the market: a claim's lock under its claim id, a
/// game's backing under GAME_LOCK_BASE + game id (§6.5 R2). `claimId` below is that key.
interface IStakeManager {
    event Deposited(address indexed provider, uint256 amount);
    event UnbondRequested(address indexed provider, uint256 amount, uint256 unlockAt);
    event Withdrawn(address indexed provider, uint256 amount);
    event Locked(address indexed provider, uint256 indexed claimId, uint256 amount);
    event Unlocked(address indexed provider, uint256 indexed claimId, uint256 amount);
    event Slashed(address indexed provider, uint256 indexed claimId, uint256 amount);

    /// @notice Ether market: adds msg.value to the caller's free stake.
    function deposit() external payable;
    /// @notice Token market: pulls `amount` of the asset and adds what arrived to the free stake.
    function depositToken(uint256 amount) external payable;
    /// @notice The stake asset: address(0) for ether, else the ERC-20 fixed at deployment.
    function asset() external view returns (address);
    /// @notice Moves `amount` of free stake to unbonding and restarts the unbonding timer.
    function requestUnbond(uint256 amount) external;
    /// @notice Pays the caller its unbonding stake once the timer has passed.
    function withdraw() external;
    /// @notice Market only: locks `amount` of `provider`'s free stake for `claimId`.
    function lock(address provider, uint256 claimId, uint256 amount) external;
    /// @notice Market only: locks `min(max, free stake)` of `provider`'s stake under `claimId`
    /// (nothing, and no lock, when that is 0); returns the amount locked.
    function lockUpTo(address provider, uint256 claimId, uint256 max) external returns (uint256 amount);
    /// @notice Market only: releases the lock of `claimId` to its provider's free stake.
    function unlock(uint256 claimId) external;
    /// @notice Market only: sends `amount` of the lock of `claimId` to the market, releases the rest.
    function slash(uint256 claimId, uint256 amount) external;
    /// @notice Free (lockable, unbondable) stake of `provider`.
    function freeStake(address provider) external view returns (uint256);
}
