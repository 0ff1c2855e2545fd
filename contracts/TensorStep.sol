// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStepVerifier} from "./interfaces/IStepVerifier.sol";
import {StepData} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {Op, OpCodec} from "./lib/OpCodec.sol";
import {Leaf} from "./lib/Leaf.sol";
import {TransformerOps} from "./lib/TransformerOps.sol";
import {
    BadProof, ProofLength, OperandLength, NotElementwise, NotReduction, IndexOutOfRange
} from "./lib/Errors.sol";

/// @title TensorStep: one-step semantics of matmul (one chunk), add, requant, relu, lut, im2col,
/// qadd, gmax, gsum
/// @notice Stateless. The pure `computeLeaf` / `computeChunk` are the semantics alone (checked
/// against tests/vectors); `leafStep` / `chunkStep` add the operand Merkle proofs.
contract TensorStep is IStepVerifier {
    using OpCodec for Op;

    uint8 internal constant OPERAND_A = 1;
    uint8 internal constant OPERAND_B = 2;

    /// @inheritdoc IStepVerifier
    function leafStep(StepData calldata d, uint256 leafIndex) external view returns (bytes32) {
        Op memory op = OpCodec.decode(d.op);
        op.validateShape();
        op.validateV5();
        if (leafIndex >= op.outLeaves()) {
            return sha256(new bytes(op.outLeafBytes()));
        }
        if (_isReduction(op.opcode)) revert NotElementwise(op.opcode, leafIndex);
        _checkLeafOperands(d, op, leafIndex);
        return sha256(_compute(op, leafIndex, d.aLeaf, d.bLeaf));
    }

    function _checkLeafOperands(StepData calldata d, Op memory op, uint256 leafIndex) private view {
        if (op.opcode == OpCodec.GMAX || op.opcode == OpCodec.GSUM) {
            _checkGroup(d, op, leafIndex);
            return;
        }
        if (op.opcode == OpCodec.GATHER) {
            // the id first (leaf m of b), then the table leaf it names (§5)
            _checkLeaf(OPERAND_B, d, 128, 32 * leafIndex / op.N, op.M);
            _checkLeaf(OPERAND_A, d, 32, gatherSource(op, leafIndex, d.bLeaf), uint256(op.K) * op.N / 32);
            return;
        }
        Operands memory r = _operands(op, leafIndex);
        if (r.useA) {
            _checkLeaf(OPERAND_A, d, _aLeafBytes(op), r.aIdx, r.aLeaves);
        } else if (d.aLeaf.length != 0) {
            revert OperandLength(OPERAND_A, d.aLeaf.length, 0);
        }
        if (r.useB) {
            if (op.opcode == OpCodec.LUT) {
                _checkTable(d.bLeaf, d.bProof, d.bRoot);
            } else {
                _checkLeaf(OPERAND_B, d, _bLeafBytes(op), r.bIdx, r.bLeaves);
            }
        } else if (d.bLeaf.length != 0) {
            if (op.opcode == OpCodec.WRITE) revert OperandLength(OPERAND_B, d.bLeaf.length, 0);
        }
    }

    function _isReduction(uint8 c) private pure returns (bool) {
        return c == OpCodec.MATMUL || c == OpCodec.REDUCE;
    }

    function _bLeafBytes(Op memory op) private pure returns (uint256) {
        uint8 c = op.opcode;
        if (c == OpCodec.QADD || c == OpCodec.MUL) return 32;
        if (c == OpCodec.WRITE) return op.flags & OpCodec.FLAG_INT32 != 0 ? 128 : 32;
        return 128; // add, requant per-channel, rowop
    }

    /// @notice The table leaf a gather output leaf copies (§5): row `id mod V` of the table, `id`
    /// the first int32 of the ids leaf.
    function gatherSource(Op memory op, uint256 j, bytes calldata idsLeaf) internal pure returns (uint256) {
        int256 id = Leaf.i32At(idsLeaf, 0);
        int256 v = int256(uint256(op.K));
        uint256 row = uint256(((id % v) + v) % v);
        return (row * op.N + 32 * j % op.N) / 32;
    }

    /// @inheritdoc IStepVerifier
    function chunkStep(StepData calldata d, uint256 leafIndex, uint256 elem, uint256 chunk, int256 prev)
        external
        view
        returns (int256)
    {
        Op memory op = OpCodec.decode(d.op);
        op.validateShape();
        op.validateV5();
        if (!_isReduction(op.opcode)) revert NotReduction(op.opcode);
        if (elem >= 32) revert IndexOutOfRange(elem, 32);
        if (chunk >= op.K / 32) revert IndexOutOfRange(chunk, op.K / 32);
        if (leafIndex >= op.outLeaves()) revert IndexOutOfRange(leafIndex, op.outLeaves());
        if (op.opcode == OpCodec.REDUCE) {
            // one leaf of row `leafIndex` (the output is [M, 32]: leaf m is row m); no b
            uint256 kLeaves = uint256(op.K) / 32;
            uint256 bytes_ = op.flags & OpCodec.FLAG_INT32 != 0 ? 128 : 32;
            _checkLeaf(OPERAND_A, d, bytes_, leafIndex * kLeaves + chunk, uint256(op.M) * kLeaves);
            if (d.bLeaf.length != 0) revert OperandLength(OPERAND_B, d.bLeaf.length, 0);
            return TransformerOps.reduceChunk(op, leafIndex, elem, chunk, d.aLeaf, prev);
        }
        _checkChunkOperands(d, op, leafIndex * 32 + elem, chunk);
        return prev + Leaf.dot8(d.aLeaf, d.bLeaf);
    }

    /// @notice One reduce chunk without proofs (§5): P_{c+1} from P_c = `prev` (the kind's start
    /// at chunk 0), or the element at the last chunk.
    function computeReduceChunk(bytes calldata op, uint256 row, uint256 elem, uint256 chunk, bytes calldata aLeaf, int256 prev)
        external
        pure
        returns (int256)
    {
        Op memory o = OpCodec.decode(op);
        o.validateShape();
        o.validateV5();
        if (o.opcode != OpCodec.REDUCE) revert NotReduction(o.opcode);
        if (chunk >= o.K / 32) revert IndexOutOfRange(chunk, o.K / 32);
        if (row >= o.M) revert IndexOutOfRange(row, o.M);
        _len(OPERAND_A, aLeaf, o.flags & OpCodec.FLAG_INT32 != 0 ? 128 : 32);
        return TransformerOps.reduceChunk(o, row, elem, chunk, aLeaf, prev);
    }

    // ------------------------------------------------------------------ pure semantics (§4, §5)

    /// @notice Output leaf `leafIndex` of an elementwise op from its operand leaves (no proofs).
    /// `aLeaf` is empty for an im2col padded position; `bLeaf` is the b leaf, the lut table, or empty.
    function computeLeaf(bytes calldata op, uint256 leafIndex, bytes calldata aLeaf, bytes calldata bLeaf)
        external
        pure
        returns (bytes memory)
    {
        Op memory o = OpCodec.decode(op);
        o.validateShape();
        o.validateV5();
        if (leafIndex >= o.outLeaves()) return new bytes(o.outLeafBytes());
        if (_isReduction(o.opcode)) revert NotElementwise(o.opcode, leafIndex);
        return _compute(o, leafIndex, aLeaf, bLeaf);
    }

    /// @notice `prev + dot(aLeaf, wLeaf)` over 32 int8 pairs.
    function computeChunk(bytes calldata aLeaf, bytes calldata wLeaf, int256 prev) external pure returns (int256) {
        if (aLeaf.length != 32) revert OperandLength(OPERAND_A, aLeaf.length, 32);
        if (wLeaf.length != 32) revert OperandLength(OPERAND_B, wLeaf.length, 32);
        return prev + Leaf.dot8(aLeaf, wLeaf);
    }

    /// @notice The operand leaves an elementwise output leaf reads (§5): (useA, aIndex, useB, bIndex).
    function leafOperands(bytes calldata op, uint256 leafIndex)
        external
        pure
        returns (bool useA, uint256 aIndex, bool useB, uint256 bIndex)
    {
        Op memory o = OpCodec.decode(op);
        o.validateShape();
        Operands memory r = _operands(o, leafIndex);
        (useA, aIndex, useB, bIndex) = (r.useA, r.aIdx, r.useB, r.bIdx);
    }

    /// @notice The A and W leaves read by chunk `chunk` of element `elem` of output leaf `leafIndex`.
    function chunkOperands(bytes calldata op, uint256 leafIndex, uint256 elem, uint256 chunk)
        public
        pure
        returns (uint256 aIndex, uint256 wIndex)
    {
        Op memory o = OpCodec.decode(op);
        uint256 f = 32 * leafIndex + elem;
        uint256 m = f / o.N;
        uint256 n = f % o.N;
        uint256 kLeaves = uint256(o.K) / 32;
        aIndex = m * kLeaves + chunk;
        wIndex = n * kLeaves + chunk;
    }

    // ------------------------------------------------------------------ internals

    function _aLeafBytes(Op memory op) private pure returns (uint256) {
        uint8 c = op.opcode;
        if (c == OpCodec.ADD || c == OpCodec.REQUANT || (c == OpCodec.RELU && op.flags & 1 != 0)) return 128;
        if (c == OpCodec.WRITE && op.flags & OpCodec.FLAG_INT32 != 0) return 128;
        // qadd: 32 (gmax / gsum read G leaves, _checkGroup)
        return 32;
    }

    struct Operands {
        bool useA;
        uint256 aIdx;
        uint256 aLeaves;
        bool useB;
        uint256 bIdx;
        uint256 bLeaves;
    }

    function _operands(Op memory op, uint256 j) private pure returns (Operands memory r) {
        uint256 nLeaves = op.outLeaves();
        if (j >= nLeaves) return r;
        uint8 c = op.opcode;
        if (c == OpCodec.GMAX || c == OpCodec.GSUM) {
            // the first of the G leaves (groupOperands gives them all)
            r.useA = true;
            (r.aIdx,) = groupOperands(op, j);
            r.aLeaves = uint256(op.M) * op.K * op.N / 32;
            return r;
        }
        if (c == OpCodec.GATHER) {
            // b: the ids leaf of row m; the table leaf follows from its value (gatherSource)
            r.useB = true;
            r.bIdx = 32 * j / op.N;
            r.bLeaves = op.M;
            return r;
        }
        if (c == OpCodec.IM2COL) {
            (r.useA, r.aIdx) = _im2colSource(op, j);
            r.aLeaves = uint256(op.B) * op.H * op.W * op.C / 32;
            return r;
        }
        uint256 rowLeaves = uint256(op.N) / 32;
        r.useA = true;
        r.aIdx = j;
        r.aLeaves = nLeaves;
        if (c == OpCodec.ADD) {
            r.useB = true;
            bool bcast = op.flags & 2 != 0;
            r.bIdx = bcast ? j % rowLeaves : j;
            r.bLeaves = bcast ? rowLeaves : nLeaves;
        } else if (c == OpCodec.REQUANT && op.flags & 4 != 0) {
            r.useB = true;
            r.bIdx = j % rowLeaves;
            r.bLeaves = rowLeaves;
        } else if (c == OpCodec.LUT) {
            r.useB = true;
            r.bLeaves = 8;
        } else if (c == OpCodec.QADD) {
            r.useB = true;
            r.bIdx = j;
            r.bLeaves = nLeaves;
        } else if (c == OpCodec.MUL) {
            r.useB = true;
            bool bcast = op.flags & OpCodec.FLAG_BROADCAST != 0;
            r.bIdx = bcast ? j % rowLeaves : j;
            r.bLeaves = bcast ? rowLeaves : nLeaves;
        } else if (c == OpCodec.ROWOP) {
            r.useB = true;
            r.bIdx = j / rowLeaves;
            r.bLeaves = op.M;
        } else if (c == OpCodec.WRITE) {
            (r.useB, r.bIdx, r.bLeaves) = TransformerOps.writeSource(op, j);
        }
    }

    /// @notice The G input leaves a gmax / gsum output leaf reads (§5), increasing:
    /// `first + g * stride` for g < G.
    function groupOperands(Op memory op, uint256 j) internal pure returns (uint256 first, uint256 stride) {
        uint256 f = 32 * j;
        uint256 m = f / op.N;
        first = (m * op.K * op.N + f % op.N) / 32;
        stride = uint256(op.N) / 32;
    }

    /// @dev gmax / gsum: `aLeaf` holds the G leaves concatenated and `aProof` their one
    /// multiproof (§5): level by level from the leaves up, known nodes in increasing index, a
    /// node whose sibling is known is hashed with it, otherwise the next proof element is its
    /// sibling. The proof must be used up exactly and end at `aRoot`.
    function _checkGroup(StepData calldata d, Op memory op, uint256 j) private view {
        uint256 g = op.K;
        if (d.aLeaf.length != 32 * g) revert OperandLength(OPERAND_A, d.aLeaf.length, 32 * g);
        if (d.bLeaf.length != 0) revert OperandLength(OPERAND_B, d.bLeaf.length, 0);
        (uint256 first, uint256 stride) = groupOperands(op, j);
        uint256 depth = Merkle.ceilLog2(uint256(op.M) * g * op.N / 32);
        (bytes32 root, uint256 used) = _multiRoot(d.aLeaf, first, stride, depth, d.aProof);
        if (used != d.aProof.length) revert ProofLength(OPERAND_A, d.aProof.length, used);
        if (root != d.aRoot) revert BadProof(OPERAND_A, root, d.aRoot);
    }

    /// @dev The root from the 32-byte leaves `leaves` at `first + k*stride` (k = 0, 1, ...) and
    /// the multiproof `proof` (§5), and the number of proof elements the indices need (`used`;
    /// the caller requires it to be `proof.length`: a short proof reads zero siblings past its
    /// end and fails that check). In assembly: (index, node) word pairs past the free memory
    /// pointer, rewritten in place level by level, and the sha256 precompile on scratch space.
    function _multiRoot(bytes calldata leaves, uint256 first, uint256 stride, uint256 depth, bytes32[] calldata proof)
        private
        view
        returns (bytes32 root, uint256 used)
    {
        assembly ("memory-safe") {
            let base := mload(0x40)
            let count := shr(5, leaves.length)
            for { let k := 0 } lt(k, count) { k := add(k, 1) } {
                let e := add(base, shl(6, k))
                mstore(e, add(first, mul(k, stride)))
                mstore(0x00, calldataload(add(leaves.offset, shl(5, k))))
                if iszero(staticcall(gas(), 0x02, 0x00, 0x20, add(e, 0x20), 0x20)) { revert(0, 0) }
            }
            for { let l := 0 } lt(l, depth) { l := add(l, 1) } {
                let w := 0
                for { let k := 0 } lt(k, count) {} {
                    let e := add(base, shl(6, k))
                    let i := mload(e)
                    switch and(iszero(and(i, 1)), and(lt(add(k, 1), count), eq(mload(add(e, 0x40)), add(i, 1))))
                    case 1 {
                        // its sibling is known: hash the two
                        mstore(0x00, mload(add(e, 0x20)))
                        mstore(0x20, mload(add(e, 0x60)))
                        k := add(k, 2)
                    }
                    default {
                        let sib := 0
                        if lt(used, proof.length) { sib := calldataload(add(proof.offset, shl(5, used))) }
                        used := add(used, 1)
                        switch and(i, 1)
                        case 1 {
                            mstore(0x00, sib)
                            mstore(0x20, mload(add(e, 0x20)))
                        }
                        default {
                            mstore(0x00, mload(add(e, 0x20)))
                            mstore(0x20, sib)
                        }
                        k := add(k, 1)
                    }
                    let o := add(base, shl(6, w))
                    mstore(o, shr(1, i))
                    if iszero(staticcall(gas(), 0x02, 0x00, 0x40, add(o, 0x20), 0x20)) { revert(0, 0) }
                    w := add(w, 1)
                }
                count := w
            }
            root := mload(add(base, 0x20))
        }
    }

    /// @dev im2col: the input leaf copied to output leaf j, or (false, 0) for a padded position.
    function _im2colSource(Op memory op, uint256 j) private pure returns (bool, uint256) {
        (uint256 oh, uint256 ow) = op.outHW();
        uint256 r = 32 * j / op.N; // output row = (b*OH + oy)*OW + ox
        uint256 col = 32 * j % op.N; // = (ky*KW + kx)*C + c0
        // iy = oy*S - P + ky, ix = ox*S - P + kx, kept non-negative by adding P
        uint256 iyP = ((r / ow) % oh) * op.S + (col / op.C) / op.KW;
        uint256 ixP = (r % ow) * op.S + (col / op.C) % op.KW;
        if (iyP < op.P || ixP < op.P || iyP - op.P >= op.H || ixP - op.P >= op.W) return (false, 0);
        uint256 pix = ((r / ow / oh) * op.H + (iyP - op.P)) * op.W + (ixP - op.P);
        return (true, (pix * op.C + col % op.C) / 32);
    }

    function _checkChunkOperands(StepData calldata d, Op memory op, uint256 f, uint256 chunk) private view {
        uint256 kLeaves = uint256(op.K) / 32;
        _checkLeaf(OPERAND_A, d, 32, (f / op.N) * kLeaves + chunk, uint256(op.M) * kLeaves);
        _checkLeaf(OPERAND_B, d, 32, (f % op.N) * kLeaves + chunk, uint256(op.N) * kLeaves);
    }

    function _checkLeaf(uint8 which, StepData calldata d, uint256 leafBytes, uint256 index, uint256 nLeaves)
        private
        view
    {
        bytes calldata leaf = which == OPERAND_A ? d.aLeaf : d.bLeaf;
        bytes32[] calldata proof = which == OPERAND_A ? d.aProof : d.bProof;
        bytes32 root = which == OPERAND_A ? d.aRoot : d.bRoot;
        if (leaf.length != leafBytes) revert OperandLength(which, leaf.length, leafBytes);
        uint256 depth = Merkle.ceilLog2(nLeaves);
        if (proof.length != depth) revert ProofLength(which, proof.length, depth);
        bytes32 got = Merkle.rootFrom(sha256(leaf), index, proof);
        if (got != root) revert BadProof(which, got, root);
    }

    function _checkTable(bytes calldata table, bytes32[] calldata proof, bytes32 root) private view {
        if (table.length != 256) revert OperandLength(OPERAND_B, table.length, 256);
        if (proof.length != 0) revert ProofLength(OPERAND_B, proof.length, 0);
        bytes32[] memory level = new bytes32[](8);
        for (uint256 i; i < 8; ++i) {
            level[i] = sha256(table[32 * i:32 * i + 32]);
        }
        bytes32 got = Merkle.rootOfLevel(level);
        if (got != root) revert BadProof(OPERAND_B, got, root);
    }

    function _compute(Op memory op, uint256 j, bytes calldata aLeaf, bytes calldata bLeaf)
        private
        pure
        returns (bytes memory)
    {
        uint8 c = op.opcode;
        if (c == OpCodec.IM2COL) return _im2col(op, j, aLeaf);
        if (c == OpCodec.ADD) return _add(aLeaf, bLeaf);
        if (c == OpCodec.REQUANT) return _requant(op, aLeaf, bLeaf);
        if (c == OpCodec.RELU) return op.flags & 1 != 0 ? _relu32(aLeaf) : _relu8(aLeaf);
        if (c == OpCodec.QADD) return _qadd(op, aLeaf, bLeaf);
        if (c == OpCodec.GMAX) return _gmax(op, aLeaf);
        if (c == OpCodec.GSUM) return _gsum(op, aLeaf);
        if (c == OpCodec.GATHER) {
            _len(OPERAND_B, bLeaf, 128);
            _len(OPERAND_A, aLeaf, 32);
            return aLeaf;
        }
        if (c == OpCodec.WRITE) return TransformerOps.write(op, j, aLeaf, bLeaf);
        if (c == OpCodec.ROWOP) return TransformerOps.rowop(op, j, aLeaf, bLeaf);
        if (c == OpCodec.MUL) return TransformerOps.mul(aLeaf, bLeaf);
        return _lut(aLeaf, bLeaf);
    }

    function _im2col(Op memory op, uint256 j, bytes calldata aLeaf) private pure returns (bytes memory out) {
        (bool inside,) = _im2colSource(op, j);
        if (!inside) {
            if (aLeaf.length != 0) revert OperandLength(OPERAND_A, aLeaf.length, 0);
            out = new bytes(32);
            for (uint256 t; t < 32; ++t) Leaf.setI8(out, t, op.padv);
            return out;
        }
        _len(OPERAND_A, aLeaf, 32);
        return aLeaf;
    }

    function _add(bytes calldata aLeaf, bytes calldata bLeaf) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 128);
        _len(OPERAND_B, bLeaf, 128);
        out = new bytes(128);
        for (uint256 t; t < 32; ++t) {
            Leaf.setI32(out, t, Leaf.i32At(aLeaf, t) + Leaf.i32At(bLeaf, t)); // setI32 wraps mod 2^32
        }
    }

    function _requant(Op memory op, bytes calldata aLeaf, bytes calldata bLeaf) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 128);
        bool perChannel = op.flags & 4 != 0;
        if (perChannel) _len(OPERAND_B, bLeaf, 128);
        out = new bytes(32);
        // Any int32 multiplier is defined (§4): a per-channel `b` may be computed by an earlier
        // op, so a step must exist whatever its entries are (docs/protocol.md §4, validation).
        for (uint256 t; t < 32; ++t) {
            int256 m = perChannel ? Leaf.i32At(bLeaf, t) : int256(uint256(op.mult));
            Leaf.setI8(out, t, _rq(Leaf.i32At(aLeaf, t) * m, op));
        }
    }

    /// @dev clamp(((x*mult + 2^(shift-1)) >> shift) + zp, lo, hi), >> arithmetic (floor).
    function _rq(int256 prod, Op memory op) private pure returns (int8) {
        int256 y = ((prod + (int256(1) << (op.shift - 1))) >> op.shift) + op.zp;
        if (y < op.lo) return op.lo;
        if (y > op.hi) return op.hi;
        return int8(y);
    }

    function _qadd(Op memory op, bytes calldata aLeaf, bytes calldata bLeaf) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 32);
        _len(OPERAND_B, bLeaf, 32);
        out = new bytes(32);
        int256 ma = int256(uint256(op.mult));
        int256 mb = int256(uint256(op.mult2));
        for (uint256 t; t < 32; ++t) {
            // exact: |x*mult + y*mult2| < 2^40
            Leaf.setI8(out, t, _rq(Leaf.i8At(aLeaf, t) * ma + Leaf.i8At(bLeaf, t) * mb, op));
        }
    }

    // SWAR over the G leaves of a gmax / gsum step: each int8 is made unsigned (x + 128, a flip of
    // its top bit), and the even and odd bytes of a word are spread into two words of 16-bit lanes
    // (LANES), so 16 elements are compared or added per word operation without crossing lanes:
    // a lane holds at most 255 (max) or 64 * 255 < 2^16 (sum).
    uint256 private constant SIGN = 0x8080808080808080808080808080808080808080808080808080808080808080;
    uint256 private constant LANES = 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
    uint256 private constant LANE_TOP = 0x8000800080008000800080008000800080008000800080008000800080008000;

    function _groupWord(bytes calldata aLeaf, uint256 k) private pure returns (uint256 w) {
        assembly {
            w := xor(calldataload(add(aLeaf.offset, mul(k, 32))), SIGN)
        }
    }

    /// @dev lane-wise max of two words of 16-bit lanes holding values < 2^15
    function _laneMax(uint256 a, uint256 b) private pure returns (uint256) {
        unchecked {
            // bit 15 of a lane of (a | TOP) - b is set iff a >= b; no borrow crosses a lane
            uint256 ge = (((a | LANE_TOP) - b) & LANE_TOP) >> 15;
            uint256 mask = ge * 0xffff;
            return (a & mask) | (b & ~mask);
        }
    }

    function _gmax(Op memory op, bytes calldata aLeaf) private pure returns (bytes memory out) {
        uint256 g = op.K;
        _len(OPERAND_A, aLeaf, 32 * g);
        uint256 w = _groupWord(aLeaf, 0);
        uint256 even = w & LANES;
        uint256 odd = (w >> 8) & LANES;
        for (uint256 k = 1; k < g; ++k) {
            w = _groupWord(aLeaf, k);
            even = _laneMax(even, w & LANES);
            odd = _laneMax(odd, (w >> 8) & LANES);
        }
        uint256 r = (even | (odd << 8)) ^ SIGN;
        out = new bytes(32);
        assembly {
            mstore(add(out, 32), r)
        }
    }

    function _gsum(Op memory op, bytes calldata aLeaf) private pure returns (bytes memory out) {
        uint256 g = op.K;
        _len(OPERAND_A, aLeaf, 32 * g);
        uint256 even;
        uint256 odd;
        unchecked {
            for (uint256 k; k < g; ++k) {
                uint256 w = _groupWord(aLeaf, k);
                even += w & LANES;
                odd += (w >> 8) & LANES;
            }
        }
        out = new bytes(128);
        int256 bias = int256(128 * g); // each element was read as x + 128
        for (uint256 t; t < 32; ++t) {
            // byte t of a word sits at bit 8*(31-t): an even-lane byte when 31-t is even
            uint256 sh = 8 * (31 - t);
            uint256 lane = (31 - t) % 2 == 0 ? (even >> sh) & 0xffff : (odd >> (sh - 8)) & 0xffff;
            Leaf.setI32(out, t, int256(lane) - bias);
        }
    }

    function _relu32(bytes calldata aLeaf) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 128);
        out = new bytes(128);
        for (uint256 t; t < 32; ++t) {
            int256 x = Leaf.i32At(aLeaf, t);
            Leaf.setI32(out, t, x > 0 ? x : int256(0));
        }
    }

    function _relu8(bytes calldata aLeaf) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 32);
        out = new bytes(32);
        for (uint256 t; t < 32; ++t) {
            int256 x = Leaf.i8At(aLeaf, t);
            Leaf.setI8(out, t, int8(x > 0 ? x : int256(0)));
        }
    }

    function _lut(bytes calldata aLeaf, bytes calldata table) private pure returns (bytes memory out) {
        _len(OPERAND_A, aLeaf, 32);
        _len(OPERAND_B, table, 256);
        out = new bytes(32);
        for (uint256 t; t < 32; ++t) {
            out[t] = table[uint256(Leaf.i8At(aLeaf, t) + 128)];
        }
    }

    function _len(uint8 which, bytes calldata leaf, uint256 want) private pure {
        if (leaf.length != want) revert OperandLength(which, leaf.length, want);
    }
}
