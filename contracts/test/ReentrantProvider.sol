// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IFusedMarket {
    function claimAndSubmit(
        uint256 jobId,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof,
        string calldata outputLocator
    ) external returns (uint256);
    function finalizeAndWithdraw(uint256 jobId) external;
}

interface IStakeDeposit {
    function deposit() external payable;
    function depositToken(uint256 amount) external payable;
}

interface IHookToken {
    function register() external;
    function approve(address spender, uint256 amount) external returns (bool);
}

/// @notice Test only: a provider contract whose payout hook (ether receive, or an ERC-777-like
/// token's tokensReceived) re-enters the market's payout paths once and records whether it got in.
contract ReentrantProvider {
    address public market;
    uint256 public jobId;
    uint256 public reentries;
    uint256 public reentrySucceeded;
    uint256 public received;

    function stake(address sm) external payable {
        IStakeDeposit(sm).deposit{value: msg.value}();
    }

    /// @dev Token market: registers for the token's callbacks and stakes `amount` it holds.
    function stakeToken(address sm, address token, uint256 amount) external {
        IHookToken(token).register();
        IHookToken(token).approve(sm, type(uint256).max);
        IStakeDeposit(sm).depositToken(amount);
    }

    function claimAndSubmit(
        address market_,
        uint256 jobId_,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata proof
    ) external {
        IFusedMarket(market_).claimAndSubmit(jobId_, sN, outputRoot, proof, "reentrant");
    }

    function finalizeAndWithdraw(address market_, uint256 jobId_) external {
        market = market_;
        jobId = jobId_;
        IFusedMarket(market_).finalizeAndWithdraw(jobId_);
    }

    receive() external payable {
        received += msg.value;
        _reenter();
    }

    function tokensToSend(address, address, uint256) external {}

    function tokensReceived(address, address to, uint256 amount) external {
        if (to != address(this)) return;
        received += amount;
        _reenter();
    }

    function _reenter() private {
        if (market == address(0) || reentries != 0) return;
        reentries += 1;
        (bool ok1,) = market.call(abi.encodeWithSignature("withdraw()"));
        (bool ok2,) = market.call(abi.encodeWithSignature("finalizeAndWithdraw(uint256)", jobId));
        if (ok1) reentrySucceeded += 1;
        if (ok2) reentrySucceeded += 1;
    }
}
