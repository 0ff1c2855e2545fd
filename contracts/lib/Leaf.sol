// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Leaf: element packing of docs/protocol.md §2 (big-endian two's complement)
library Leaf {
    /// @notice int32 element t of a 128-byte calldata leaf.
    function i32At(bytes calldata leaf, uint256 t) internal pure returns (int256 v) {
        assembly {
            v := signextend(3, shr(224, calldataload(add(leaf.offset, mul(t, 4)))))
        }
    }

    /// @notice int8 element t of a calldata leaf.
    function i8At(bytes calldata leaf, uint256 t) internal pure returns (int256 v) {
        assembly {
            v := signextend(0, byte(0, calldataload(add(leaf.offset, t))))
        }
    }

    /// @notice int32 element t of a 128-byte memory leaf.
    function i32AtMem(bytes memory leaf, uint256 t) internal pure returns (int256 v) {
        assembly {
            v := signextend(3, shr(224, mload(add(add(leaf, 32), mul(t, 4)))))
        }
    }

    /// @notice Writes v modulo 2^32 as element t of a 128-byte memory leaf.
    function setI32(bytes memory out, uint256 t, int256 v) internal pure {
        assembly {
            let p := add(add(out, 32), mul(t, 4))
            mstore8(p, shr(24, v))
            mstore8(add(p, 1), shr(16, v))
            mstore8(add(p, 2), shr(8, v))
            mstore8(add(p, 3), v)
        }
    }

    /// @notice Writes v as element t of a 32-byte memory leaf.
    function setI8(bytes memory out, uint256 t, int8 v) internal pure {
        assembly {
            mstore8(add(add(out, 32), t), v)
        }
    }

    /// @notice sum over 32 int8 pairs of a[t] * b[t] (both 32-byte calldata leaves).
    function dot8(bytes calldata a, bytes calldata b) internal pure returns (int256 s) {
        assembly {
            let wa := calldataload(a.offset)
            let wb := calldataload(b.offset)
            for { let t := 0 } lt(t, 32) { t := add(t, 1) } {
                s := add(s, mul(signextend(0, byte(t, wa)), signextend(0, byte(t, wb))))
            }
        }
    }
}
