// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BadOpLength, BadOpField, BadInputSpec, OperandMismatch} from "./Errors.sol";

/// @notice A decoded op (docs/protocol.md §4).
struct Op {
    uint8 opcode;
    uint8 flags;
    uint32 out; // v7: slot ids are 32 bits: low halves at bytes 2..7, high halves at 56..61
    uint32 a;
    uint32 b;
    uint32 M;
    uint32 K;
    uint32 N;
    uint32 mult;
    uint8 shift;
    int8 zp;
    int8 lo;
    int8 hi;
    uint32 B;
    uint16 H;
    uint16 W;
    uint16 C;
    uint8 KH;
    uint8 KW;
    uint8 S;
    uint8 P;
    int8 padv;
    uint32 mult2; // qadd: the multiplier of b (v3)
    uint8 kind; // v5: reduce combine, rowop function
    uint32 pos; // v5: write's first row / column; position of row 0 under MASK
    uint32 period; // v5: rows per sequence block under MASK
}

/// @title OpCodec: the 64-byte op encoding, its validation and the shapes it implies
library OpCodec {
    uint8 internal constant MATMUL = 1;
    uint8 internal constant ADD = 2;
    uint8 internal constant REQUANT = 3;
    uint8 internal constant RELU = 4;
    uint8 internal constant LUT = 5;
    uint8 internal constant IM2COL = 6;
    uint8 internal constant QADD = 7;
    uint8 internal constant GMAX = 8;
    uint8 internal constant GSUM = 9;
    // v5 (issue 16): transformer ops
    uint8 internal constant GATHER = 10;
    uint8 internal constant WRITE = 11;
    uint8 internal constant REDUCE = 12;
    uint8 internal constant ROWOP = 13;
    uint8 internal constant MUL = 14;
    // v6 (issue 15): training ops
    uint8 internal constant TRANSPOSE = 15;
    uint8 internal constant UPDATE = 16;
    uint8 internal constant LAST_OPCODE = UPDATE;
    // flags of the v5 ops
    uint8 internal constant FLAG_INT32 = 1;
    uint8 internal constant FLAG_BROADCAST = 2;
    uint8 internal constant FLAG_MASK = 8;
    uint8 internal constant FLAG_COLUMNS = 16;
    // reduce kinds; rowop kinds
    uint8 internal constant MOMENTS = 1;
    uint8 internal constant RMAX = 2;
    uint8 internal constant ARGMAX = 3;
    uint8 internal constant SUB = 1;
    uint8 internal constant DIV = 2;
    uint8 internal constant NORM = 3;
    uint8 internal constant RMSNORM = 4;
    /// @dev Largest rowop shift: |c * 2^(shift+1)| < 2^58 (docs/protocol.md §4).
    uint256 internal constant MAX_ROW_SHIFT = 24;
    /// @dev Largest update shift: the generator's 32 bits are cut to `shift` (docs/protocol.md §4).
    uint256 internal constant MAX_UPDATE_SHIFT = 32;
    /// @dev Largest group count G (the K field) of gmax / gsum: one step reads G leaves under one
    /// multiproof and must stay within 300k gas (docs/benchmarks.md).
    uint256 internal constant MAX_GROUP = 64;
    /// @dev v7: "no operand" (b of an op that reads none) is the full 32-bit slot id 0xFFFFFFFF.
    uint32 internal constant NONE = 0xFFFFFFFF;
    /// @dev v7: the most slots (nInputs + nOps) of a program: state trees of depth <= 17, so each
    /// of the opening's two moves stays under 100k gas on anvil (docs/protocol.md §1, §6.5).
    uint256 internal constant MAX_SLOTS = 2 ** 17;
    uint256 internal constant MAX_K = 131071;

    uint256 internal constant MAX_TENSOR_ELEMS = 2 ** 31;

    // dtypes as the spec leaf holds them (§3): the item size
    uint8 internal constant INT8 = 1;
    uint8 internal constant INT32 = 4;
    uint8 internal constant NO_DTYPE = 0; // no operand

    // BadInputSpec.field: the byte offset in the 32-byte spec leaf (§3, §4 T1)
    uint8 internal constant S_DTYPE = 0;
    uint8 internal constant S_ROWS = 1;
    uint8 internal constant S_COLS = 5;
    uint8 internal constant S_RESERVED = 9;

    // BadOpField.field: the byte offset of the offending field in the 64-byte op (§4)
    uint8 internal constant F_OPCODE = 0;
    uint8 internal constant F_FLAGS = 1;
    uint8 internal constant F_OUT = 2;
    uint8 internal constant F_A = 4;
    uint8 internal constant F_B = 6;
    uint8 internal constant F_M = 8;
    uint8 internal constant F_K = 12;
    uint8 internal constant F_N = 16;
    uint8 internal constant F_MULT = 20;
    uint8 internal constant F_SHIFT = 24;
    uint8 internal constant F_ZP = 25;
    uint8 internal constant F_CLAMP = 26; // lo (also lo > hi)
    uint8 internal constant F_HI = 27;
    uint8 internal constant F_IM2COL = 28; // B, the first im2col field
    uint8 internal constant F_H = 32;
    uint8 internal constant F_W = 34;
    uint8 internal constant F_C = 36;
    uint8 internal constant F_KH = 38;
    uint8 internal constant F_KW = 39;
    uint8 internal constant F_S = 40;
    uint8 internal constant F_P = 41;
    uint8 internal constant F_PADV = 42;
    uint8 internal constant F_MULT2 = 43;
    uint8 internal constant F_KIND = 47;
    uint8 internal constant F_POS = 48;
    uint8 internal constant F_PERIOD = 52;
    uint8 internal constant F_RESERVED = 62;

    function decode(bytes calldata enc) internal pure returns (Op memory op) {
        if (enc.length != 64) revert BadOpLength(enc.length);
        uint256 w0;
        uint256 w1;
        assembly {
            w0 := calldataload(enc.offset)
            w1 := calldataload(add(enc.offset, 32))
        }
        op = _decodeWords(w0, w1);
    }

    /// @dev Each field of bytes `offset .. offset+size` of the 64 bytes into its word of the struct
    /// (Op's fields are in encoding order, one memory word each; int8 fields sign-extended), in
    /// assembly: field-by-field Solidity assignment cost ~10k gas per decode (docs/benchmarks.md).
    function _decodeWords(uint256 w0, uint256 w1) private pure returns (Op memory op) {
        // bytes 62..63 = w1 bytes 30..31 are reserved (v7: 56..61 hold the slot ids' high halves)
        uint256 reserved = w1 & 0xFFFF;
        if (reserved != 0) revert BadOpField(F_RESERVED, reserved);
        assembly ("memory-safe") {
            mstore(op, shr(248, w0)) // opcode
            mstore(add(op, 0x20), and(shr(240, w0), 0xff)) // flags
            // v7: a slot id's low 16 bits at bytes 2..7 (w0), its high 16 bits at 56..61 (w1 24..29)
            mstore(add(op, 0x40), or(and(shr(224, w0), 0xffff), shl(16, and(shr(48, w1), 0xffff)))) // out
            mstore(add(op, 0x60), or(and(shr(208, w0), 0xffff), shl(16, and(shr(32, w1), 0xffff)))) // a
            mstore(add(op, 0x80), or(and(shr(192, w0), 0xffff), shl(16, and(shr(16, w1), 0xffff)))) // b
            mstore(add(op, 0xa0), and(shr(160, w0), 0xffffffff)) // M
            mstore(add(op, 0xc0), and(shr(128, w0), 0xffffffff)) // K
            mstore(add(op, 0xe0), and(shr(96, w0), 0xffffffff)) // N
            mstore(add(op, 0x100), and(shr(64, w0), 0xffffffff)) // mult
            mstore(add(op, 0x120), and(shr(56, w0), 0xff)) // shift
            mstore(add(op, 0x140), signextend(0, and(shr(48, w0), 0xff))) // zp
            mstore(add(op, 0x160), signextend(0, and(shr(40, w0), 0xff))) // lo
            mstore(add(op, 0x180), signextend(0, and(shr(32, w0), 0xff))) // hi
            mstore(add(op, 0x1a0), and(w0, 0xffffffff)) // B
            mstore(add(op, 0x1c0), and(shr(240, w1), 0xffff)) // H
            mstore(add(op, 0x1e0), and(shr(224, w1), 0xffff)) // W
            mstore(add(op, 0x200), and(shr(208, w1), 0xffff)) // C
            mstore(add(op, 0x220), and(shr(200, w1), 0xff)) // KH
            mstore(add(op, 0x240), and(shr(192, w1), 0xff)) // KW
            mstore(add(op, 0x260), and(shr(184, w1), 0xff)) // S
            mstore(add(op, 0x280), and(shr(176, w1), 0xff)) // P
            mstore(add(op, 0x2a0), signextend(0, and(shr(168, w1), 0xff))) // padv
            mstore(add(op, 0x2c0), and(shr(136, w1), 0xffffffff)) // mult2
            mstore(add(op, 0x2e0), and(shr(128, w1), 0xff)) // kind
            mstore(add(op, 0x300), and(shr(96, w1), 0xffffffff)) // pos
            mstore(add(op, 0x320), and(shr(64, w1), 0xffffffff)) // period
        }
    }

    /// @notice Whether the op reads a second operand `b`.
    function hasB(Op memory op) internal pure returns (bool) {
        uint8 c = op.opcode;
        return c == MATMUL || c == ADD || c == LUT || c == QADD || (c == REQUANT && op.flags & 4 != 0)
            || c == GATHER || c == WRITE || c == ROWOP || c == MUL || c == UPDATE;
    }

    /// @notice §4 validation of one op, rule by rule in the order of docs/protocol.md §4
    /// (node/program/validation.py applies the same rules in the same order and names the same
    /// field): every rule that needs no operand shapes. `out` must be `nInputs + index`.
    function validate(Op memory op, uint256 nInputs, uint256 index) internal pure {
        uint8 c = op.opcode;
        if (c < MATMUL || c > LAST_OPCODE) revert BadOpField(F_OPCODE, c);
        if (op.out != nInputs + index || op.out >= MAX_SLOTS) revert BadOpField(F_OUT, op.out);
        if (op.a >= op.out) revert BadOpField(F_A, op.a);
        if (hasB(op)) {
            if (op.b >= op.out) revert BadOpField(F_B, op.b);
        } else if (op.b != NONE) {
            revert BadOpField(F_B, op.b);
        }
        validateShape(op);
        _unusedZero(op);
        validateV5(op);
    }

    /// @notice The shape rules of `validate` (also run by the step verifier, which must never
    /// divide by 0): flags, output shape, K, requant / qadd and im2col fields.
    function validateShape(Op memory op) internal pure {
        uint8 c = op.opcode;
        if (c < MATMUL || c > LAST_OPCODE) revert BadOpField(F_OPCODE, c);
        if (op.flags & ~_allowedFlags(c) != 0) revert BadOpField(F_FLAGS, op.flags);
        if (op.M == 0) revert BadOpField(F_M, op.M);
        if (op.N == 0 || op.N % 32 != 0) revert BadOpField(F_N, op.N);
        if (c == REDUCE && op.N != 32) revert BadOpField(F_N, op.N);
        if (uint256(op.M) * op.N > MAX_TENSOR_ELEMS) revert BadOpField(F_M, op.M);
        if (c == MATMUL || c == REDUCE) {
            if (op.K == 0 || op.K % 32 != 0 || op.K > MAX_K) revert BadOpField(F_K, op.K);
        } else if (c == GMAX || c == GSUM) {
            // K is the group count G; the input [M, G*N] is a tensor within the size limit
            if (op.K == 0 || op.K > MAX_GROUP) revert BadOpField(F_K, op.K);
            if (uint256(op.M) * op.K * op.N > MAX_TENSOR_ELEMS) revert BadOpField(F_K, op.K);
        } else if (c == GATHER) {
            if (op.K == 0) revert BadOpField(F_K, 0);
            if (uint256(op.K) * op.N > MAX_TENSOR_ELEMS) revert BadOpField(F_K, op.K);
        } else if (c == WRITE) {
            if (op.K == 0) revert BadOpField(F_K, 0);
        } else if (c == ROWOP && (op.kind == NORM || op.kind == RMSNORM)) {
            if (op.K == 0 || op.K > MAX_K) revert BadOpField(F_K, op.K);
        } else if (op.K != 0) {
            revert BadOpField(F_K, op.K);
        } else if (c == TRANSPOSE && op.M % 32 != 0) {
            // a is read as [N, M]: its rows are whole leaves
            revert BadOpField(F_M, op.M);
        }
        if (c == REQUANT) {
            if (op.shift < 1 || op.shift > 62) revert BadOpField(F_SHIFT, op.shift);
            if (op.lo > op.hi) revert BadOpField(F_CLAMP, uint8(op.lo));
            if (op.flags & 4 != 0) {
                if (op.mult != 0) revert BadOpField(F_MULT, op.mult);
            } else if (op.mult == 0 || op.mult >= 2 ** 31) {
                revert BadOpField(F_MULT, op.mult);
            }
        } else if (c == QADD) {
            if (op.shift < 1 || op.shift > 62) revert BadOpField(F_SHIFT, op.shift);
            if (op.lo > op.hi) revert BadOpField(F_CLAMP, uint8(op.lo));
            if (op.mult == 0 || op.mult >= 2 ** 31) revert BadOpField(F_MULT, op.mult);
            if (op.mult2 == 0 || op.mult2 >= 2 ** 31) revert BadOpField(F_MULT2, op.mult2);
        } else if (c == ROWOP) {
            if (op.shift > (op.kind == SUB ? 0 : MAX_ROW_SHIFT)) revert BadOpField(F_SHIFT, op.shift);
            if (op.lo > op.hi) revert BadOpField(F_CLAMP, uint8(op.lo));
            if (op.mult != 0) revert BadOpField(F_MULT, op.mult);
            if (op.zp != 0) revert BadOpField(F_ZP, uint8(op.zp));
        } else if (c == UPDATE) {
            if (op.shift < 1 || op.shift > MAX_UPDATE_SHIFT) revert BadOpField(F_SHIFT, op.shift);
            if (op.lo > op.hi) revert BadOpField(F_CLAMP, uint8(op.lo));
            if (op.mult == 0 || op.mult >= 2 ** 31) revert BadOpField(F_MULT, op.mult);
            if (op.zp != 0) revert BadOpField(F_ZP, uint8(op.zp));
        } else if (c == IM2COL) {
            _validateIm2col(op);
        }
    }

    /// @dev Allowed flag bits: add 2 (broadcast), requant 4 (per-channel), relu 1 (int32);
    /// v5: write 1|16 (int32, columns), reduce 1|8 (int32, mask), rowop 8 (mask), mul 2 (broadcast);
    /// v6: update 1 (int32 masters).
    function _allowedFlags(uint8 c) private pure returns (uint256) {
        if (c == ADD || c == MUL) return FLAG_BROADCAST;
        if (c == REQUANT) return 4;
        if (c == RELU) return FLAG_INT32;
        if (c == WRITE) return FLAG_INT32 | FLAG_COLUMNS;
        if (c == REDUCE) return FLAG_INT32 | FLAG_MASK;
        if (c == ROWOP) return FLAG_MASK;
        if (c == UPDATE) return FLAG_INT32;
        return 0;
    }

    /// @notice Rule 15 (v5): `kind` within the opcode's kinds, then `pos` and `period` (the causal
    /// mask; write's block, whose every output leaf reads one `b` leaf). Also run by the step
    /// verifier: a mask's `period` is never 0 there.
    function validateV5(Op memory op) internal pure {
        uint8 c = op.opcode;
        bool kindOk;
        if (c == REDUCE) kindOk = op.kind >= (op.flags & FLAG_INT32 != 0 ? RMAX : MOMENTS) && op.kind <= ARGMAX;
        else if (c == ROWOP) kindOk = op.kind >= SUB && op.kind <= RMSNORM;
        else kindOk = op.kind == 0;
        if (!kindOk) revert BadOpField(F_KIND, op.kind);
        if ((c == REDUCE || c == ROWOP) && op.flags & FLAG_MASK != 0) {
            if (op.period == 0) revert BadOpField(F_PERIOD, 0);
            return;
        }
        if (c == UPDATE) return; // v6: pos = the step, period = the seed, any uint32
        if (c == WRITE) {
            bool fits = op.flags & FLAG_COLUMNS != 0
                ? uint256(op.pos) + op.K <= op.N && (op.pos % 32 == 0 || op.K <= 32)
                : uint256(op.pos) + op.K <= op.M;
            if (!fits) revert BadOpField(F_POS, op.pos);
        } else if (op.pos != 0) {
            revert BadOpField(F_POS, op.pos);
        }
        if (op.period != 0) revert BadOpField(F_PERIOD, op.period);
    }

    /// @notice `n` rounded up to a multiple of 32 (write's column block `b`).
    function ceil32(uint256 n) internal pure returns (uint256) {
        return (n + 31) / 32 * 32;
    }

    function _validateIm2col(Op memory op) private pure {
        if (op.C == 0 || op.C % 32 != 0) revert BadOpField(F_C, op.C);
        if (op.B == 0) revert BadOpField(F_IM2COL, 0);
        if (op.H == 0) revert BadOpField(F_H, 0);
        if (op.W == 0) revert BadOpField(F_W, 0);
        if (op.KH == 0) revert BadOpField(F_KH, 0);
        if (op.KW == 0) revert BadOpField(F_KW, 0);
        if (op.S == 0) revert BadOpField(F_S, 0);
        // the kernel fits the padded image (OH, OW >= 1)
        if (uint256(op.H) + 2 * uint256(op.P) < op.KH) revert BadOpField(F_KH, op.KH);
        if (uint256(op.W) + 2 * uint256(op.P) < op.KW) revert BadOpField(F_KW, op.KW);
        (uint256 oh, uint256 ow) = outHW(op);
        if (uint256(op.M) != uint256(op.B) * oh * ow) revert BadOpField(F_M, op.M);
        if (uint256(op.N) != uint256(op.KH) * op.KW * op.C) revert BadOpField(F_N, op.N);
    }

    /// @dev Fields the opcode does not use are zero (one op, one encoding), in encoding order;
    /// signed fields are reported as their byte. K and a per-channel `mult` are checked above.
    function _unusedZero(Op memory op) private pure {
        uint8 c = op.opcode;
        if (c != REQUANT && c != QADD && c != ROWOP && c != UPDATE) {
            if (op.mult != 0) revert BadOpField(F_MULT, op.mult);
            if (op.shift != 0) revert BadOpField(F_SHIFT, op.shift);
            if (op.zp != 0) revert BadOpField(F_ZP, uint8(op.zp));
            if (op.lo != 0) revert BadOpField(F_CLAMP, uint8(op.lo));
            if (op.hi != 0) revert BadOpField(F_HI, uint8(op.hi));
        }
        if (c != IM2COL) {
            if (op.B != 0) revert BadOpField(F_IM2COL, op.B);
            if (op.H != 0) revert BadOpField(F_H, op.H);
            if (op.W != 0) revert BadOpField(F_W, op.W);
            if (op.C != 0) revert BadOpField(F_C, op.C);
            if (op.KH != 0) revert BadOpField(F_KH, op.KH);
            if (op.KW != 0) revert BadOpField(F_KW, op.KW);
            if (op.S != 0) revert BadOpField(F_S, op.S);
            if (op.P != 0) revert BadOpField(F_P, op.P);
            if (op.padv != 0) revert BadOpField(F_PADV, uint8(op.padv));
        }
        if (c != QADD && op.mult2 != 0) revert BadOpField(F_MULT2, op.mult2);
    }

    function outHW(Op memory op) internal pure returns (uint256 oh, uint256 ow) {
        oh = (uint256(op.H) + 2 * uint256(op.P) - op.KH) / op.S + 1;
        ow = (uint256(op.W) + 2 * uint256(op.P) - op.KW) / op.S + 1;
    }

    /// @notice Leaves of the output tensor (`M*N/32`).
    function outLeaves(Op memory op) internal pure returns (uint256) {
        return uint256(op.M) * op.N / 32;
    }

    /// @notice What the op expects of its operands (§4, table rules): `a`'s and `b`'s dtype and
    /// element count (`NO_DTYPE, 0` for no `b`). The one table of opcode -> operands: a new
    /// opcode adds its row here (node/program/validation.py `operand_expectations` is the same).
    function operandSpecs(Op memory op)
        internal
        pure
        returns (uint8 aDtype, uint256 aNumel, uint8 bDtype, uint256 bNumel)
    {
        uint8 c = op.opcode;
        uint256 mn = uint256(op.M) * op.N;
        if (c == MATMUL) return (INT8, uint256(op.M) * op.K, INT8, uint256(op.N) * op.K);
        if (c == ADD) return (INT32, mn, INT32, op.flags & 2 != 0 ? uint256(op.N) : mn);
        if (c == REQUANT) return op.flags & 4 != 0 ? (INT32, mn, INT32, uint256(op.N)) : (INT32, mn, NO_DTYPE, 0);
        if (c == RELU) return (op.flags & 1 != 0 ? INT32 : INT8, mn, NO_DTYPE, 0);
        if (c == LUT) return (INT8, mn, INT8, 256);
        if (c == IM2COL) return (INT8, uint256(op.B) * op.H * op.W * op.C, NO_DTYPE, 0);
        if (c == QADD) return (INT8, mn, INT8, mn);
        if (c == GMAX || c == GSUM) return (INT8, mn * op.K, NO_DTYPE, 0);
        uint8 dt = op.flags & FLAG_INT32 != 0 ? INT32 : INT8; // write, reduce
        if (c == GATHER) return (INT8, uint256(op.K) * op.N, INT32, uint256(op.M) * 32);
        if (c == WRITE) {
            return (dt, mn, dt, op.flags & FLAG_COLUMNS != 0 ? uint256(op.M) * ceil32(op.K) : uint256(op.K) * op.N);
        }
        if (c == REDUCE) return (dt, uint256(op.M) * op.K, NO_DTYPE, 0);
        if (c == ROWOP) return (INT8, mn, INT32, uint256(op.M) * 32);
        if (c == MUL) return (INT8, mn, INT8, op.flags & FLAG_BROADCAST != 0 ? uint256(op.N) : mn);
        if (c == TRANSPOSE) return (INT8, mn, NO_DTYPE, 0);
        if (c == UPDATE) return (dt, mn, INT32, mn);
        revert BadOpField(F_OPCODE, c);
    }

    /// @notice The spec of the slot the op writes (its out spec, §3): dtype and element count.
    function outSpec(Op memory op) internal pure returns (uint8 dtype, uint256 numel) {
        dtype = outLeafBytes(op) == 128 ? INT32 : INT8;
        numel = uint256(op.M) * op.N;
    }

    /// @notice An input slot's spec leaf (§3), checked by rule T1 of §4 in order: reserved bytes
    /// zero, dtype, rows, cols (positive, whole leaves), size. Returns its dtype and element count.
    function inputSpec(uint256 slot, bytes32 leaf) internal pure returns (uint8 dtype, uint256 numel) {
        uint256 w = uint256(leaf);
        uint256 reserved = w & ((uint256(1) << 184) - 1);
        if (reserved != 0) revert BadInputSpec(slot, S_RESERVED, reserved);
        dtype = uint8(w >> 248);
        if (dtype != INT8 && dtype != INT32) revert BadInputSpec(slot, S_DTYPE, dtype);
        uint256 rows = (w >> 216) & 0xFFFFFFFF;
        uint256 cols = (w >> 184) & 0xFFFFFFFF;
        if (rows == 0) revert BadInputSpec(slot, S_ROWS, 0);
        if (cols == 0 || cols % 32 != 0) revert BadInputSpec(slot, S_COLS, cols);
        numel = rows * cols;
        if (numel > MAX_TENSOR_ELEMS) revert BadInputSpec(slot, S_ROWS, rows);
    }

    /// @notice Rule T2 of §4: operand `operand` (1 a, 2 b) in `slot` has the dtype, then the
    /// element count, that the op expects.
    function checkOperand(
        uint8 operand,
        uint256 slot,
        uint8 dtype,
        uint256 numel,
        uint8 wantDtype,
        uint256 wantNumel
    ) internal pure {
        if (dtype != wantDtype || numel != wantNumel) {
            revert OperandMismatch(operand, slot, dtype, numel, wantDtype, wantNumel);
        }
    }

    /// @notice Bytes of one output leaf: 128 for int32 outputs, 32 for int8.
    function outLeafBytes(Op memory op) internal pure returns (uint256) {
        return _outLeafBytes(op.opcode, op.flags);
    }

    function _outLeafBytes(uint8 c, uint8 flags) private pure returns (uint256) {
        if (c == MATMUL || c == ADD || c == GSUM || c == REDUCE || c == MUL) return 128;
        if ((c == RELU || c == WRITE || c == UPDATE) && flags & FLAG_INT32 != 0) return 128;
        return 32;
    }

    /// @notice `decode(enc).outSpec()` without building the struct (a spec source, v7): the same
    /// length and reserved-bytes checks, then dtype and element count from opcode, flags, M, N.
    function outSpecOf(bytes calldata enc) internal pure returns (uint8 dtype, uint256 numel) {
        if (enc.length != 64) revert BadOpLength(enc.length);
        uint256 w0;
        uint256 w1;
        assembly {
            w0 := calldataload(enc.offset)
            w1 := calldataload(add(enc.offset, 32))
        }
        uint256 reserved = w1 & 0xFFFF; // v7: bytes 62..63
        if (reserved != 0) revert BadOpField(F_RESERVED, reserved);
        dtype = _outLeafBytes(uint8(w0 >> 248), uint8(w0 >> 240)) == 128 ? INT32 : INT8;
        numel = ((w0 >> 160) & 0xFFFFFFFF) * ((w0 >> 96) & 0xFFFFFFFF);
    }
}
