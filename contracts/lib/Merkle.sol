// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IndexOutOfRange} from "./Errors.sol";

/// @title Merkle: fixed-depth SHA-256 trees of docs/protocol.md §3
/// @notice Siblings are listed from the leaf level up; bit l of the index says right (1) or left (0).
library Merkle {
    /// @notice sha256(a || b) through the precompile at 0x02, in scratch space.
    function hashPair(bytes32 a, bytes32 b) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    /// @notice The root reached from `leaf` at `index` through `siblings` (depth = siblings.length).
    function rootFrom(bytes32 leaf, uint256 index, bytes32[] calldata siblings)
        internal
        view
        returns (bytes32 node)
    {
        uint256 depth = siblings.length;
        if (depth < 256 && index >> depth != 0) revert IndexOutOfRange(index, uint256(1) << depth);
        // in assembly, scratch space only: the Solidity loop cost ~400 gas a level, half of it
        // around the precompile call (docs/benchmarks.md, gas section)
        assembly ("memory-safe") {
            node := leaf
            for { let l := 0 } lt(l, depth) { l := add(l, 1) } {
                let right := and(shr(l, index), 1)
                mstore(shl(5, right), node) // the node left (0x00) or right (0x20) of its sibling
                mstore(shl(5, iszero(right)), calldataload(add(siblings.offset, shl(5, l))))
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
                node := mload(0x00)
            }
        }
    }

    /// @notice The roots reached from `leafA` and from `leafB`, both at `index`, through the same
    /// `siblings` (a slot before and after a write): one loop reads each sibling once.
    function rootsFrom(bytes32 leafA, bytes32 leafB, uint256 index, bytes32[] calldata siblings)
        internal
        view
        returns (bytes32 a, bytes32 b)
    {
        uint256 depth = siblings.length;
        if (depth < 256 && index >> depth != 0) revert IndexOutOfRange(index, uint256(1) << depth);
        assembly ("memory-safe") {
            a := leafA
            b := leafB
            for { let l := 0 } lt(l, depth) { l := add(l, 1) } {
                let s := calldataload(add(siblings.offset, shl(5, l)))
                let at := shl(5, and(shr(l, index), 1)) // the node's offset; its sibling's is 0x20 - at
                let other := xor(at, 0x20)
                mstore(at, a)
                mstore(other, s)
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
                a := mload(0x00)
                mstore(at, b)
                mstore(other, s)
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
                b := mload(0x00)
            }
        }
    }

    /// @notice Root of a power-of-two list of nodes (consumed: the array is overwritten).
    function rootOfLevel(bytes32[] memory nodes) internal view returns (bytes32) {
        uint256 n = nodes.length;
        while (n > 1) {
            for (uint256 i; i < n / 2; ++i) {
                nodes[i] = hashPair(nodes[2 * i], nodes[2 * i + 1]);
            }
            n /= 2;
        }
        return nodes[0];
    }

    /// @notice Root of a power-of-two calldata list of nodes, without copying more than half.
    function rootOfCalldata(bytes32[] calldata nodes) internal view returns (bytes32) {
        uint256 n = nodes.length;
        if (n == 1) return nodes[0];
        bytes32[] memory level = new bytes32[](n / 2);
        for (uint256 i; i < n / 2; ++i) {
            level[i] = hashPair(nodes[2 * i], nodes[2 * i + 1]);
        }
        return rootOfLevel(level);
    }

    /// @notice Tensor root of section 3 over `data` cut into `leafSize`-byte leaves (the caller
    /// checks that `data.length` is a positive multiple of `leafSize`): sha256 leaf nodes, the
    /// list padded with all-zero leaves to a power of two, sha256 inner nodes.
    function tensorRoot(bytes calldata data, uint256 leafSize) internal view returns (bytes32) {
        uint256 n = data.length / leafSize;
        uint256 width = uint256(1) << ceilLog2(n);
        bytes32[] memory nodes = new bytes32[](width);
        for (uint256 i; i < n; ++i) {
            nodes[i] = _sha256Chunk(data, i * leafSize, leafSize);
        }
        if (width > n) {
            bytes32 zeroLeaf = sha256(new bytes(leafSize));
            for (uint256 i = n; i < width; ++i) {
                nodes[i] = zeroLeaf;
            }
        }
        return rootOfLevel(nodes);
    }

    /// @dev sha256 of `data[start : start + len]` (in range: the caller's loop bound), copied to
    /// free memory, which stays unallocated: nothing else uses it before the next allocation.
    function _sha256Chunk(bytes calldata data, uint256 start, uint256 len) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, add(data.offset, start), len)
            if iszero(staticcall(gas(), 0x02, ptr, len, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    /// @notice ceil(log2(n)), 0 for n <= 1: the bit length of n - 1, by binary search (a loop
    /// over the bits cost ~2k gas at 2^16, three times an opening).
    function ceilLog2(uint256 n) internal pure returns (uint256 d) {
        if (n <= 1) return 0;
        assembly ("memory-safe") {
            let x := sub(n, 1)
            let r := shl(7, lt(0xffffffffffffffffffffffffffffffff, x))
            r := or(r, shl(6, lt(0xffffffffffffffff, shr(r, x))))
            r := or(r, shl(5, lt(0xffffffff, shr(r, x))))
            r := or(r, shl(4, lt(0xffff, shr(r, x))))
            r := or(r, shl(3, lt(0xff, shr(r, x))))
            r := or(r, shl(2, lt(0xf, shr(r, x))))
            r := or(r, shl(1, lt(0x3, shr(r, x))))
            d := add(or(r, gt(shr(r, x), 1)), 1) // floor(log2 x) + 1
        }
    }
}
