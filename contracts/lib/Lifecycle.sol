// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobParams} from "./Types.sol";
import {
    JobNotFound, WrongJobState, WrongClaimState, OutputAlreadyDemanded, OutputAlreadyPublished
} from "./Errors.sol";

/// @notice Job states; 0 means "does not exist". Open -> Claimed -> Finalized, Claimed -> Open
/// (expired or rejected claim; claimable again from `reopensAt`), Open -> Cancelled.
enum JobState {
    None,
    Open,
    Claimed,
    Finalized,
    Cancelled
}

/// @notice Claim states; 0 means "does not exist". Active -> Submitted -> Accepted | Rejected,
/// Active -> Expired.
enum ClaimState {
    None,
    Active,
    Submitted,
    Accepted,
    Rejected,
    Expired
}

/// @notice A job as `getJob` returns it (the ABI, docs/protocol.md §6A); stored as StoredJob.
struct Job {
    JobParams params;
    address poster;
    JobState state;
    uint64 currentClaim;
    uint128 reward;
    uint64 reopensAt; // 0, or when the job reopened: the first time it may be claimed again
}

/// @notice A claim as `getClaim` returns it (the ABI); stored as StoredClaim.
struct Claim {
    uint64 jobId;
    address provider;
    ClaimState state;
    uint32 activeGames;
    uint64 claimedAt;
    uint64 submittedAt;
    uint64 outputDue; // 0: no output demand pending; else the time the output must be published by
    bool outputPublished;
    uint256 lock;
    bytes32 sN;
    bytes32 outputRoot;
}

/// @notice A job in storage (issue 12, protocol.md §6.2): five slots, packed by the calls that
/// read them. The market's ranges make every field fit: amounts below 2^96, durations at most
/// 14 days (< 2^24 s), slot indices at most MAX_SLOTS (v7: 2^17 < 2^24), timestamps < 2^40.
struct StoredJob {
    bytes32 programRoot; // challenge
    bytes32 s0; // challenge
    // claim, submitResult, finalize, cancel, demandOutput: what the lifecycle moves, the reward
    JobState state;
    uint64 currentClaim;
    uint40 reopensAt; // block.timestamp + MIN_CLOCK: 2^40 s is 34,000 years away
    uint96 reward;
    uint24 clock;
    uint24 executeWithin; // here, not with poster: v7's 24-bit slot indices fill that slot
    // submitResult, cancel
    address poster;
    uint24 nInputs;
    uint24 nOps;
    uint24 outputSlot;
    uint24 challengeWindow;
    // claim, challenge
    uint96 requiredStake;
    uint96 challengerBond;
    uint64 claimBy;
}

/// @notice A claim in storage: four slots. Its lock is the job's requiredStake (not stored twice).
struct StoredClaim {
    address provider;
    ClaimState state;
    bool outputPublished;
    uint32 activeGames;
    uint64 jobId;
    uint64 claimedAt;
    uint64 submittedAt;
    uint64 outputDue;
    bytes32 sN;
    bytes32 outputRoot;
}

