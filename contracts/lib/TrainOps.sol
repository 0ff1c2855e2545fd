// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Op, OpCodec} from "./OpCodec.sol";
import {Leaf} from "./Leaf.sol";
import {OperandLength} from "./Errors.sol";

/// @title TrainOps: the one-step semantics of the v6 training ops transpose and update and the
/// counter-based generator of update's stochastic rounding (docs/protocol.md §4-5, issue 15).
library TrainOps {
    uint8 internal constant OPERAND_A = 1;
    uint8 internal constant OPERAND_B = 2;
    uint256 internal constant U32 = 0xFFFFFFFF;
    /// @dev int32 master weights are clamped to [lo, hi] * 2^8 (int16 range)
    uint256 internal constant MASTER_SHIFT = 8;

    /// @notice The 32 leaves of `a` ([N, M]) a transpose output leaf reads (§5): `first + t*stride`.
    function transposeOperands(Op memory op, uint256 j) internal pure returns (uint256 first, uint256 stride) {
        uint256 f = 32 * j;
        uint256 m = f / op.N;
        first = ((f % op.N) * op.M + m) / 32;
        stride = uint256(op.M) / 32;
    }

    /// @notice Output leaf j of transpose: element t is element m % 32 of the t-th leaf read.
    function transpose(Op memory op, uint256 j, bytes calldata aLeaves) internal pure returns (bytes memory out) {
        if (aLeaves.length != 1024) revert OperandLength(OPERAND_A, aLeaves.length, 1024);
        uint256 e = (32 * j / op.N) % 32;
        out = new bytes(32);
        uint256 w;
        assembly {
            for { let t := 0 } lt(t, 32) { t := add(t, 1) } {
                let b := byte(e, calldataload(add(aLeaves.offset, shl(5, t))))
                w := or(w, shl(mul(8, sub(31, t)), b))
            }
            mstore(add(out, 32), w)
        }
    }

    /// @notice Wellons' lowbias32 (§4): a bijection of uint32.
    function h32(uint256 x) internal pure returns (uint256) {
        unchecked {
            x &= U32;
            x ^= x >> 16;
            x = (x * 0x7feb352d) & U32;
            x ^= x >> 15;
            x = (x * 0x846ca68b) & U32;
            return x ^ (x >> 16);
        }
    }

    /// @notice rng(seed, t, f) = h(h(h(seed) ^ t) ^ f) (§4).
    function rng(uint256 seed, uint256 t, uint256 f) internal pure returns (uint256) {
        return h32(h32(h32(seed) ^ t) ^ f);
    }

    struct UpdateParams {
        int256 lo;
        int256 hi;
        uint256 key; // h(h(seed) ^ step)
        uint256 shift;
        int256 mult;
        uint256 base; // flat index of the leaf's first element
    }

    /// @notice Output leaf j of update (§4): clamp(W - q - [u < r], L, H) per element, with
    /// d = G * mult, q = floor(d / 2^shift), r = d - q * 2^shift, u = rng(period, pos, f) >> (32 - shift).
    function update(Op memory op, uint256 j, bytes calldata aLeaf, bytes calldata bLeaf)
        internal
        pure
        returns (bytes memory out)
    {
        bool master = op.flags & OpCodec.FLAG_INT32 != 0;
        uint256 wBytes = master ? 128 : 32;
        if (aLeaf.length != wBytes) revert OperandLength(OPERAND_A, aLeaf.length, wBytes);
        if (bLeaf.length != 128) revert OperandLength(OPERAND_B, bLeaf.length, 128);
        out = new bytes(wBytes);
        int256 scale = master ? int256(1 << MASTER_SHIFT) : int256(1);
        UpdateParams memory p = UpdateParams(
            int256(op.lo) * scale, int256(op.hi) * scale, h32(h32(op.period) ^ op.pos), op.shift,
            int256(uint256(op.mult)), 32 * j
        );
        for (uint256 t; t < 32; ++t) {
            int256 w = master ? Leaf.i32At(aLeaf, t) : Leaf.i8At(aLeaf, t);
            int256 y = _step(p, w, Leaf.i32At(bLeaf, t), t);
            if (master) Leaf.setI32(out, t, y);
            else Leaf.setI8(out, t, int8(y));
        }
    }

    function _step(UpdateParams memory p, int256 w, int256 g, uint256 t) private pure returns (int256 y) {
        int256 d = g * p.mult; // |d| < 2^62
        int256 q = d >> p.shift; // arithmetic: floor
        uint256 r = uint256(d - (q << p.shift));
        uint256 u = h32(p.key ^ (p.base + t)) >> (32 - p.shift);
        y = w - q - (u < r ? int256(1) : int256(0));
        if (y < p.lo) y = p.lo;
        if (y > p.hi) y = p.hi;
    }
}
