// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {IDisputeGame, IGameResolver} from "./interfaces/IDisputeGame.sol";
import {JobParams} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {
    Job, Claim, StoredJob, StoredClaim, JobState, ClaimState, JobLifecycle, ClaimLifecycle
} from "./lib/Lifecycle.sol";
import {ReentrancyGuard} from "./lib/ReentrancyGuard.sol";
import {Asset} from "./lib/Asset.sol";
import {
    ZeroAmount, ParamOutOfRange, ClaimDeadlinePassed, WrongJobState,
    NotProvider, NotPoster, ExecutionDeadlinePassed, ExecutionDeadlineNotPassed, BadOutputProof, WindowClosed,
    WindowOpen, WrongBond, GamesPending, NothingToWithdraw, NotDeployer, AlreadySet,
    Unauthorized, JobCoolingDown, OutputNotDemanded, OutputPending, BadOutputData, BadOutput
} from "./lib/Errors.sol";

/// @notice One job of a `postMany` batch: what `post` takes, and its reward.
struct JobPost {
    JobParams params;
    string specLocator;
    uint256 reward;
}

/// @notice One job of a `claimAndSubmitMany` batch: what `claimAndSubmit` takes.
struct JobResult {
    uint256 jobId;
    bytes32 sN;
    bytes32 outputRoot;
    bytes32[] outputProof;
    string outputLocator;
}

