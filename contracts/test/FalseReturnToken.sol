// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenCore} from "./TokenCore.sol";

/// @notice Test only: once `failing` is set, `transfer` and `transferFrom` move nothing and
/// return false (tokens that signal failure instead of reverting); `reverting` makes them revert.
contract FalseReturnToken is TokenCore {
    bool public failing;
    bool public reverting;

    constructor() TokenCore("False Token", "FALSE", 18) {}

    function setFailing(bool failing_, bool reverting_) external {
        failing = failing_;
        reverting = reverting_;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (_refuse()) return false;
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (_refuse()) return false;
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _refuse() private view returns (bool) {
        require(!reverting, "token says no");
        return failing;
    }
}
