// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobParams} from "../lib/Types.sol";

interface ICallbackToken {
    function register() external;
    function approve(address spender, uint256 amount) external returns (bool);
}

interface ITokenMarket {
    function postToken(JobParams calldata p, string calldata specLocator, uint256 amount) external payable returns (uint256);
    function withdraw() external;
}

/// @notice Test only: a poster holding CallbackToken that, from its token hooks, calls back into
/// a contract with `payload` (set beforehand) and records whether that call went through.
contract TokenReentrant {
    address public token;
    address public target;
    bytes public payload;
    uint256 public attempts;
    uint256 public succeeded;
    bytes public lastError;

    constructor(address token_) {
        token = token_;
        ICallbackToken(token_).register();
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function post(address market, JobParams calldata p, uint256 amount) external returns (uint256) {
        ICallbackToken(token).approve(market, type(uint256).max);
        return ITokenMarket(market).postToken(p, "reentrant", amount);
    }

    /// @notice Any call as this contract (e.g. the poster's cancel).
    function exec(address target_, bytes calldata data) external {
        (bool ok, bytes memory ret) = target_.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function withdrawFrom(address market) external {
        ITokenMarket(market).withdraw();
    }

    function tokensToSend(address, address, uint256) external {
        _reenter();
    }

    function tokensReceived(address, address, uint256) external {
        _reenter();
    }

    function _reenter() private {
        if (target == address(0) || msg.sender != token) return;
        attempts += 1;
        (bool ok, bytes memory ret) = target.call(payload);
        if (ok) succeeded += 1;
        else lastError = ret;
    }
}
