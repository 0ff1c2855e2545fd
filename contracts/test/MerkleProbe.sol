// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Merkle} from "../lib/Merkle.sol";

/// @notice Test only: exposes the Merkle library to the vector tests.
contract MerkleProbe {
    function rootFrom(bytes32 leaf, uint256 index, bytes32[] calldata siblings) external view returns (bytes32) {
        return Merkle.rootFrom(leaf, index, siblings);
    }

    function leafRoot(bytes calldata leaf, uint256 index, bytes32[] calldata siblings) external view returns (bytes32) {
        return Merkle.rootFrom(sha256(leaf), index, siblings);
    }

    function tensorRoot(bytes calldata data, uint256 leafSize) external view returns (bytes32) {
        return Merkle.tensorRoot(data, leafSize);
    }

    /// @notice sha256(a || b): also the program root of its two halves (v3, protocol.md §3).
    function hashPair(bytes32 a, bytes32 b) external view returns (bytes32) {
        return Merkle.hashPair(a, b);
    }

    function ceilLog2(uint256 n) external pure returns (uint256) {
        return Merkle.ceilLog2(n);
    }
}
