// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Reentrancy} from "./Errors.sol";

/// @title ReentrancyGuard (own, no external library)
abstract contract ReentrancyGuard {
    uint256 private _entered = 1;

    modifier nonReentrant() {
        if (_entered != 1) revert Reentrancy();
        _entered = 2;
        _;
        _entered = 1;
    }
}
