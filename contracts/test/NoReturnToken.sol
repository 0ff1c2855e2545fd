// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenCore} from "./TokenCore.sol";

/// @notice Test only: a USDT-style token whose `transfer` and `transferFrom` return nothing.
contract NoReturnToken is TokenCore {
    constructor() TokenCore("No Return", "NRT", 6) {}

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }
}
