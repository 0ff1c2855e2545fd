// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Op, OpCodec} from "../lib/OpCodec.sol";

/// @notice Test only: exposes the op decoder and validator to the validation vectors
/// (tests/vectors/validation.json), exactly as `DisputeGame.openOp` runs them.
contract OpCodecProbe {
    using OpCodec for Op;

    /// @notice Decodes and validates op `index` of a program with `nInputs` inputs; reverts with
    /// the first rule it breaks, returns the opcode otherwise.
    function validate(bytes calldata enc, uint256 nInputs, uint256 index) external pure returns (uint8) {
        Op memory op = OpCodec.decode(enc);
        op.validate(nInputs, index);
        return op.opcode;
    }

    /// @notice Op `index` as `DisputeGame.openOp` checks it once the proofs hold: the op rules, then
    /// the table rules of its operands, whose spec sources are given (an input's 32-byte spec leaf
    /// for a slot below `nInputs`, else the 64-byte op that writes the slot; `bSrc` unused when the
    /// op reads no b). Reverts with the first rule broken, returns the opcode otherwise.
    function checkOpening(bytes calldata enc, uint256 nInputs, uint256 index, bytes calldata aSrc, bytes calldata bSrc)
        external
        pure
        returns (uint8)
    {
        Op memory op = OpCodec.decode(enc);
        op.validate(nInputs, index);
        (uint8 aDtype, uint256 aNumel, uint8 bDtype, uint256 bNumel) = op.operandSpecs();
        (uint8 dtype, uint256 numel) = _spec(op.a, nInputs, aSrc);
        OpCodec.checkOperand(1, op.a, dtype, numel, aDtype, aNumel);
        if (op.hasB()) {
            (dtype, numel) = _spec(op.b, nInputs, bSrc);
            OpCodec.checkOperand(2, op.b, dtype, numel, bDtype, bNumel);
        }
        return op.opcode;
    }

    function _spec(uint256 slot, uint256 nInputs, bytes calldata src) private pure returns (uint8, uint256) {
        if (slot < nInputs) return OpCodec.inputSpec(slot, bytes32(src));
        return OpCodec.decode(src).outSpec();
    }

    /// @notice The slot ids `decode` reads (v7: 32 bits each) and whether the op reads `b`.
    function slots(bytes calldata enc) external pure returns (uint32 out, uint32 a, uint32 b, bool readsB) {
        Op memory op = OpCodec.decode(enc);
        return (op.out, op.a, op.b, op.hasB());
    }

    /// @notice Gas of decode + validate (for the gas report of validation alone).
    function validateGas(bytes calldata enc, uint256 nInputs, uint256 index) external view returns (uint256 used) {
        uint256 g = gasleft();
        Op memory op = OpCodec.decode(enc);
        op.validate(nInputs, index);
        used = g - gasleft();
    }
}
