// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDisputeGame: what the market asks of the game contract
interface IDisputeGame {
    /// @notice Market only: opens a game against claim `claimId` (docs/protocol.md §6.3).
    /// @return gameId the new game's id (ids start at 1)
    function create(
        uint256 claimId,
        address provider,
        address challenger,
        bytes32 programRoot,
        bytes32 s0,
        bytes32 sN,
        uint32 nInputs,
        uint32 nOps,
        uint32 clock
    ) external returns (uint256 gameId);
}

/// @title IGameResolver: the market's callback when a game ends
interface IGameResolver {
    /// @notice Game contract only: game `gameId` on `claimId` ended.
    function onGameResolved(uint256 gameId, uint256 claimId, bool providerWon) external;
}