/// @title JobLifecycle: the only code that changes a Job's state (guarded transitions)
library JobLifecycle {
    function expect(StoredJob storage j, uint256 jobId, JobState want) internal view {
        if (j.state != want) revert WrongJobState(jobId, uint8(j.state), uint8(want));
    }

    function exists(StoredJob storage j, uint256 jobId) internal view {
        if (j.state == JobState.None) revert JobNotFound(jobId);
    }

    /// @dev The caller has checked every range (the casts below cannot truncate).
    function open(StoredJob storage j, uint256 jobId, JobParams calldata p, address poster, uint256 reward) internal {
        expect(j, jobId, JobState.None);
        j.programRoot = p.programRoot;
        j.s0 = p.s0;
        j.state = JobState.Open;
        j.reward = uint96(reward);
        j.clock = uint24(p.clock);
        j.poster = poster;
        j.nInputs = uint24(p.nInputs);
        j.nOps = uint24(p.nOps);
        j.outputSlot = uint24(p.outputSlot);
        j.executeWithin = uint24(p.executeWithin);
        j.challengeWindow = uint24(p.challengeWindow);
        j.requiredStake = uint96(p.requiredStake);
        j.challengerBond = uint96(p.challengerBond);
        j.claimBy = p.claimBy;
    }

    /// @dev The ABI view of a stored job.
    function load(StoredJob storage j) internal view returns (Job memory v) {
        v.params = JobParams(
            j.programRoot, j.s0, j.nInputs, j.nOps, j.outputSlot, j.requiredStake, j.challengerBond,
            j.claimBy, j.executeWithin, j.challengeWindow, j.clock
        );
        v.poster = j.poster;
        v.state = j.state;
        v.currentClaim = j.currentClaim;
        v.reward = j.reward;
        v.reopensAt = j.reopensAt;
    }

    function assign(StoredJob storage j, uint256 jobId, uint256 claimId) internal {
        expect(j, jobId, JobState.Open);
        j.state = JobState.Claimed;
        j.currentClaim = uint64(claimId);
    }

    /// @dev The current claim expired or was rejected: the job is open to claims again from
    /// `reopensAt` (and to its poster's cancel at once).
    function reopen(StoredJob storage j, uint256 jobId, uint256 reopensAt) internal {
        expect(j, jobId, JobState.Claimed);
        j.state = JobState.Open;
        j.currentClaim = 0;
        j.reopensAt = uint40(reopensAt);
    }

    /// @dev Finalized (from Claimed) or Cancelled (from Open): returns the escrowed reward.
    function close(StoredJob storage j, uint256 jobId, JobState to) internal returns (uint256 reward) {
        expect(j, jobId, to == JobState.Finalized ? JobState.Claimed : JobState.Open);
        j.state = to;
        reward = j.reward;
    }

    function executeDeadline(StoredJob storage j, StoredClaim storage c) internal view returns (uint256) {
        return uint256(c.claimedAt) + j.executeWithin;
    }

    function windowEnd(StoredJob storage j, StoredClaim storage c) internal view returns (uint256) {
        return uint256(c.submittedAt) + j.challengeWindow;
    }
}

/// @title ClaimLifecycle: the only code that changes a Claim's state (guarded transitions)
library ClaimLifecycle {
    function expect(StoredClaim storage c, uint256 claimId, ClaimState want) internal view {
        if (c.state != want) revert WrongClaimState(claimId, uint8(c.state), uint8(want));
    }

    function start(StoredClaim storage c, uint256 claimId, uint256 jobId, address provider) internal {
        expect(c, claimId, ClaimState.None);
        c.jobId = uint64(jobId);
        c.provider = provider;
        c.state = ClaimState.Active;
        c.claimedAt = uint64(block.timestamp);
    }

    /// @dev The ABI view of a stored claim; `lock` is its job's requiredStake.
    function load(StoredClaim storage c, uint256 lock) internal view returns (Claim memory v) {
        v = Claim(
            c.jobId, c.provider, c.state, c.activeGames, c.claimedAt, c.submittedAt, c.outputDue,
            c.outputPublished, lock, c.sN, c.outputRoot
        );
    }

    function submit(StoredClaim storage c, uint256 claimId, bytes32 sN, bytes32 outputRoot) internal {
        expect(c, claimId, ClaimState.Active);
        c.sN = sN;
        c.outputRoot = outputRoot;
        c.submittedAt = uint64(block.timestamp);
        c.state = ClaimState.Submitted;
    }

    /// @dev The poster's output demand on a Submitted claim: once, and not after a publication.
    function demandOutput(StoredClaim storage c, uint256 claimId, uint256 due) internal {
        expect(c, claimId, ClaimState.Submitted);
        if (c.outputPublished) revert OutputAlreadyPublished(claimId);
        if (c.outputDue != 0) revert OutputAlreadyDemanded(claimId, c.outputDue);
        c.outputDue = uint64(due);
    }

    /// @dev The output was published (its root checked by the caller): any demand is met.
    function publishOutput(StoredClaim storage c, uint256 claimId) internal {
        expect(c, claimId, ClaimState.Submitted);
        if (c.outputPublished) revert OutputAlreadyPublished(claimId);
        c.outputPublished = true;
        c.outputDue = 0;
    }

    /// @dev Accepted or Rejected (from Submitted), Expired (from Active).
    function settle(StoredClaim storage c, uint256 claimId, ClaimState to) internal {
        expect(c, claimId, to == ClaimState.Expired ? ClaimState.Active : ClaimState.Submitted);
        c.state = to;
    }
}
