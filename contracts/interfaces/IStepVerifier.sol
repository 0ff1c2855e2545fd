// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {StepData} from "../lib/Types.sol";

/// @title IStepVerifier: the one step of docs/protocol.md §5 and §6.4
/// @notice The dispute game never computes tensor semantics itself: it asks a verifier.
interface IStepVerifier {
    /// @notice Expected hash of output leaf `leafIndex` of the op in `d`, from operand leaves
    /// proven against `d.aRoot` / `d.bRoot`. A padding leaf (`leafIndex >= M*N/32`) hashes the
    /// all-zero leaf and takes empty operands. Reverts on a bad proof, length or op.
    /// @param d the opened op, its operand roots and the operand leaves with their proofs
    /// @param leafIndex the output leaf under dispute
    /// @return leafHash sha256 of the expected output leaf
    function leafStep(StepData calldata d, uint256 leafIndex) external view returns (bytes32 leafHash);

    /// @notice One chunk of a matmul element: `prev + sum_t A[m, 32c+t] * W[n, 32c+t]` for
    /// flat element `32*leafIndex + elem = m*N + n`, with A and W leaves proven against the roots.
    /// @param d the opened matmul, its operand roots, the A leaf (`aLeaf`) and the W leaf (`bLeaf`)
    /// @param leafIndex output leaf; @param elem element of that leaf (0..31); @param chunk c
    /// @param prev the agreed partial sum P_c
    /// @return next P_{c+1}
    function chunkStep(StepData calldata d, uint256 leafIndex, uint256 elem, uint256 chunk, int256 prev)
        external
        view
        returns (int256 next);
}
