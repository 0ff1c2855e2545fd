// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenCore} from "./TokenCore.sol";

interface ITokenHook {
    /// @notice Called on a sender that registered, before its tokens move (ERC-777 tokensToSend).
    function tokensToSend(address from, address to, uint256 amount) external;
    /// @notice Called on a recipient that registered, after its tokens arrived (tokensReceived).
    function tokensReceived(address from, address to, uint256 amount) external;
}

/// @notice Test only: an ERC-777-like token that calls registered holders back around a move.
contract CallbackToken is TokenCore {
    mapping(address => bool) public hooked;

    constructor() TokenCore("Callback Token", "CBT", 18) {}

    function register() external {
        hooked[msg.sender] = true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _hookedMove(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _hookedMove(from, to, amount);
        return true;
    }

    function _hookedMove(address from, address to, uint256 amount) private {
        if (hooked[from]) ITokenHook(from).tokensToSend(from, to, amount);
        _move(from, to, amount);
        if (hooked[to]) ITokenHook(to).tokensReceived(from, to, amount);
    }
}
