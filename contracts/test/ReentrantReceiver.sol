// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobParams} from "../lib/Types.sol";

interface IMarketLike {
    function post(JobParams calldata p, string calldata specLocator) external payable returns (uint256);
    function cancel(uint256 jobId) external;
    function withdraw() external;
}

interface IStakeLike {
    function deposit() external payable;
    function requestUnbond(uint256 amount) external;
    function withdraw() external;
}

/// @notice Test only: a receiver that re-enters `withdraw` from its receive hook.
contract ReentrantReceiver {
    address public target;
    uint256 public reentries;
    uint256 public reentrySucceeded;
    uint256 public received;
    bool public rejecting;

    function setRejecting(bool r) external {
        rejecting = r;
    }

    function postAndCancel(address market, JobParams calldata p) external payable {
        uint256 id = IMarketLike(market).post{value: msg.value}(p, "reentrant");
        IMarketLike(market).cancel(id);
    }

    function stake(address sm, uint256 amount) external payable {
        IStakeLike(sm).deposit{value: msg.value}();
        IStakeLike(sm).requestUnbond(amount);
    }

    function attack(address target_) external {
        target = target_;
        IMarketLike(target_).withdraw();
    }

    receive() external payable {
        require(!rejecting);
        received += msg.value;
        if (target != address(0) && reentries == 0) {
            reentries += 1;
            (bool ok,) = target.call(abi.encodeWithSignature("withdraw()"));
            if (ok) reentrySucceeded += 1;
        }
    }
}