/// @title JobMarket: escrow, job lifecycle, results, challenge window, output availability, payouts (pull)
/// @notice docs/protocol.md §6.2, §6.5 and §6.7. Invariant: balance == totalEscrow + totalBonds +
/// totalCredits, the balance of `asset` (ether, or the ERC-20 fixed at deployment: then every
/// amount that comes in is what arrived, and every function that moves the token holds the
/// reentrancy guard, so that a token callback cannot move the balance between two reads).
/// External functions check, move Jobs and Claims only through their lifecycle libraries, then emit.
/// Payouts (§6.5 R1-R3): each game is paid from the provider stake locked for that game alone (its
/// backing); a rejected claim's lock is burned whole, so no game can take another game's bounty.
contract JobMarket is IGameResolver, ReentrancyGuard {
    using JobLifecycle for StoredJob;
    using ClaimLifecycle for StoredClaim;

    // credit reasons in Credited
    uint8 public constant REASON_REWARD = 1;
    uint8 public constant REASON_REFUND = 2;
    uint8 public constant REASON_BOND = 3;
    uint8 public constant REASON_BOUNTY = 4;
    uint8 public constant REASON_COMPENSATION = 5;

    // ClaimRejected.cause
    uint8 public constant CAUSE_GAME_LOST = 1;
    uint8 public constant CAUSE_OUTPUT_WITHHELD = 2;

    /// @notice A game's backing is locked in StakeManager under GAME_LOCK_BASE + gameId (claim
    /// locks under their claim id, always below it).
    uint256 public constant GAME_LOCK_BASE = 2 ** 128;
    /// @notice publishOutput leaf sizes: an int8 leaf (32 x 1 byte), an int32 leaf (32 x 4 bytes).
    uint256 public constant LEAF_INT8 = 32;
    uint256 public constant LEAF_INT32 = 128;

    uint256 public constant CHALLENGER_SHARE_BPS = 5000;
    uint256 public constant MISSED_DEADLINE_SLASH_BPS = 1000;
    uint256 public constant MIN_WINDOW = 60;
    uint256 public constant MAX_WINDOW = 14 days;
    uint256 public constant MAX_CLOCK = 7 days;
    uint256 public constant MIN_EXECUTE = 60;
    uint256 public constant MAX_EXECUTE = 7 days;
    uint256 public constant MAX_SLOTS = 2 ** 17; // v7: OpCodec.MAX_SLOTS (docs/protocol.md §1)
    /// @notice The largest reward, bond and required stake a job may set (they are stored as
    /// uint96, packed with the job's other fields: 7.9e28, more ether than exists).
    uint256 public constant MAX_AMOUNT = type(uint96).max;
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
    /// @notice Escrow, bonds, credits and stake are in this asset: address(0) for ether, else the
    /// ERC-20 the stake manager was deployed with (protocol.md §6.7).
    address public immutable asset;
    address public immutable deployer;
    /// @notice Deployment parameter: the shortest clock a job may set, so that an honest provider
    /// answering every move within one block never loses by clock on this chain (docs/protocol.md §6.5:
    /// max provider moves of any accepted program x block time x safety factor).
    uint256 public immutable MIN_CLOCK;
    /// @notice Deployment parameter: the smallest challenger bond, the gas of a full honest defence
    /// at the deployer's gas price (docs/protocol.md §6.5).
    uint256 public immutable MIN_BOND;
    IDisputeGame public game;

    mapping(uint256 => StoredJob) internal _jobs;
    mapping(uint256 => StoredClaim) internal _claims;
    /// @dev A game's challenger, bond and backing (two slots), kept after it settles.
    struct GameBook {
        address challenger;
        uint128 bond;
        uint128 backing;
    }

    mapping(uint256 => uint256[]) internal _gamesOfClaim;
    mapping(uint256 => GameBook) internal _books;
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
    event Challenged(
        uint256 indexed jobId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address challenger,
        uint256 bond,
        uint256 backing
    );
    event JobFinalized(uint256 indexed jobId, uint256 indexed claimId, address indexed provider, uint256 reward);
    /// @notice cause 1: game `gameId` lost; 2: output withheld (gameId 0). `slashed` (the whole
    /// claim lock) is burned.
    event ClaimRejected(
        uint256 indexed jobId, uint256 indexed claimId, uint256 indexed gameId, uint8 cause, uint256 slashed
    );
    event ClaimExpired(uint256 indexed jobId, uint256 indexed claimId, address indexed provider, uint256 slashed);
    event JobReopened(uint256 indexed jobId, uint256 reopensAt);
    event JobCancelled(uint256 indexed jobId, address indexed poster, uint256 refund);
    /// @notice One per game, whatever the claim's state: the bond to the winner; the backing back
    /// to the provider (provider won) or `bounty` of it to the challenger and `burned` burned.
    event GameSettled(
        uint256 indexed gameId,
        uint256 indexed claimId,
        address indexed winner,
        bool providerWon,
        uint256 bond,
        uint256 backing,
        uint256 bounty,
        uint256 burned
    );
    event OutputDemanded(uint256 indexed jobId, uint256 indexed claimId, uint256 due);
    event OutputPublished(uint256 indexed jobId, uint256 indexed claimId, uint256 leafSize, bytes data);
    event Credited(address indexed account, uint256 amount, uint8 reason);
    event Withdrawn(address indexed account, uint256 amount);

    /// @dev `minClock_` in [1, MAX_CLOCK] and `minBond_` in [1, 2^128 - 1], else ParamOutOfRange
    /// (2 clock, 6 bond) with the allowed range.
    constructor(IStakeManager stakes_, uint256 minClock_, uint256 minBond_) {
        _range(P_CLOCK, minClock_, 1, MAX_CLOCK);
        _range(P_BOND, minBond_, 1, MAX_AMOUNT);
        stakes = stakes_;
        asset = stakes_.asset();
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

    /// @notice Ether market: posts a job whose reward is msg.value.
    function post(JobParams calldata p, string calldata specLocator) external payable returns (uint256 jobId) {
        Asset.expectEther(asset);
        _checkReward(msg.value);
        _checkParams(p);
        return _open(p, specLocator, msg.value);
    }

    /// @notice Token market: pulls `amount` of the asset (approved beforehand); the reward is what
    /// arrived, and the reward's range applies to it.
    function postToken(JobParams calldata p, string calldata specLocator, uint256 amount)
        external
        payable
        nonReentrant
        returns (uint256 jobId)
    {
        Asset.expectToken(asset);
        if (amount == 0) revert ZeroAmount();
        _checkParams(p);
        uint256 reward = Asset.pull(asset, msg.sender, amount);
        _checkReward(reward);
        return _open(p, specLocator, reward);
    }

    /// @notice Ether market: `post` for every job of `posts`, in order (the same checks and
    /// events; job ids follow from the returned first one). msg.value must be the sum of their
    /// rewards, else ParamOutOfRange(0, msg.value, sum, sum); an empty batch is ZeroAmount.
    function postMany(JobPost[] calldata posts) external payable returns (uint256 firstJobId) {
        Asset.expectEther(asset);
        if (posts.length == 0) revert ZeroAmount();
        firstJobId = jobCount + 1;
        uint256 total;
        for (uint256 i; i < posts.length; ++i) {
            JobPost calldata q = posts[i];
            _checkReward(q.reward);
            _checkParams(q.params);
            _open(q.params, q.specLocator, q.reward);
            total += q.reward;
        }
        if (total != msg.value) _range(P_REWARD, msg.value, total, total);
    }

    function _open(JobParams calldata p, string calldata specLocator, uint256 reward) private returns (uint256 jobId) {
        jobId = ++jobCount;
        _jobs[jobId].open(jobId, p, msg.sender, reward);
        totalEscrow += reward;
        emit JobPosted(jobId, msg.sender, reward, p, specLocator);
    }

    function claim(uint256 jobId) external returns (uint256 claimId) {
        (, claimId,) = _claim(jobId);
    }

    function submitResult(
        uint256 jobId,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof,
        string calldata outputLocator
    ) external {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        if (msg.sender != c.provider) revert NotProvider(claimId, msg.sender, c.provider);
        uint256 end = _submit(j, jobId, claimId, c, sN, outputRoot, outputProof);
        emit ResultSubmitted(jobId, claimId, msg.sender, sN, outputRoot, outputLocator, end);
    }

    /// @notice `claim` then `submitResult` in one call, for a provider that already holds the result:
    /// the same checks, the same events. The job is claimed by the caller in this call, so a second
    /// claim of either kind reverts as after `claim` (WrongJobState): one provider per job still.
    function claimAndSubmit(
        uint256 jobId,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof,
        string calldata outputLocator
    ) external returns (uint256 claimId) {
        StoredJob storage j;
        StoredClaim storage c;
        (j, claimId, c) = _claim(jobId);
        uint256 end = _submit(j, jobId, claimId, c, sN, outputRoot, outputProof);
        emit ResultSubmitted(jobId, claimId, msg.sender, sN, outputRoot, outputLocator, end);
    }

    /// @notice `claimAndSubmit` for every result of `results`, in order, all or nothing (one job
    /// claimed by another reverts the batch); claim ids follow from the returned first one.
    function claimAndSubmitMany(JobResult[] calldata results) external returns (uint256 firstClaimId) {
        if (results.length == 0) revert ZeroAmount();
        firstClaimId = claimCount + 1;
        for (uint256 i; i < results.length; ++i) {
            _claimAndSubmit(results[i]);
        }
    }

    function _claimAndSubmit(JobResult calldata r) private {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _claim(r.jobId);
        uint256 end = _submit(j, r.jobId, claimId, c, r.sN, r.outputRoot, r.outputProof);
        emit ResultSubmitted(r.jobId, claimId, msg.sender, r.sN, r.outputRoot, r.outputLocator, end);
    }

    /// @dev The caller claims the Open job: a new claim, Active, under the job's stake lock.
    function _claim(uint256 jobId) private returns (StoredJob storage j, uint256 claimId, StoredClaim storage c) {
        j = _job(jobId);
        j.expect(jobId, JobState.Open);
        if (block.timestamp > j.claimBy) revert ClaimDeadlinePassed(jobId, j.claimBy, block.timestamp);
        if (block.timestamp < j.reopensAt) revert JobCoolingDown(jobId, j.reopensAt, block.timestamp);
        claimId = ++claimCount;
        uint256 lock = j.requiredStake;
        c = _claims[claimId];
        c.start(claimId, jobId, msg.sender);
        j.assign(jobId, claimId);
        stakes.lock(msg.sender, claimId, lock);
        emit JobClaimed(jobId, claimId, msg.sender, lock, block.timestamp + j.executeWithin);
    }

    /// @dev The claim's provider (checked by the caller) submits its result before the deadline;
    /// the caller emits ResultSubmitted (with the locator: one function would run out of stack).
    function _submit(
        StoredJob storage j,
        uint256 jobId,
        uint256 claimId,
        StoredClaim storage c,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof
    ) private returns (uint256 windowEnd_) {
        c.expect(claimId, ClaimState.Active);
        uint256 deadline = j.executeDeadline(c);
        if (block.timestamp > deadline) revert ExecutionDeadlinePassed(claimId, deadline, block.timestamp);
        uint256 depth = Merkle.ceilLog2(uint256(j.nInputs) + j.nOps);
        // a proof of the wrong depth reaches no root: report the unproven output root itself
        if (outputProof.length != depth) revert BadOutputProof(jobId, outputRoot, sN);
        bytes32 got = Merkle.rootFrom(outputRoot, j.outputSlot, outputProof);
        if (got != sN) revert BadOutputProof(jobId, got, sN);
        c.submit(claimId, sN, outputRoot);
        return block.timestamp + j.challengeWindow;
    }

    /// @notice Ether market: the bond is msg.value, exactly the job's challengerBond.
    function challenge(uint256 jobId) external payable returns (uint256 gameId) {
        Asset.expectEther(asset);
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _challengeable(jobId);
        if (msg.value != j.challengerBond) revert WrongBond(jobId, msg.value, j.challengerBond);
        return _challenge(j, jobId, claimId, c, msg.value);
    }

    /// @notice Token market: pulls `amount`; what arrived is the bond and must be at least the
    /// job's challengerBond (with a fee-on-transfer token, send enough that it is).
    function challengeToken(uint256 jobId, uint256 amount) external payable nonReentrant returns (uint256 gameId) {
        Asset.expectToken(asset);
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _challengeable(jobId);
        uint256 bond = Asset.pull(asset, msg.sender, amount);
        if (bond < j.challengerBond) revert WrongBond(jobId, bond, j.challengerBond);
        _range(P_BOND, bond, j.challengerBond, type(uint128).max);
        return _challenge(j, jobId, claimId, c, bond);
    }

    function _challengeable(uint256 jobId) private view returns (StoredJob storage j, uint256 claimId, StoredClaim storage c) {
        (j, claimId, c) = _currentClaim(jobId);
        c.expect(claimId, ClaimState.Submitted);
        uint256 end = j.windowEnd(c);
        if (block.timestamp >= end) revert WindowClosed(claimId, end, block.timestamp);
    }

    function _challenge(StoredJob storage j, uint256 jobId, uint256 claimId, StoredClaim storage c, uint256 bond)
        private
        returns (uint256 gameId)
    {
        c.activeGames += 1;
        totalBonds += bond;
        gameId = game.create(
            claimId,
            c.provider,
            msg.sender,
            j.programRoot,
            j.s0,
            c.sN,
            j.nInputs,
            j.nOps,
            j.clock
        );
        // R2: backed by the provider's free stake only, up to the claim lock; 0 does not refuse the game
        uint256 backing = stakes.lockUpTo(c.provider, GAME_LOCK_BASE + gameId, j.requiredStake);
        _books[gameId] = GameBook(msg.sender, uint128(bond), uint128(backing));
        _gamesOfClaim[claimId].push(gameId);
        emit Challenged(jobId, claimId, gameId, msg.sender, bond, backing);
    }

    function finalize(uint256 jobId) external {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        uint256 reward = _finalize(j, jobId, claimId, c);
        _credit(c.provider, reward, REASON_REWARD);
        emit JobFinalized(jobId, claimId, c.provider, reward);
    }

    /// @notice `finalize` then `withdraw` in one call, by the claim's provider: the reward and
    /// every other credit of the caller are paid out (the events of the two calls). The reward
    /// goes out without its credit's storage round trip (the same books after the call).
    function finalizeAndWithdraw(uint256 jobId) external nonReentrant {
        _payOut(_finalizeOwn(jobId));
    }

    /// @notice `finalizeAndWithdraw` for every job of `jobIds` (all the caller's claims), all or
    /// nothing, with one payout of the rewards and every other credit of the caller.
    function finalizeAndWithdrawMany(uint256[] calldata jobIds) external nonReentrant {
        if (jobIds.length == 0) revert ZeroAmount();
        uint256 rewards;
        for (uint256 i; i < jobIds.length; ++i) {
            rewards += _finalizeOwn(jobIds[i]);
        }
        _payOut(rewards);
    }

    /// @dev The caller's claim on `jobId` finalized; returns its reward, out of escrow, unpaid.
    function _finalizeOwn(uint256 jobId) private returns (uint256 reward) {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        if (msg.sender != c.provider) revert NotProvider(claimId, msg.sender, c.provider);
        reward = _finalize(j, jobId, claimId, c);
        emit Credited(msg.sender, reward, REASON_REWARD);
        emit JobFinalized(jobId, claimId, msg.sender, reward);
    }

    /// @dev Pays the caller `rewards` (already out of escrow) and its credits, in one transfer;
    /// the caller holds the reentrancy guard.
    function _payOut(uint256 rewards) private {
        uint256 held = credits[msg.sender];
        if (held != 0) {
            credits[msg.sender] = 0;
            totalCredits -= held;
        }
        emit Withdrawn(msg.sender, held + rewards);
        Asset.push(asset, msg.sender, held + rewards);
    }

    /// @dev Claim -> Accepted, job -> Finalized, the lock released; returns the reward, out of
    /// escrow, for the caller to credit or pay.
    function _finalize(StoredJob storage j, uint256 jobId, uint256 claimId, StoredClaim storage c)
        private
        returns (uint256 reward)
    {
        c.expect(claimId, ClaimState.Submitted);
        uint256 end = j.windowEnd(c);
        if (block.timestamp < end) revert WindowOpen(claimId, end, block.timestamp);
        if (c.activeGames != 0) revert GamesPending(claimId, c.activeGames);
        if (c.outputDue != 0) revert OutputPending(claimId, c.outputDue, block.timestamp);
        c.settle(claimId, ClaimState.Accepted);
        reward = j.close(jobId, JobState.Finalized);
        totalEscrow -= reward;
        stakes.unlock(claimId);
    }

    function expire(uint256 jobId) external nonReentrant {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        _expire(j, jobId, claimId, c);
    }

    /// @notice The poster, while the job is Open (cooling down or not), or Claimed with its claim
    /// Active past the execution deadline (that claim expires first, as by `expire`): §6.5 R5.
    function cancel(uint256 jobId) external nonReentrant {
        StoredJob storage j = _job(jobId);
        if (msg.sender != j.poster) revert NotPoster(jobId, msg.sender, j.poster);
        if (j.state == JobState.Claimed) {
            uint256 claimId = j.currentClaim;
            StoredClaim storage c = _claims[claimId];
            // a submitted claim must be settled first (finalized or rejected)
            if (c.state != ClaimState.Active) revert WrongJobState(jobId, uint8(j.state), uint8(JobState.Open));
            _expire(j, jobId, claimId, c);
        }
        uint256 refund = j.close(jobId, JobState.Cancelled);
        totalEscrow -= refund;
        _credit(msg.sender, refund, REASON_REFUND);
        emit JobCancelled(jobId, msg.sender, refund);
    }

    // ------------------------------------------------------------------ output availability (§6.5 R4)

    /// @notice The poster demands the output of the current (Submitted) claim within `clock`.
    function demandOutput(uint256 jobId) external {
        (StoredJob storage j, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        if (msg.sender != j.poster) revert NotPoster(jobId, msg.sender, j.poster);
        c.expect(claimId, ClaimState.Submitted);
        uint256 end = j.windowEnd(c);
        if (block.timestamp >= end) revert WindowClosed(claimId, end, block.timestamp);
        uint256 due = block.timestamp + j.clock;
        c.demandOutput(claimId, due);
        emit OutputDemanded(jobId, claimId, due);
    }

    /// @notice Anyone: the current claim's output tensor, whose root must be the claim's outputRoot.
    function publishOutput(uint256 jobId, uint256 leafSize, bytes calldata data) external {
        (, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        c.publishOutput(claimId);
        if ((leafSize != LEAF_INT8 && leafSize != LEAF_INT32) || data.length == 0 || data.length % leafSize != 0) {
            revert BadOutputData(claimId, data.length, leafSize);
        }
        bytes32 root = Merkle.tensorRoot(data, leafSize);
        if (root != c.outputRoot) revert BadOutput(claimId, root, c.outputRoot);
        emit OutputPublished(jobId, claimId, leafSize, data);
    }

    /// @notice Anyone, once a demanded output is past due: the claim is rejected (lock burned).
    function outputTimeout(uint256 jobId) external nonReentrant {
        (, uint256 claimId, StoredClaim storage c) = _currentClaim(jobId);
        c.expect(claimId, ClaimState.Submitted);
        uint256 due = c.outputDue;
        if (due == 0) revert OutputNotDemanded(claimId);
        if (block.timestamp <= due) revert OutputPending(claimId, due, block.timestamp);
        _burn(_reject(claimId, c, CAUSE_OUTPUT_WITHHELD, 0));
    }

    function withdraw() external nonReentrant {
        _withdraw();
    }

    /// @dev Pays the caller its credits; the caller holds the reentrancy guard (the push may call back).
    function _withdraw() private {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        Asset.push(asset, msg.sender, amount);
    }

    // ------------------------------------------------------------------ game callback

    /// @inheritdoc IGameResolver
    /// @dev §6.5 R3: the game's own bond and backing move, whatever the claim's state; the claim's
    /// first lost game also rejects it (R1).
    function onGameResolved(uint256 gameId, uint256 claimId, bool providerWon) external nonReentrant {
        if (msg.sender != address(game)) revert Unauthorized(msg.sender);
        StoredClaim storage c = _claims[claimId];
        GameBook storage b = _books[gameId];
        (address challenger, uint256 bond, uint256 backing) = (b.challenger, b.bond, b.backing);
        totalBonds -= bond;
        c.activeGames -= 1;
        if (providerWon) {
            if (backing != 0) stakes.unlock(GAME_LOCK_BASE + gameId);
            _credit(c.provider, bond, REASON_BOND);
            emit GameSettled(gameId, claimId, c.provider, true, bond, backing, 0, 0);
            return;
        }
        // shares of what arrived (all of it but with a fee-on-transfer token)
        uint256 arrived = backing == 0 ? 0 : _slash(GAME_LOCK_BASE + gameId, backing);
        uint256 bounty = arrived * CHALLENGER_SHARE_BPS / 10_000;
        uint256 burned = arrived - bounty;
        _credit(challenger, bond, REASON_BOND);
        _credit(challenger, bounty, REASON_BOUNTY);
        emit GameSettled(gameId, claimId, challenger, false, bond, backing, bounty, burned);
        if (c.state == ClaimState.Submitted) burned += _reject(claimId, c, CAUSE_GAME_LOST, gameId);
        _burn(burned);
    }

    /// @dev Claim -> Rejected, its whole lock slashed to this contract (R1); the job reopens (R5).
    /// Returns what of the slashed lock arrived, which the caller burns.
    function _reject(uint256 claimId, StoredClaim storage c, uint8 cause, uint256 gameId) private returns (uint256 arrived) {
        uint256 jobId = c.jobId;
        StoredJob storage j = _jobs[jobId];
        c.settle(claimId, ClaimState.Rejected);
        _reopen(j, jobId);
        uint256 slashed = j.requiredStake;
        arrived = _slash(claimId, slashed);
        emit ClaimRejected(jobId, claimId, gameId, cause, slashed);
    }

    /// @dev Slashes `amount` of lock `key` to this contract; returns what arrived: `amount` in
    /// ether (through receive()), the balance change with a token (less with a transfer fee).
    function _slash(uint256 key, uint256 amount) private returns (uint256 arrived) {
        if (asset == address(0)) {
            stakes.slash(key, amount);
            return amount;
        }
        uint256 before = Asset.held(asset);
        stakes.slash(key, amount);
        arrived = Asset.held(asset) - before;
    }

    /// @dev The claim missed its execution deadline: part of its lock to the poster, the job reopens.
    function _expire(StoredJob storage j, uint256 jobId, uint256 claimId, StoredClaim storage c) private {
        c.expect(claimId, ClaimState.Active);
        uint256 deadline = j.executeDeadline(c);
        if (block.timestamp <= deadline) revert ExecutionDeadlineNotPassed(claimId, deadline, block.timestamp);
        uint256 slashed = uint256(j.requiredStake) * MISSED_DEADLINE_SLASH_BPS / 10_000;
        c.settle(claimId, ClaimState.Expired);
        _reopen(j, jobId);
        // the poster is credited what arrived; a 0 slash still releases the lock
        _credit(j.poster, _slash(claimId, slashed), REASON_COMPENSATION);
        emit ClaimExpired(jobId, claimId, c.provider, slashed);
    }

    /// @dev Back to Open after a claim ended unaccepted; claimable again only after MIN_CLOCK, so
    /// that the poster can always cancel in between (an expire + claim in one transaction reverts).
    function _reopen(StoredJob storage j, uint256 jobId) private {
        uint256 reopensAt = block.timestamp + MIN_CLOCK;
        j.reopen(jobId, reopensAt);
        emit JobReopened(jobId, reopensAt);
    }

    /// @dev Ether and tokens alike go to BURN (0x...dEaD): no key is known for it, and a
    /// token's own burn function is not part of ERC-20.
    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        Asset.push(asset, BURN, amount);
    }

    // ------------------------------------------------------------------ views

    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId].load();
    }

    function getClaim(uint256 claimId) external view returns (Claim memory) {
        StoredClaim storage c = _claims[claimId];
        return c.load(_jobs[c.jobId].requiredStake);
    }

    function gamesOfClaim(uint256 claimId) external view returns (uint256[] memory) {
        return _gamesOfClaim[claimId];
    }

    function challengerOfGame(uint256 gameId) external view returns (address) {
        return _books[gameId].challenger;
    }

    function bondOfGame(uint256 gameId) external view returns (uint256) {
        return _books[gameId].bond;
    }

    /// @notice The provider stake locked for game `gameId` when it opened (R2; 0 if none was free).
    function backingOfGame(uint256 gameId) external view returns (uint256) {
        return _books[gameId].backing;
    }

    /// @notice End of the challenge window of the job's current claim (0 if none submitted).
    function windowEnd(uint256 jobId) external view returns (uint256) {
        StoredJob storage j = _jobs[jobId];
        StoredClaim storage c = _claims[j.currentClaim];
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

    function _job(uint256 jobId) private view returns (StoredJob storage j) {
        j = _jobs[jobId];
        j.exists(jobId);
    }

    /// @dev A job that must be Claimed, with its current claim (whose state the caller checks).
    function _currentClaim(uint256 jobId) private view returns (StoredJob storage j, uint256 claimId, StoredClaim storage c) {
        j = _job(jobId);
        j.expect(jobId, JobState.Claimed);
        claimId = j.currentClaim;
        c = _claims[claimId];
    }

    function _checkReward(uint256 reward) private pure {
        if (reward == 0) revert ZeroAmount();
        // the reward shares a storage slot with the job's state (StoredJob)
        _range(P_REWARD, reward, 1, MAX_AMOUNT);
    }

    function _checkParams(JobParams calldata p) private view {
        _range(P_WINDOW, p.challengeWindow, MIN_WINDOW, MAX_WINDOW);
        _range(P_CLOCK, p.clock, MIN_CLOCK, MAX_CLOCK);
        _range(P_EXECUTE, p.executeWithin, MIN_EXECUTE, MAX_EXECUTE);
        _range(P_NOPS, p.nOps, 1, MAX_SLOTS);
        _range(P_SLOTS, uint256(p.nInputs) + p.nOps, 2, MAX_SLOTS);
        _range(P_OUTPUT_SLOT, p.outputSlot, 0, uint256(p.nInputs) + p.nOps - 1);
        _range(P_BOND, p.challengerBond, MIN_BOND, MAX_AMOUNT);
        _range(P_STAKE, p.requiredStake, 1, MAX_AMOUNT);
        _range(P_CLAIM_BY, p.claimBy, block.timestamp, type(uint64).max);
    }

    function _range(uint8 which, uint256 v, uint256 lo, uint256 hi) private pure {
        if (v < lo || v > hi) revert ParamOutOfRange(which, v, lo, hi);
    }
}
