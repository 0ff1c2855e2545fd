// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {ReentrancyGuard} from "./lib/ReentrancyGuard.sol";
import {Asset} from "./lib/Asset.sol";
import {
    ZeroAmount, InsufficientStake, LockExists, NoLock, SlashTooLarge, NothingToWithdraw, StillUnbonding,
    NotDeployer, AlreadySet, Unauthorized, AssetHasNoCode
} from "./lib/Errors.sol";

/// @title StakeManager: provider stake, locks (per claim, per game), slashing, unbonding
/// @notice Invariant: balance == totalFree + totalLocked + totalUnbonding (the balance of `asset`:
/// ether when it is address(0), else the ERC-20 fixed at deployment, protocol.md 6.7; a token
/// that moves balances by itself (rebasing) is not supported). A lock's key is the market's: a
/// claim id, or GAME_LOCK_BASE + game id for a game's backing (protocol.md 6.5 R2).
contract StakeManager is IStakeManager, ReentrancyGuard {
    /// @dev One slot (issue 12): an amount that does not fit 96 bits is kept in `_largeLock`, with
    /// `amount` = LARGE (a JobMarket lock always fits: its amounts are below 2^96).
    struct Lock {
        address provider;
        uint96 amount;
    }

    struct Unbond {
        uint256 amount;
        uint256 unlockAt;
    }

    /// @notice Outlasts any claim a stake can answer for: MAX_EXECUTE + MAX_WINDOW + 2*MAX_CLOCK + 1 day.
    uint256 public constant UNBONDING_DELAY = 36 days;

    address public immutable deployer;
    /// @notice The stake asset: address(0) for ether, else an ERC-20 (the market's asset too).
    address public immutable asset;
    address public market;
    /// @notice The second market (replicated jobs, protocol.md 6.8), set once; its lock keys are
    /// REPLICA_KEY_BASE and above, JobMarket's below, and neither may touch the other's.
    address public replicaMarket;
    uint256 public constant REPLICA_KEY_BASE = 2 ** 255;

    mapping(address => uint256) public freeStake;
    mapping(address => Unbond) public unbonding;
    mapping(uint256 => Lock) internal _locks;
    mapping(uint256 => uint256) internal _largeLock;
    uint96 internal constant LARGE = type(uint96).max;
    uint256 public totalFree;
    uint256 public totalLocked;
    uint256 public totalUnbonding;

    /// @dev `asset_` 0 (ether) or a contract, else AssetHasNoCode (a transfer call to an
    /// account without code would "succeed" and move nothing).
    constructor(address asset_) {
        if (asset_ != address(0) && asset_.code.length == 0) revert AssetHasNoCode(asset_);
        deployer = msg.sender;
        asset = asset_;
    }

    /// @dev The caller must be a market and `key` in its key range.
    modifier onlyMarket(uint256 key) {
        bool replica = key >= REPLICA_KEY_BASE;
        if (msg.sender != (replica ? replicaMarket : market) || msg.sender == address(0)) {
            revert Unauthorized(msg.sender);
        }
        _;
    }

    /// @notice One-time wiring to the JobMarket, by the deployer.
    function setMarket(address market_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (market != address(0)) revert AlreadySet();
        market = market_;
    }

    /// @notice One-time wiring to the ReplicaMarket, by the deployer.
    function setReplicaMarket(address replica_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (replicaMarket != address(0)) revert AlreadySet();
        replicaMarket = replica_;
    }

    /// @notice Ether market: adds msg.value to the caller's free stake.
    function deposit() external payable {
        Asset.expectEther(asset);
        if (msg.value == 0) revert ZeroAmount();
        _addFree(msg.sender, msg.value);
    }

    /// @notice Token market: pulls `amount` (approved beforehand) and adds what arrived to the
    /// caller's free stake (less than `amount` for a fee-on-transfer token).
    function depositToken(uint256 amount) external payable nonReentrant {
        Asset.expectToken(asset);
        if (amount == 0) revert ZeroAmount();
        uint256 arrived = Asset.pull(asset, msg.sender, amount);
        if (arrived == 0) revert ZeroAmount();
        _addFree(msg.sender, arrived);
    }

    function _addFree(address provider, uint256 amount) private {
        freeStake[provider] += amount;
        totalFree += amount;
        emit Deposited(provider, amount);
    }

    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 free = freeStake[msg.sender];
        if (free < amount) revert InsufficientStake(msg.sender, free, amount);
        freeStake[msg.sender] = free - amount;
        totalFree -= amount;
        Unbond storage u = unbonding[msg.sender];
        u.amount += amount;
        u.unlockAt = block.timestamp + UNBONDING_DELAY;
        totalUnbonding += amount;
        emit UnbondRequested(msg.sender, u.amount, u.unlockAt);
    }

    function withdraw() external nonReentrant {
        Unbond memory u = unbonding[msg.sender];
        if (u.amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < u.unlockAt) revert StillUnbonding(msg.sender, u.unlockAt, block.timestamp);
        delete unbonding[msg.sender];
        totalUnbonding -= u.amount;
        emit Withdrawn(msg.sender, u.amount);
        Asset.push(asset, msg.sender, u.amount);
    }

    function lock(address provider, uint256 claimId, uint256 amount) external onlyMarket(claimId) {
        uint256 free = freeStake[provider];
        if (free < amount) revert InsufficientStake(provider, free, amount);
        _lock(provider, claimId, amount, free);
    }

    function lockUpTo(address provider, uint256 claimId, uint256 max) external onlyMarket(claimId) returns (uint256 amount) {
        uint256 free = freeStake[provider];
        amount = free < max ? free : max;
        // an unbacked game holds no lock: the market settles it without calling back
        if (amount != 0) _lock(provider, claimId, amount, free);
    }

    function _lock(address provider, uint256 claimId, uint256 amount, uint256 free) private {
        if (_locks[claimId].provider != address(0)) revert LockExists(claimId);
        freeStake[provider] = free - amount;
        totalFree -= amount;
        totalLocked += amount;
        if (amount < LARGE) {
            _locks[claimId] = Lock(provider, uint96(amount));
        } else {
            _locks[claimId] = Lock(provider, LARGE);
            _largeLock[claimId] = amount;
        }
        emit Locked(provider, claimId, amount);
    }

    /// @notice The lock under `claimId` (a claim id or a game's key): provider 0 when none.
    function lockOf(uint256 claimId) public view returns (address provider, uint256 amount) {
        Lock memory l = _locks[claimId];
        return (l.provider, l.amount == LARGE ? _largeLock[claimId] : l.amount);
    }

    /// @dev Reads and deletes the lock under `claimId` (NoLock when none).
    function _take(uint256 claimId) private returns (address provider, uint256 amount) {
        (provider, amount) = lockOf(claimId);
        if (provider == address(0)) revert NoLock(claimId);
        delete _locks[claimId];
        if (amount >= LARGE) delete _largeLock[claimId];
    }

    function unlock(uint256 claimId) external onlyMarket(claimId) {
        (address provider, uint256 amount) = _take(claimId);
        totalLocked -= amount;
        freeStake[provider] += amount;
        totalFree += amount;
        emit Unlocked(provider, claimId, amount);
    }

    function slash(uint256 claimId, uint256 amount) external onlyMarket(claimId) {
        (address provider, uint256 locked) = lockOf(claimId);
        if (provider == address(0)) revert NoLock(claimId);
        if (amount > locked) revert SlashTooLarge(claimId, amount, locked);
        _take(claimId);
        totalLocked -= locked;
        uint256 rest = locked - amount;
        if (rest != 0) {
            freeStake[provider] += rest;
            totalFree += rest;
            emit Unlocked(provider, claimId, rest);
        }
        emit Slashed(provider, claimId, amount);
        // the calling market measures what arrived (a fee-on-transfer token delivers less)
        if (amount != 0) Asset.push(asset, msg.sender, amount);
    }
}
