// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Toolchain probe: the protocol hash is SHA-256, computed on-chain by precompile 0x02.
/// The toolchain test checks it against hashlib on both the embedded chain and anvil.
contract Sha256Probe {
    function sha(bytes calldata d) external pure returns (bytes32) {
        return sha256(d);
    }
}
