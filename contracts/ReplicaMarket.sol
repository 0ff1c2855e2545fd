// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {IDisputeGame, IGameResolver} from "./interfaces/IDisputeGame.sol";
import {JobParams} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {ReentrancyGuard} from "./lib/ReentrancyGuard.sol";
import {Asset} from "./lib/Asset.sol";
import {
    ZeroAmount, ParamOutOfRange, ClaimDeadlinePassed, WrongJobState, JobNotFound, NotPoster, BadOutputProof,
    WindowClosed, WindowOpen, WrongBond, GamesPending, NothingToWithdraw, NotDeployer, AlreadySet, Unauthorized,
    JobCoolingDown, NotEligible, NotSeatHolder, WrongSeatState, CommitClosed, RevealsNotOpen, RevealsClosed,
    RevealsOpen, BadReveal
} from "./lib/Errors.sol";

/// @notice Who may sit in a replicated job, and how many replicas it wants (protocol.md §6.8).
struct ReplicaTerms {
    uint8 replicas;
    uint32 revealWindow;
    uint128 minStake;
    uint32 minAccepted;
    address[] allow;
}

/// @notice A replicated job; `taken` seats of `replicas` in the current round.
struct ReplicaJob {
    JobParams params;
    address poster;
    uint8 state;
    uint8 replicas;
    uint8 taken;
    uint8 pendingPairs;
    uint32 revealWindow;
    uint128 reward;
    uint64 reopensAt;
    uint64 commitBy;
    uint64 windowEnd;
    uint128 minStake;
    uint32 minAccepted;
    bool restricted;
}

/// @notice One replica's place in one round of a job.
struct Seat {
    uint64 jobId;
    address provider;
    uint8 state;
    uint32 activeGames; // watch games open against it
    uint128 lock;
    bytes32 commitment;
    bytes32 sN;
    bytes32 outputRoot;
}

/// @notice Per provider, its seats in this market: how they ended, and what its locks lost.
struct ProviderRecord {
    uint64 accepted;
    uint64 rejected;
    uint64 expired;
    uint128 slashed;
}

