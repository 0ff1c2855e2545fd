// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {IDisputeGame, IGameResolver} from "./interfaces/IDisputeGame.sol";
import {JobParams} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {Job, Claim, JobState, ClaimState, JobLifecycle, ClaimLifecycle} from "./lib/Lifecycle.sol";
import {ReentrancyGuard} from "./lib/ReentrancyGuard.sol";
import {
    ZeroAmount, ParamOutOfRange, ClaimDeadlinePassed,
    NotProvider, NotPoster, ExecutionDeadlinePassed, ExecutionDeadlineNotPassed, BadOutputProof, WindowClosed,
    WindowOpen, WrongBond, GamesPending, NothingToWithdraw, TransferFailed, NotDeployer, AlreadySet,
    Unauthorized
} from "./lib/Errors.sol";

/// @title JobMarket: escrow, job lifecycle, results, challenge window, payouts (pull)
/// @notice docs/protocol.md §6.2 and §6.5. Invariant: balance == totalEscrow + totalBonds + totalCredits.
/// External functions check, move Jobs and Claims only through their lifecycle libraries, then emit.
contract JobMarket is IGameResolver, ReentrancyGuard {
    using JobLifecycle for Job;
    using ClaimLifecycle for Claim;

    // credit reasons in Credited
    uint8 public constant REASON_REWARD = 1;
    uint8 public constant REASON_REFUND = 2;
    uint8 public constant REASON_BOND = 3;
    uint8 public constant REASON_BOUNTY = 4;
    uint8 public constant REASON_COMPENSATION = 5;

    uint256 public constant CHALLENGER_SHARE_BPS = 5000;
    uint256 public constant MISSED_DEADLINE_SLASH_BPS = 1000;
    uint256 public constant MIN_WINDOW = 60;
    uint256 public constant MAX_WINDOW = 14 days;
    uint256 public constant MAX_CLOCK = 7 days;
    uint256 public constant MIN_EXECUTE = 60;
    uint256 public constant MAX_EXECUTE = 7 days;
    uint256 public constant MAX_SLOTS = 65535;
    address public constant BURN = 0x000000000000000000000000000000000000dEaD;

    // ParamOutOfRange ids
    uint8 internal constant P_REWARD = 0;
    uint8 internal constant P_WINDOW = 1;
    uint8 internal constant P_CLOCK = 2;
    uint8 internal constant P_EXECUTE = 3;
    uint8 internal constant P_SLOTS = 4;
    uint8 internal constant P_OUTPUT_SLOT = 5;
    uint8 internal constant P_BOND = 6;
    uint8 internal constant P_CLAIM_BY = 7;
    uint8 internal constant P_NOPS = 8;
    uint8 internal constant P_STAKE = 9;

    IStakeManager public immutable stakes;
    address public immutable deployer;
    /// @notice Deployment parameter: the shortest clock a job may set, so that an honest provider
    /// answering every move within one block never loses by clock on this chain (docs/protocol.md §6.5:
    /// max provider moves of any accepted program x block time x safety factor).
    uint256 public immutable MIN_CLOCK;
    /// @notice Deployment parameter: the smallest challenger bond, the gas of a full honest defence
    /// at the deployer's gas price (docs/protocol.md §6.5).
    uint256 public immutable MIN_BOND;
    IDisputeGame public game;

    mapping(uint256 => Job) internal _jobs;
    mapping(uint256 => Claim) internal _claims;
    mapping(uint256 => uint256[]) internal _gamesOfClaim;
    mapping(uint256 => uint256) public bondOfGame;
    mapping(uint256 => address) public challengerOfGame;
    mapping(address => uint256) public credits;
    uint256 public jobCount;
    uint256 public claimCount;
    uint256 public totalEscrow;
    uint256 public totalBonds;
    uint256 public totalCredits;
    uint256 public totalBurned;

    event JobPosted(uint256 indexed jobId, address indexed poster, uint256 reward, JobParams params, string specLocator);
    event JobClaimed(uint256 indexed jobId, uint256 indexed claimId, address indexed provider, uint256 lock, uint256 executeBy);
    event ResultSubmitted(
        uint256 indexed jobId,
        uint256 indexed claimId,
        address indexed provider,
        bytes32 sN,
        bytes32 outputRoot,
        string outputLocator,
        uint256 windowEnd
    );
    event Challenged(uint256 indexed jobId, uint256 indexed claimId, uint256 indexed gameId, address challenger, uint256 bond);
    event JobFinalized(uint256 indexed jobId, uint256 indexed claimId, address indexed provider, uint256 reward);
    event ClaimRejected(
        uint256 indexed jobId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address challenger,
        uint256 slashed,
        uint256 challengerReward,
        uint256 burned
    );
    event ClaimExpired(uint256 indexed jobId, uint256 indexed claimId, address indexed provider, uint256 slashed);
    event JobCancelled(uint256 indexed jobId, address indexed poster, uint256 refund);
    event BondSettled(uint256 indexed gameId, uint256 indexed claimId, address indexed to, uint256 amount);
    event Credited(address indexed account, uint256 amount, uint8 reason);
    event Withdrawn(address indexed account, uint256 amount);

    /// @dev `minClock_` in [1, MAX_CLOCK] and `minBond_` in [1, 2^128 - 1], else ParamOutOfRange
    /// (2 clock, 6 bond) with the allowed range.
    constructor(IStakeManager stakes_, uint256 minClock_, uint256 minBond_) {
        _range(P_CLOCK, minClock_, 1, MAX_CLOCK);
        _range(P_BOND, minBond_, 1, type(uint128).max);
        stakes = stakes_;
        deployer = msg.sender;
        MIN_CLOCK = minClock_;
        MIN_BOND = minBond_;
    }

    /// @notice One-time wiring to the DisputeGame, by the deployer.
    function setGame(IDisputeGame game_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (address(game) != address(0)) revert AlreadySet();
        game = game_;
    }

    /// @notice Only slashed stake arrives by plain transfer.
    receive() external payable {
        if (msg.sender != address(stakes)) revert Unauthorized(msg.sender);
    }

    // ------------------------------------------------------------------ lifecycle

    function post(JobParams calldata p, string calldata specLocator) external payable returns (uint256 jobId) {
        _checkParams(p);
        jobId = ++jobCount;
        _jobs[jobId].open(jobId, p, msg.sender, msg.value);
        totalEscrow += msg.value;
        emit JobPosted(jobId, msg.sender, msg.value, p, specLocator);
    }

    function claim(uint256 jobId) external returns (uint256 claimId) {
        Job storage j = _job(jobId);
        j.expect(jobId, JobState.Open);
        if (block.timestamp > j.params.claimBy) revert ClaimDeadlinePassed(jobId, j.params.claimBy, block.timestamp);
        claimId = ++claimCount;
        uint256 lock = j.params.requiredStake;
        _claims[claimId].start(claimId, jobId, msg.sender, lock);
        j.assign(jobId, claimId);
        stakes.lock(msg.sender, claimId, lock);
        emit JobClaimed(jobId, claimId, msg.sender, lock, block.timestamp + j.params.executeWithin);
    }

    function submitResult(
        uint256 jobId,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof,
        string calldata outputLocator
    ) external {
        (Job storage j, uint256 claimId, Claim storage c) = _currentClaim(jobId);
        if (msg.sender != c.provider) revert NotProvider(claimId, msg.sender, c.provider);
        c.expect(claimId, ClaimState.Active);
        uint256 deadline = j.executeDeadline(c);
        if (block.timestamp > deadline) revert ExecutionDeadlinePassed(claimId, deadline, block.timestamp);
        uint256 depth = Merkle.ceilLog2(uint256(j.params.nInputs) + j.params.nOps);
        // a proof of the wrong depth reaches no root: report the unproven output root itself
        if (outputProof.length != depth) revert BadOutputProof(jobId, outputRoot, sN);
        bytes32 got = Merkle.rootFrom(outputRoot, j.params.outputSlot, outputProof);
        if (got != sN) revert BadOutputProof(jobId, got, sN);
        c.submit(claimId, sN, outputRoot);
        emit ResultSubmitted(
            jobId, claimId, msg.sender, sN, outputRoot, outputLocator, block.timestamp + j.params.challengeWindow
        );
    }

    function challenge(uint256 jobId) external payable returns (uint256 gameId) {
        (Job storage j, uint256 claimId, Claim storage c) = _currentClaim(jobId);
        c.expect(claimId, ClaimState.Submitted);
        uint256 end = j.windowEnd(c);
        if (block.timestamp >= end) revert WindowClosed(claimId, end, block.timestamp);
        if (msg.value != j.params.challengerBond) revert WrongBond(jobId, msg.value, j.params.challengerBond);
        c.activeGames += 1;
        totalBonds += msg.value;
        gameId = game.create(
            claimId,
            c.provider,
            msg.sender,
            j.params.programRoot,
            j.params.s0,
            c.sN,
            j.params.nInputs,
            j.params.nOps,
            j.params.clock
        );
        bondOfGame[gameId] = msg.value;
        challengerOfGame[gameId] = msg.sender;
        _gamesOfClaim[claimId].push(gameId);
        emit Challenged(jobId, claimId, gameId, msg.sender, msg.value);
    }

    function finalize(uint256 jobId) external {
        (Job storage j, uint256 claimId, Claim storage c) = _currentClaim(jobId);
        c.expect(claimId, ClaimState.Submitted);
        uint256 end = j.windowEnd(c);
        if (block.timestamp < end) revert WindowOpen(claimId, end, block.timestamp);
        if (c.activeGames != 0) revert GamesPending(claimId, c.activeGames);
        c.settle(claimId, ClaimState.Accepted);
        uint256 reward = j.close(jobId, JobState.Finalized);
        totalEscrow -= reward;
        _credit(c.provider, reward, REASON_REWARD);
        stakes.unlock(claimId);
        emit JobFinalized(jobId, claimId, c.provider, reward);
    }

    function expire(uint256 jobId) external {
        (Job storage j, uint256 claimId, Claim storage c) = _currentClaim(jobId);
        c.expect(claimId, ClaimState.Active);
        uint256 deadline = j.executeDeadline(c);
        if (block.timestamp <= deadline) revert ExecutionDeadlineNotPassed(claimId, deadline, block.timestamp);
        uint256 slashed = c.lock * MISSED_DEADLINE_SLASH_BPS / 10_000;
        c.settle(claimId, ClaimState.Expired);
        j.reopen(jobId);
        stakes.slash(claimId, slashed); // the slashed wei arrive through receive()
        _credit(j.poster, slashed, REASON_COMPENSATION);
        emit ClaimExpired(jobId, claimId, c.provider, slashed);
    }

    function cancel(uint256 jobId) external {
        Job storage j = _job(jobId);
        if (msg.sender != j.poster) revert NotPoster(jobId, msg.sender, j.poster);
        j.expect(jobId, JobState.Open);
        uint256 refund = j.close(jobId, JobState.Cancelled);
        totalEscrow -= refund;
        _credit(msg.sender, refund, REASON_REFUND);
        emit JobCancelled(jobId, msg.sender, refund);
    }

    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------ game callback

    /// @inheritdoc IGameResolver
    function onGameResolved(uint256 gameId, uint256 claimId, bool providerWon) external {
        if (msg.sender != address(game)) revert Unauthorized(msg.sender);
        Claim storage c = _claims[claimId];
        uint256 bond = bondOfGame[gameId];
        bondOfGame[gameId] = 0;
        totalBonds -= bond;
        address challenger = challengerOfGame[gameId];
        if (c.state == ClaimState.Rejected) {
            // a claim already proven wrong: every other challenger gets its bond back
            _credit(challenger, bond, REASON_BOND);
            emit BondSettled(gameId, claimId, challenger, bond);
            return;
        }
        c.activeGames -= 1;
        if (providerWon) {
            _credit(c.provider, bond, REASON_BOND);
            emit BondSettled(gameId, claimId, c.provider, bond);
            return;
        }
        _reject(gameId, claimId, c, challenger, bond);
    }

    function _reject(uint256 gameId, uint256 claimId, Claim storage c, address challenger, uint256 bond) private {
        uint256 jobId = c.jobId;
        c.settle(claimId, ClaimState.Rejected);
        _jobs[jobId].reopen(jobId);
        uint256 slashed = c.lock;
        uint256 reward = slashed * CHALLENGER_SHARE_BPS / 10_000;
        uint256 burned = slashed - reward;
        stakes.slash(claimId, slashed);
        _credit(challenger, bond, REASON_BOND);
        emit BondSettled(gameId, claimId, challenger, bond);
        _credit(challenger, reward, REASON_BOUNTY);
        totalBurned += burned;
        emit ClaimRejected(jobId, claimId, gameId, challenger, slashed, reward, burned);
        if (burned != 0) {
            (bool ok,) = BURN.call{value: burned}("");
            if (!ok) revert TransferFailed(BURN, burned);
        }
    }

    // ------------------------------------------------------------------ views

    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    function getClaim(uint256 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    function gamesOfClaim(uint256 claimId) external view returns (uint256[] memory) {
        return _gamesOfClaim[claimId];
    }

    /// @notice End of the challenge window of the job's current claim (0 if none submitted).
    function windowEnd(uint256 jobId) external view returns (uint256) {
        Job storage j = _jobs[jobId];
        Claim storage c = _claims[j.currentClaim];
        if (c.submittedAt == 0) return 0;
        return j.windowEnd(c);
    }

    // ------------------------------------------------------------------ internals

    function _credit(address to, uint256 amount, uint8 reason) private {
        if (amount == 0) return;
        credits[to] += amount;
        totalCredits += amount;
        emit Credited(to, amount, reason);
    }

    function _job(uint256 jobId) private view returns (Job storage j) {
        j = _jobs[jobId];
        j.exists(jobId);
    }

    /// @dev A job that must be Claimed, with its current claim (whose state the caller checks).
    function _currentClaim(uint256 jobId) private view returns (Job storage j, uint256 claimId, Claim storage c) {
        j = _job(jobId);
        j.expect(jobId, JobState.Claimed);
        claimId = j.currentClaim;
        c = _claims[claimId];
    }

    function _checkParams(JobParams calldata p) private view {
        if (msg.value == 0) revert ZeroAmount();
        _range(P_WINDOW, p.challengeWindow, MIN_WINDOW, MAX_WINDOW);
        _range(P_CLOCK, p.clock, MIN_CLOCK, MAX_CLOCK);
        _range(P_EXECUTE, p.executeWithin, MIN_EXECUTE, MAX_EXECUTE);
        _range(P_NOPS, p.nOps, 1, MAX_SLOTS);
        _range(P_SLOTS, uint256(p.nInputs) + p.nOps, 2, MAX_SLOTS);
        _range(P_OUTPUT_SLOT, p.outputSlot, 0, uint256(p.nInputs) + p.nOps - 1);
        _range(P_BOND, p.challengerBond, MIN_BOND, type(uint128).max);
        _range(P_STAKE, p.requiredStake, 1, type(uint128).max);
        _range(P_CLAIM_BY, p.claimBy, block.timestamp, type(uint64).max);
    }

    function _range(uint8 which, uint256 v, uint256 lo, uint256 hi) private pure {
        if (v < lo || v > hi) revert ParamOutOfRange(which, v, lo, hi);
    }
}
