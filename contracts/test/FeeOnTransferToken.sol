// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenCore} from "./TokenCore.sol";

/// @notice Test only: every move takes `feeBps` of the amount off what the recipient gets and
/// gives it to FEE_SINK; the sender pays the whole amount.
contract FeeOnTransferToken is TokenCore {
    address public constant FEE_SINK = address(0xFEE);
    uint256 public immutable feeBps;

    constructor(uint256 feeBps_) TokenCore("Fee Token", "FEE", 18) {
        require(feeBps_ <= 10_000, "fee");
        feeBps = feeBps_;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal override {
        uint256 fee = amount * feeBps / 10_000;
        super._move(from, to, amount - fee);
        super._move(from, FEE_SINK, fee);
    }
}