/// @title ReplicaMarket: replicated jobs, commit-reveal, pair games between disagreeing replicas
/// @notice docs/protocol.md §6.8. Invariant: balance == totalEscrow + totalBonds + totalCredits (the
/// asset's, as JobMarket, §6.7). Stake locks live in the shared StakeManager under keys
/// >= REPLICA_KEY_BASE; games are played on this market's own DisputeGame instance, which reports
/// to it. A seat's share of the reward does not depend on the other seats, so no replica gains
/// by making another fail; a seat that loses a game loses its lock.
contract ReplicaMarket is IGameResolver, ReentrancyGuard {
    uint8 internal constant J_OPEN = 1;
    uint8 internal constant J_RUNNING = 2;
    uint8 internal constant J_DISPUTING = 3;
    uint8 internal constant J_WINDOW = 4;
    uint8 internal constant J_FINALIZED = 5;
    uint8 internal constant J_CANCELLED = 6;

    uint8 internal constant S_CLAIMED = 1;
    uint8 internal constant S_COMMITTED = 2;
    uint8 internal constant S_REVEALED = 3;
    uint8 internal constant S_ACCEPTED = 4;
    uint8 internal constant S_REJECTED = 5;
    uint8 internal constant S_EXPIRED = 6;
    uint8 internal constant S_RELEASED = 7;

    uint8 public constant REASON_REWARD = 1;
    uint8 public constant REASON_REFUND = 2;
    uint8 public constant REASON_BOND = 3;
    uint8 public constant REASON_BOUNTY = 4;
    uint8 public constant REASON_COMPENSATION = 5;

    uint256 public constant REPLICA_KEY_BASE = 2 ** 255;
    uint256 public constant GAME_LOCK_BASE = 2 ** 128;
    uint256 public constant MAX_REPLICAS = 5;
    uint256 public constant MAX_ALLOW = 32;
    uint256 public constant CHALLENGER_SHARE_BPS = 5000;
    uint256 public constant MISSED_DEADLINE_SLASH_BPS = 1000;
    uint256 public constant MAX_WINDOW = 14 days;
    uint256 public constant MAX_CLOCK = 7 days;
    uint256 public constant MIN_EXECUTE = 60;
    uint256 public constant MAX_EXECUTE = 7 days;
    uint256 public constant MAX_SLOTS = 2 ** 17; // v7: OpCodec.MAX_SLOTS (docs/protocol.md §1)
    address public constant BURN = 0x000000000000000000000000000000000000dEaD;

    // ParamOutOfRange ids (0-9 as JobMarket)
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
    uint8 internal constant P_REPLICAS = 10;
    uint8 internal constant P_REVEAL = 11;
    uint8 internal constant P_ALLOW = 12;

    IStakeManager public immutable stakes;
    address public immutable asset;
    address public immutable deployer;
    uint256 public immutable MIN_CLOCK;
    uint256 public immutable MIN_BOND;
    IDisputeGame public game;

    /// @dev A game's sides and money: a pair game has a challenger seat and no bond; a watch game
    /// a watcher, its bond and the defender's backing (§6.5 R2).
    struct GameBook {
        uint64 challengerSeat;
        address watcher;
        uint128 bond;
        uint128 backing;
    }

    mapping(uint256 => ReplicaJob) internal _jobs;
    mapping(uint256 => Seat) internal _seatOf;
    mapping(uint256 => uint256[]) internal _seats;
    mapping(uint256 => mapping(address => bool)) public allowed;
    mapping(uint256 => GameBook) internal _books;
    mapping(address => ProviderRecord) internal _records;
    mapping(address => uint256) public credits;
    uint256 public jobCount;
    uint256 public seatCount;
    uint256 public totalEscrow;
    uint256 public totalBonds;
    uint256 public totalCredits;
    uint256 public totalBurned;

    event ReplicaJobPosted(
        uint256 indexed jobId, address indexed poster, uint256 reward, uint256 replicas, uint256 revealWindow,
        JobParams params, string specLocator
    );
    event SeatClaimed(uint256 indexed jobId, uint256 indexed seatId, address indexed provider, uint256 lock);
    event RoundStarted(uint256 indexed jobId, uint256 commitBy, uint256 revealBy);
    event Committed(uint256 indexed jobId, uint256 indexed seatId, address indexed provider);
    event Revealed(
        uint256 indexed jobId, uint256 indexed seatId, address indexed provider, bytes32 sN, bytes32 outputRoot,
        string outputLocator
    );
    event SeatExpired(uint256 indexed jobId, uint256 indexed seatId, address indexed provider, uint256 slashed);
    event PairGame(uint256 indexed jobId, uint256 indexed gameId, uint256 defenderSeat, uint256 challengerSeat);
    event Tallied(uint256 indexed jobId, uint256 revealed, uint256 pairGames);
    event WindowStarted(uint256 indexed jobId, uint256 windowEnd, uint256 upheld);
    event Challenged(
        uint256 indexed jobId, uint256 indexed seatId, uint256 indexed gameId, address challenger, uint256 bond,
        uint256 backing
    );
    event GameSettled(
        uint256 indexed gameId, uint256 indexed seatId, address indexed winner, bool providerWon, uint256 bond,
        uint256 backing, uint256 bounty, uint256 burned
    );
    event SeatRejected(uint256 indexed jobId, uint256 indexed seatId, uint256 indexed gameId, uint256 slashed);
    event SeatAccepted(uint256 indexed jobId, uint256 indexed seatId, address indexed provider, uint256 share);
    event JobFinalized(uint256 indexed jobId, uint256 accepted, uint256 refund);
    event JobReopened(uint256 indexed jobId, uint256 reopensAt);
    event JobCancelled(uint256 indexed jobId, address indexed poster, uint256 refund);
    event Credited(address indexed account, uint256 amount, uint8 reason);
    event Withdrawn(address indexed account, uint256 amount);

    constructor(IStakeManager stakes_, uint256 minClock_, uint256 minBond_) {
        _range(P_CLOCK, minClock_, 1, MAX_CLOCK);
        _range(P_BOND, minBond_, 1, type(uint128).max);
        stakes = stakes_;
        asset = stakes_.asset();
        deployer = msg.sender;
        MIN_CLOCK = minClock_;
        MIN_BOND = minBond_;
    }

    /// @notice One-time wiring to this market's own DisputeGame instance, by the deployer.
    function setGame(IDisputeGame game_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (address(game) != address(0)) revert AlreadySet();
        game = game_;
    }

    /// @notice Only slashed stake arrives by plain transfer.
    receive() external payable {
        if (msg.sender != address(stakes)) revert Unauthorized(msg.sender);
    }

    // ------------------------------------------------------------------ post, claim, cancel

    function post(JobParams calldata p, ReplicaTerms calldata t, string calldata specLocator)
        external
        payable
        returns (uint256)
    {
        Asset.expectEther(asset);
        _checkParams(p, t);
        _checkReward(msg.value, t.replicas);
        return _open(p, t, specLocator, msg.value);
    }

    /// @notice Token market: the reward is what arrived of `amount` (§6.7).
    function postToken(JobParams calldata p, ReplicaTerms calldata t, string calldata specLocator, uint256 amount)
        external
        payable
        nonReentrant
        returns (uint256)
    {
        Asset.expectToken(asset);
        if (amount == 0) revert ZeroAmount();
        _checkParams(p, t);
        uint256 reward = Asset.pull(asset, msg.sender, amount);
        _checkReward(reward, t.replicas);
        return _open(p, t, specLocator, reward);
    }

    function _open(JobParams calldata p, ReplicaTerms calldata t, string calldata locator, uint256 reward)
        private
        returns (uint256 jobId)
    {
        jobId = ++jobCount;
        ReplicaJob storage j = _jobs[jobId];
        j.params = p;
        j.poster = msg.sender;
        j.state = J_OPEN;
        j.replicas = t.replicas;
        j.revealWindow = t.revealWindow;
        j.reward = uint128(reward);
        j.minStake = t.minStake;
        j.minAccepted = t.minAccepted;
        j.restricted = t.allow.length != 0;
        for (uint256 i = 0; i < t.allow.length; ++i) {
            allowed[jobId][t.allow[i]] = true;
        }
        totalEscrow += reward;
        emit ReplicaJobPosted(jobId, msg.sender, reward, t.replicas, t.revealWindow, p, locator);
    }

    /// @notice Takes a seat with a lock of requiredStake; the last seat starts the round.
    function claim(uint256 jobId) external returns (uint256 seatId) {
        ReplicaJob storage j = _expect(jobId, J_OPEN);
        if (block.timestamp > j.params.claimBy) revert ClaimDeadlinePassed(jobId, j.params.claimBy, block.timestamp);
        if (block.timestamp < j.reopensAt) revert JobCoolingDown(jobId, j.reopensAt, block.timestamp);
        uint8 why = eligible(jobId, msg.sender);
        if (why != 0) revert NotEligible(jobId, msg.sender, why);
        seatId = ++seatCount;
        uint128 lock = j.params.requiredStake;
        _seatOf[seatId] = Seat(uint64(jobId), msg.sender, S_CLAIMED, 0, lock, 0, 0, 0);
        _seats[jobId].push(seatId);
        stakes.lock(msg.sender, REPLICA_KEY_BASE + seatId, lock);
        emit SeatClaimed(jobId, seatId, msg.sender, lock);
        if (++j.taken == j.replicas) {
            j.state = J_RUNNING;
            uint256 commitBy = block.timestamp + j.params.executeWithin;
            j.commitBy = uint64(commitBy);
            emit RoundStarted(jobId, commitBy, commitBy + j.revealWindow);
        }
    }

    /// @notice 0 when `provider` may claim a seat of `jobId` now (state and time aside), else
    /// NotEligible's reason: 1 not listed, 2 free stake below minStake, 3 record, 4 already seated.
    function eligible(uint256 jobId, address provider) public view returns (uint8) {
        ReplicaJob storage j = _jobs[jobId];
        if (j.restricted && !allowed[jobId][provider]) return 1;
        if (stakes.freeStake(provider) < j.minStake) return 2;
        if (_records[provider].accepted < j.minAccepted) return 3;
        uint256[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            if (_seatOf[seats[i]].provider == provider) return 4;
        }
        return 0;
    }

    /// @notice The poster while no seat is taken, or anyone once claimBy has passed with seats
    /// still unfilled: seats are released, the escrow goes back to the poster.
    function cancel(uint256 jobId) external nonReentrant {
        ReplicaJob storage j = _expect(jobId, J_OPEN);
        bool late = block.timestamp > j.params.claimBy;
        if (!late && (msg.sender != j.poster || j.taken != 0)) revert NotPoster(jobId, msg.sender, j.poster);
        uint256[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            _seatOf[seats[i]].state = S_RELEASED;
            stakes.unlock(REPLICA_KEY_BASE + seats[i]);
        }
        j.state = J_CANCELLED;
        uint256 refund = j.reward;
        totalEscrow -= refund;
        _credit(j.poster, refund, REASON_REFUND);
        emit JobCancelled(jobId, j.poster, refund);
    }

    // ------------------------------------------------------------------ commit, reveal, tally

    /// @notice commitment = keccak256(abi.encode(sN, provider, salt)), before commitBy (any time
    /// while the round has not started).
    function commit(uint256 seatId, bytes32 commitment) external {
        Seat storage s = _holder(seatId, S_CLAIMED);
        ReplicaJob storage j = _jobs[s.jobId];
        if (j.state == J_RUNNING && block.timestamp > j.commitBy) {
            revert CommitClosed(seatId, j.commitBy, block.timestamp);
        }
        s.commitment = commitment;
        s.state = S_COMMITTED;
        emit Committed(s.jobId, seatId, msg.sender);
    }

    /// @notice Opens the commitment once every seat has committed or commitBy has passed; the
    /// last reveal tallies.
    function reveal(
        uint256 seatId,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof,
        bytes32 salt,
        string calldata outputLocator
    ) external nonReentrant {
        Seat storage s = _holder(seatId, S_COMMITTED);
        uint256 jobId = s.jobId;
        ReplicaJob storage j = _revealable(jobId);
        bytes32 h = keccak256(abi.encode(sN, msg.sender, salt));
        if (h != s.commitment) revert BadReveal(seatId, h, s.commitment);
        _checkOutput(jobId, j, sN, outputRoot, outputProof);
        s.sN = sN;
        s.outputRoot = outputRoot;
        s.state = S_REVEALED;
        emit Revealed(jobId, seatId, msg.sender, sN, outputRoot, outputLocator);
        (, bool allRevealed) = _progress(jobId);
        if (allRevealed) _tally(jobId, j);
    }

    /// @dev Reveals are open once every seat has committed or commitBy has passed, until revealBy.
    function _revealable(uint256 jobId) private view returns (ReplicaJob storage j) {
        j = _expect(jobId, J_RUNNING);
        (bool allCommitted,) = _progress(jobId);
        if (!allCommitted && block.timestamp <= j.commitBy) revert RevealsNotOpen(jobId, j.commitBy, block.timestamp);
        uint256 end = uint256(j.commitBy) + j.revealWindow;
        if (block.timestamp > end) revert RevealsClosed(jobId, end, block.timestamp);
    }

    /// @dev `outputRoot` is slot outputSlot of sN (§6.2 step 3).
    function _checkOutput(
        uint256 jobId,
        ReplicaJob storage j,
        bytes32 sN,
        bytes32 outputRoot,
        bytes32[] calldata outputProof
    ) private view {
        uint256 depth = Merkle.ceilLog2(uint256(j.params.nInputs) + j.params.nOps);
        // a proof of the wrong depth reaches no root: report the unproven output root itself
        if (outputProof.length != depth) revert BadOutputProof(jobId, outputRoot, sN);
        bytes32 got = Merkle.rootFrom(outputRoot, j.params.outputSlot, outputProof);
        if (got != sN) revert BadOutputProof(jobId, got, sN);
    }

    /// @notice Anyone, after revealBy (or once all have revealed): expires the silent seats and
    /// opens a pair game for each two revealed seats that disagree.
    function tally(uint256 jobId) external nonReentrant {
        ReplicaJob storage j = _expect(jobId, J_RUNNING);
        (, bool allRevealed) = _progress(jobId);
        uint256 end = uint256(j.commitBy) + j.revealWindow;
        if (!allRevealed && block.timestamp <= end) revert RevealsOpen(jobId, end, block.timestamp);
        _tally(jobId, j);
    }

    function _progress(uint256 jobId) private view returns (bool allCommitted, bool allRevealed) {
        uint256[] storage seats = _seats[jobId];
        allCommitted = true;
        allRevealed = true;
        for (uint256 i = 0; i < seats.length; ++i) {
            uint8 st = _seatOf[seats[i]].state;
            if (st == S_CLAIMED) allCommitted = false;
            if (st != S_REVEALED) allRevealed = false;
        }
    }

    function _tally(uint256 jobId, ReplicaJob storage j) private {
        uint256[] memory seats = _seats[jobId];
        uint256 revealed;
        for (uint256 i = 0; i < seats.length; ++i) {
            Seat storage s = _seatOf[seats[i]];
            if (s.state == S_REVEALED) {
                ++revealed;
                continue;
            }
            // a missed commit or reveal: as a missed execution deadline (§6.2 step 6)
            uint256 slashed = uint256(s.lock) * MISSED_DEADLINE_SLASH_BPS / 10_000;
            s.state = S_EXPIRED;
            ProviderRecord storage rec = _records[s.provider];
            rec.expired += 1;
            rec.slashed += uint128(slashed);
            _credit(j.poster, _slash(REPLICA_KEY_BASE + seats[i], slashed), REASON_COMPENSATION);
            emit SeatExpired(jobId, seats[i], s.provider, slashed);
        }
        uint256 pairs;
        for (uint256 a = 0; a < seats.length; ++a) {
            Seat storage d = _seatOf[seats[a]];
            if (d.state != S_REVEALED) continue;
            for (uint256 b = a + 1; b < seats.length; ++b) {
                Seat storage c = _seatOf[seats[b]];
                if (c.state != S_REVEALED || c.sN == d.sN) continue;
                uint256 gameId = _createGame(j, seats[a], d.provider, c.provider, d.sN);
                _books[gameId] = GameBook(uint64(seats[b]), address(0), 0, 0);
                ++pairs;
                emit PairGame(jobId, gameId, seats[a], seats[b]);
            }
        }
        emit Tallied(jobId, revealed, pairs);
        if (pairs == 0) {
            _afterGames(jobId, j);
        } else {
            j.state = J_DISPUTING;
            j.pendingPairs = uint8(pairs);
        }
    }

    function _createGame(ReplicaJob storage j, uint256 seatId, address provider, address challenger, bytes32 sN)
        private
        returns (uint256)
    {
        JobParams storage p = j.params;
        return game.create(seatId, provider, challenger, p.programRoot, p.s0, sN, p.nInputs, p.nOps, p.clock);
    }

    /// @dev The pair games are over: the seats still Revealed are upheld (one sN); none reopens the job.
    function _afterGames(uint256 jobId, ReplicaJob storage j) private {
        uint256 upheld = _upheld(jobId);
        if (upheld == 0) return _reopen(jobId, j);
        j.state = J_WINDOW;
        uint256 end = block.timestamp + j.params.challengeWindow;
        j.windowEnd = uint64(end);
        emit WindowStarted(jobId, end, upheld);
        if (j.params.challengeWindow == 0) _finalize(jobId, j);
    }

    function _upheld(uint256 jobId) private view returns (uint256 n) {
        uint256[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            if (_seatOf[seats[i]].state == S_REVEALED) ++n;
        }
    }

    // ------------------------------------------------------------------ window: watchtowers, finalize

    function challenge(uint256 jobId, uint256 seatId) external payable returns (uint256) {
        Asset.expectEther(asset);
        ReplicaJob storage j = _challengeable(jobId, seatId);
        if (msg.value != j.params.challengerBond) revert WrongBond(jobId, msg.value, j.params.challengerBond);
        return _watch(j, jobId, seatId, msg.value);
    }

    function challengeToken(uint256 jobId, uint256 seatId, uint256 amount)
        external
        payable
        nonReentrant
        returns (uint256)
    {
        Asset.expectToken(asset);
        ReplicaJob storage j = _challengeable(jobId, seatId);
        uint256 bond = Asset.pull(asset, msg.sender, amount);
        if (bond < j.params.challengerBond) revert WrongBond(jobId, bond, j.params.challengerBond);
        _range(P_BOND, bond, j.params.challengerBond, type(uint128).max);
        return _watch(j, jobId, seatId, bond);
    }

    function _challengeable(uint256 jobId, uint256 seatId) private view returns (ReplicaJob storage j) {
        j = _expect(jobId, J_WINDOW);
        Seat storage s = _seatOf[seatId];
        if (s.jobId != jobId || s.state != S_REVEALED) revert WrongSeatState(seatId, s.state, S_REVEALED);
        if (block.timestamp >= j.windowEnd) revert WindowClosed(seatId, j.windowEnd, block.timestamp);
    }

    /// @dev A watch game against one upheld seat, backed as §6.5 R2.
    function _watch(ReplicaJob storage j, uint256 jobId, uint256 seatId, uint256 bond) private returns (uint256 gameId) {
        Seat storage s = _seatOf[seatId];
        s.activeGames += 1;
        totalBonds += bond;
        gameId = _createGame(j, seatId, s.provider, msg.sender, s.sN);
        uint256 backing = stakes.lockUpTo(s.provider, REPLICA_KEY_BASE + GAME_LOCK_BASE + gameId, s.lock);
        _books[gameId] = GameBook(0, msg.sender, uint128(bond), uint128(backing));
        emit Challenged(jobId, seatId, gameId, msg.sender, bond, backing);
    }

    /// @notice Anyone, after the window with no watch game open on an upheld seat: each upheld seat
    /// is paid its share; the poster gets back the rest.
    function finalize(uint256 jobId) external {
        ReplicaJob storage j = _expect(jobId, J_WINDOW);
        if (block.timestamp < j.windowEnd) revert WindowOpen(jobId, j.windowEnd, block.timestamp);
        _finalize(jobId, j);
    }

    function _finalize(uint256 jobId, ReplicaJob storage j) private {
        uint256[] storage seats = _seats[jobId];
        uint256 share = j.reward / j.replicas;
        uint256 accepted;
        for (uint256 i = 0; i < seats.length; ++i) {
            uint256 seatId = seats[i];
            Seat storage s = _seatOf[seatId];
            if (s.state != S_REVEALED) continue;
            if (s.activeGames != 0) revert GamesPending(seatId, s.activeGames);
            s.state = S_ACCEPTED;
            _records[s.provider].accepted += 1;
            ++accepted;
            stakes.unlock(REPLICA_KEY_BASE + seatId);
            _credit(s.provider, share, REASON_REWARD);
            emit SeatAccepted(jobId, seatId, s.provider, share);
        }
        j.state = J_FINALIZED;
        uint256 reward = j.reward;
        totalEscrow -= reward;
        uint256 refund = reward - share * accepted;
        _credit(j.poster, refund, REASON_REFUND);
        emit JobFinalized(jobId, accepted, refund);
    }

    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        Asset.push(asset, msg.sender, amount);
    }

    // ------------------------------------------------------------------ game callback

    /// @inheritdoc IGameResolver
    /// @dev `seatId` is the defending seat. Pair game: the loser's first lost game rejects it, half
    /// its lock to the winner. Watch game: §6.5 R3 with the seat's lock burned (R1).
    function onGameResolved(uint256 gameId, uint256 seatId, bool providerWon) external nonReentrant {
        if (msg.sender != address(game)) revert Unauthorized(msg.sender);
        GameBook memory b = _books[gameId];
        Seat storage d = _seatOf[seatId];
        uint256 jobId = d.jobId;
        ReplicaJob storage j = _jobs[jobId];
        if (b.watcher == address(0)) {
            uint256 loser = providerWon ? b.challengerSeat : seatId;
            address winner = providerWon ? d.provider : _seatOf[b.challengerSeat].provider;
            (uint256 bounty, uint256 burned) = _rejectPair(jobId, loser, gameId, winner);
            emit GameSettled(gameId, seatId, winner, providerWon, 0, 0, bounty, burned);
            if (--j.pendingPairs == 0) _afterGames(jobId, j);
            return;
        }
        totalBonds -= b.bond;
        d.activeGames -= 1;
        if (providerWon) {
            if (b.backing != 0) stakes.unlock(REPLICA_KEY_BASE + GAME_LOCK_BASE + gameId);
            _credit(d.provider, b.bond, REASON_BOND);
            emit GameSettled(gameId, seatId, d.provider, true, b.bond, b.backing, 0, 0);
            return;
        }
        uint256 arrived = b.backing == 0 ? 0 : _slash(REPLICA_KEY_BASE + GAME_LOCK_BASE + gameId, b.backing);
        uint256 bountyW = arrived * CHALLENGER_SHARE_BPS / 10_000;
        uint256 burnedW = arrived - bountyW;
        _records[d.provider].slashed += b.backing;
        _credit(b.watcher, b.bond, REASON_BOND);
        _credit(b.watcher, bountyW, REASON_BOUNTY);
        emit GameSettled(gameId, seatId, b.watcher, false, b.bond, b.backing, bountyW, burnedW);
        if (d.state == S_REVEALED) {
            burnedW += _rejectSeat(jobId, seatId, gameId);
            if (j.state == J_WINDOW && _upheld(jobId) == 0) _reopen(jobId, j);
        }
        _burn(burnedW);
    }

    /// @dev A pair game's loser: rejected at its first loss, its lock split between the winner and BURN.
    function _rejectPair(uint256 jobId, uint256 loser, uint256 gameId, address winner)
        private
        returns (uint256 bounty, uint256 burned)
    {
        if (_seatOf[loser].state != S_REVEALED) return (0, 0);
        uint256 arrived = _rejectSeat(jobId, loser, gameId);
        bounty = arrived * CHALLENGER_SHARE_BPS / 10_000;
        burned = arrived - bounty;
        _credit(winner, bounty, REASON_BOUNTY);
        _burn(burned);
    }

    /// @dev Seat -> Rejected, its whole lock slashed here; returns what arrived.
    function _rejectSeat(uint256 jobId, uint256 seatId, uint256 gameId) private returns (uint256 arrived) {
        Seat storage s = _seatOf[seatId];
        s.state = S_REJECTED;
        ProviderRecord storage rec = _records[s.provider];
        rec.rejected += 1;
        rec.slashed += s.lock;
        arrived = _slash(REPLICA_KEY_BASE + seatId, s.lock);
        emit SeatRejected(jobId, seatId, gameId, s.lock);
    }

    function _reopen(uint256 jobId, ReplicaJob storage j) private {
        uint256 reopensAt = block.timestamp + MIN_CLOCK;
        j.state = J_OPEN;
        j.taken = 0;
        j.commitBy = 0;
        j.windowEnd = 0;
        j.reopensAt = uint64(reopensAt);
        delete _seats[jobId];
        emit JobReopened(jobId, reopensAt);
    }

    function _slash(uint256 key, uint256 amount) private returns (uint256 arrived) {
        if (asset == address(0)) {
            stakes.slash(key, amount);
            return amount;
        }
        uint256 before = Asset.held(asset);
        stakes.slash(key, amount);
        arrived = Asset.held(asset) - before;
    }

    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        Asset.push(asset, BURN, amount);
    }

    function _credit(address to, uint256 amount, uint8 reason) private {
        if (amount == 0) return;
        credits[to] += amount;
        totalCredits += amount;
        emit Credited(to, amount, reason);
    }

    // ------------------------------------------------------------------ views

    function getJob(uint256 jobId) external view returns (ReplicaJob memory) {
        return _jobs[jobId];
    }

    function getSeat(uint256 seatId) external view returns (Seat memory) {
        return _seatOf[seatId];
    }

    /// @notice The seats of the job's current round, in claim order.
    function seatsOf(uint256 jobId) external view returns (uint256[] memory) {
        return _seats[jobId];
    }

    function recordOf(address provider) external view returns (ProviderRecord memory) {
        return _records[provider];
    }

    function gameBook(uint256 gameId) external view returns (GameBook memory) {
        return _books[gameId];
    }

    /// @notice The end of the reveal phase of the current round (0 before it starts).
    function revealBy(uint256 jobId) external view returns (uint256) {
        ReplicaJob storage j = _jobs[jobId];
        return j.commitBy == 0 ? 0 : uint256(j.commitBy) + j.revealWindow;
    }

    // ------------------------------------------------------------------ internals

    function _expect(uint256 jobId, uint8 want) private view returns (ReplicaJob storage j) {
        j = _jobs[jobId];
        if (j.state == 0) revert JobNotFound(jobId);
        if (j.state != want) revert WrongJobState(jobId, j.state, want);
    }

    function _holder(uint256 seatId, uint8 want) private view returns (Seat storage s) {
        s = _seatOf[seatId];
        if (s.provider != msg.sender) revert NotSeatHolder(seatId, msg.sender, s.provider);
        if (s.state != want) revert WrongSeatState(seatId, s.state, want);
    }

    function _checkReward(uint256 reward, uint256 replicas) private pure {
        if (reward == 0) revert ZeroAmount();
        // every seat's share is at least 1
        _range(P_REWARD, reward, replicas, type(uint128).max);
    }

    function _checkParams(JobParams calldata p, ReplicaTerms calldata t) private view {
        _range(P_REPLICAS, t.replicas, 2, MAX_REPLICAS);
        _range(P_REVEAL, t.revealWindow, MIN_CLOCK, MAX_CLOCK);
        _range(P_ALLOW, t.allow.length, 0, MAX_ALLOW);
        _range(P_WINDOW, p.challengeWindow, 0, MAX_WINDOW);
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
