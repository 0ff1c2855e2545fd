// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenCore} from "./TokenCore.sol";

/// @notice Test and devnet only: a plain 6-decimal stablecoin ("mUSD"), mintable by anyone.
contract MockStablecoin is TokenCore {
    constructor() TokenCore("Mock USD", "mUSD", 6) {}

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}
