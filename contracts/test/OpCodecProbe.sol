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

    /// @notice Gas of decode + validate (for the gas report of validation alone).
    function validateGas(bytes calldata enc, uint256 nInputs, uint256 index) external view returns (uint256 used) {
        uint256 g = gasleft();
        Op memory op = OpCodec.decode(enc);
        op.validate(nInputs, index);
        used = g - gasleft();
    }
}
