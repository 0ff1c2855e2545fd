// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Op, OpCodec} from "./OpCodec.sol";
import {Leaf} from "./Leaf.sol";
import {OperandLength} from "./Errors.sol";

/// @title TransformerOps: the one-step semantics of the v5 ops write, rowop, mul and reduce
/// (docs/protocol.md §4-5). Every formula is total: no operand value makes a step revert.
library TransformerOps {
    uint8 internal constant OPERAND_A = 1;
    uint8 internal constant OPERAND_B = 2;

    int256 internal constant REDUCE_MAX_START = -(2 ** 31);
    int256 internal constant ARGMAX_START = -(2 ** 64);
    int256 internal constant ARGMAX_KEY = 2 ** 32;

    // ------------------------------------------------------------------ write

    /// @notice The b leaf a write output leaf reads (§5): (whether, index, b's leaf count).
    function writeSource(Op memory op, uint256 j) internal pure returns (bool, uint256, uint256) {
        uint256 m = 32 * j / op.N;
        uint256 n0 = 32 * j % op.N;
        uint256 pos = op.pos;
        uint256 r = op.K;
        if (op.flags & OpCodec.FLAG_COLUMNS == 0) {
            if (m < pos || m >= pos + r) return (false, 0, 0);
            return (true, j - pos * op.N / 32, r * op.N / 32);
        }
        if (n0 + 32 <= pos || n0 >= pos + r) return (false, 0, 0);
        uint256 wide = OpCodec.ceil32(r);
        uint256 first = (n0 > pos ? n0 : pos) - pos;
        return (true, (m * wide + first / 32 * 32) / 32, uint256(op.M) * wide / 32);
    }

    function write(Op memory op, uint256 j, bytes calldata aLeaf, bytes calldata bLeaf)
        internal
        pure
        returns (bytes memory out)
    {
        bool i32 = op.flags & OpCodec.FLAG_INT32 != 0;
        uint256 size = i32 ? 128 : 32;
        _len(OPERAND_A, aLeaf, size);
        (bool useB,,) = writeSource(op, j);
        if (!useB) {
            _len(OPERAND_B, bLeaf, 0);
            return aLeaf;
        }
        _len(OPERAND_B, bLeaf, size);
        if (op.flags & OpCodec.FLAG_COLUMNS == 0) return bLeaf;
        out = aLeaf;
        uint256 n0 = 32 * j % op.N;
        uint256 pos = op.pos;
        uint256 base = ((n0 > pos ? n0 : pos) - pos) / 32 * 32;
        for (uint256 t; t < 32; ++t) {
            uint256 n = n0 + t;
            if (n < pos || n >= pos + op.K) continue;
            uint256 src = n - pos - base;
            if (i32) Leaf.setI32(out, t, Leaf.i32At(bLeaf, src));
            else out[t] = bLeaf[src];
        }
    }

    // ------------------------------------------------------------------ mul

    function mul(bytes calldata aLeaf, bytes calldata bLeaf) internal pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 32);
        _len(OPERAND_B, bLeaf, 32);
        out = new bytes(128);
        for (uint256 t; t < 32; ++t) {
            Leaf.setI32(out, t, Leaf.i8At(aLeaf, t) * Leaf.i8At(bLeaf, t));
        }
    }

    // ------------------------------------------------------------------ rowop

    /// @dev The causal mask: column n is visible from row m iff n <= pos + m % period.
    function _limit(Op memory op, uint256 m) private pure returns (uint256) {
        return uint256(op.pos) + m % op.period;
    }

    /// @dev A rowop row's values: S, the divisor (div: S; norms: isqrt of the variance term), D,
    /// 2^shift, the mask's last visible column; then the loop's constants (num = x*mul - sub).
    struct Row {
        int256 s;
        int256 den;
        int256 d;
        int256 scale;
        uint256 limit;
        int256 mul;
        int256 sub;
        int256 lo;
        int256 hi;
        uint256 isSub;
    }

    function rowop(Op memory op, uint256 j, bytes calldata aLeaf, bytes calldata bLeaf)
        internal
        pure
        returns (bytes memory out)
    {
        _len(OPERAND_A, aLeaf, 32);
        _len(OPERAND_B, bLeaf, 128);
        Row memory r = _row(op, 32 * j / op.N, bLeaf);
        out = new bytes(32);
        _rowLeaf(out, aLeaf, r, 32 * j % op.N);
    }

    /// @dev The 32 outputs in one assembly loop (every intermediate is below 2^59 in magnitude,
    /// so the EVM's 256-bit words are exact): num = x*mul - sub, y = floor((2*num*2^shift + den)
    /// / (2*den)) when den > 0 else 0; sub: y = x - S; then the clamp; a masked column gives lo.
    function _rowLeaf(bytes memory out, bytes calldata aLeaf, Row memory r, uint256 n0) private pure {
        assembly {
            let w := calldataload(aLeaf.offset)
            let den2 := mul(mload(add(r, 0x20)), 2)
            let scale2 := mul(mload(add(r, 0x60)), 2)
            for { let t := 0 } lt(t, 32) { t := add(t, 1) } {
                let y := mload(add(r, 0xe0)) // lo
                if iszero(gt(add(n0, t), mload(add(r, 0x80)))) {
                    let x := signextend(0, byte(t, w))
                    switch mload(add(r, 0x120))
                    case 1 { y := sub(x, mload(r)) }
                    default {
                        y := 0
                        if sgt(den2, 0) {
                            x := add(mul(sub(mul(x, mload(add(r, 0xa0))), mload(add(r, 0xc0))), scale2), sdiv(den2, 2))
                            y := sdiv(x, den2)
                            if and(slt(x, 0), iszero(iszero(smod(x, den2)))) { y := sub(y, 1) }
                        }
                    }
                    if slt(y, mload(add(r, 0xe0))) { y := mload(add(r, 0xe0)) }
                    if sgt(y, mload(add(r, 0x100))) { y := mload(add(r, 0x100)) }
                }
                mstore8(add(add(out, 32), t), y)
            }
        }
    }

    function _row(Op memory op, uint256 m, bytes calldata bLeaf) private pure returns (Row memory r) {
        r.limit = op.flags & OpCodec.FLAG_MASK != 0 ? _limit(op, m) : type(uint256).max;
        r.s = Leaf.i32At(bLeaf, 0);
        r.scale = int256(1) << op.shift;
        r.d = int256(uint256(op.K));
        r.den = r.s;
        if (op.kind == OpCodec.NORM || op.kind == OpCodec.RMSNORM) {
            int256 q = Leaf.i32At(bLeaf, 1);
            int256 v = op.kind == OpCodec.NORM ? r.d * q - r.s * r.s : r.d * q;
            r.den = int256(isqrt(v > 0 ? uint256(v) : 0));
        }
        r.mul = op.kind == OpCodec.DIV ? int256(1) : r.d;
        r.sub = op.kind == OpCodec.NORM ? r.s : int256(0);
        r.lo = op.lo;
        r.hi = op.hi;
        r.isSub = op.kind == OpCodec.SUB ? 1 : 0;
    }

    /// @notice floor((2*num + den) / (2*den)) for den > 0 (num/den rounded half up), else 0.
    function roundDiv(int256 num, int256 den) internal pure returns (int256 q) {
        if (den <= 0) return 0;
        int256 a = 2 * num + den;
        int256 b = 2 * den;
        q = a / b; // truncates toward zero: step down for a negative inexact quotient
        if (a % b != 0 && a < 0) q -= 1;
    }

    /// @notice floor(sqrt(x)) exactly (Newton's iteration from a power of two above the root).
    function isqrt(uint256 x) internal pure returns (uint256 r) {
        if (x == 0) return 0;
        uint256 bits;
        uint256 y = x;
        while (y > 0) {
            y >>= 1;
            ++bits;
        }
        r = uint256(1) << ((bits + 1) / 2); // >= sqrt(x)
        while (true) {
            uint256 next = (r + x / r) / 2;
            if (next >= r) break;
            r = next;
        }
    }

    // ------------------------------------------------------------------ reduce

    /// @notice Chunk `chunk` of element `elem` of row `row` (§5): P_{c+1} from P_c = `prev` (the
    /// kind's start at chunk 0, where the game's stored word is 0), or fin(P) at the last chunk.
    function reduceChunk(Op memory op, uint256 row, uint256 elem, uint256 chunk, bytes calldata aLeaf, int256 prev)
        internal
        pure
        returns (int256 state)
    {
        uint8 kind = op.kind;
        if (chunk == 0) state = kind == OpCodec.RMAX ? REDUCE_MAX_START : kind == OpCodec.ARGMAX ? ARGMAX_START : int256(0);
        else state = prev;
        bool i32 = op.flags & OpCodec.FLAG_INT32 != 0;
        uint256 limit = op.flags & OpCodec.FLAG_MASK != 0 ? _limit(op, row) : type(uint256).max;
        uint256 base = 32 * chunk;
        if (!(kind == OpCodec.MOMENTS && elem >= 2)) {
            for (uint256 t; t < 32; ++t) {
                if (base + t > limit) break; // the rest of the row is masked too
                int256 x = i32 ? Leaf.i32At(aLeaf, t) : Leaf.i8At(aLeaf, t);
                if (kind == OpCodec.MOMENTS) {
                    state += elem == 0 ? x : x * x;
                } else if (kind == OpCodec.RMAX) {
                    if (x > state) state = x;
                } else {
                    int256 key = x * ARGMAX_KEY + (ARGMAX_KEY - 1 - int256(base + t));
                    if (key > state) state = key;
                }
            }
        }
        if (chunk == op.K / 32 - 1 && kind == OpCodec.ARGMAX) {
            state = state == ARGMAX_START ? int256(0) : ARGMAX_KEY - 1 - (state % ARGMAX_KEY);
        }
    }

    function _len(uint8 which, bytes calldata leaf, uint256 want) private pure {
        if (leaf.length != want) revert OperandLength(which, leaf.length, want);
    }
}
