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

struct Job {
    JobParams params;
    address poster;
    JobState state;
    uint64 currentClaim;
    uint128 reward; // the market refuses a larger msg.value (ParamOutOfRange 0)
    uint64 reopensAt; // 0, or when the job reopened: the first time it may be claimed again
}

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

/// @title JobLifecycle: the only code that changes a Job's state (guarded transitions)
library JobLifecycle {
    function expect(Job storage j, uint256 jobId, JobState want) internal view {
        if (j.state != want) revert WrongJobState(jobId, uint8(j.state), uint8(want));
    }

    function exists(Job storage j, uint256 jobId) internal view {
        if (j.state == JobState.None) revert JobNotFound(jobId);
    }

    function open(Job storage j, uint256 jobId, JobParams calldata p, address poster, uint256 reward) internal {
        expect(j, jobId, JobState.None);
        j.params = p;
        j.poster = poster;
        j.state = JobState.Open;
        j.reward = uint128(reward);
    }

    function assign(Job storage j, uint256 jobId, uint256 claimId) internal {
        expect(j, jobId, JobState.Open);
        j.state = JobState.Claimed;
        j.currentClaim = uint64(claimId);
    }

    /// @dev The current claim expired or was rejected: the job is open to claims again from
    /// `reopensAt` (and to its poster's cancel at once).
    function reopen(Job storage j, uint256 jobId, uint256 reopensAt) internal {
        expect(j, jobId, JobState.Claimed);
        j.state = JobState.Open;
        j.currentClaim = 0;
        j.reopensAt = uint64(reopensAt);
    }

    /// @dev Finalized (from Claimed) or Cancelled (from Open): returns the escrowed reward.
    function close(Job storage j, uint256 jobId, JobState to) internal returns (uint256 reward) {
        expect(j, jobId, to == JobState.Finalized ? JobState.Claimed : JobState.Open);
        j.state = to;
        reward = j.reward;
    }

    function executeDeadline(Job storage j, Claim storage c) internal view returns (uint256) {
        return uint256(c.claimedAt) + j.params.executeWithin;
    }

    function windowEnd(Job storage j, Claim storage c) internal view returns (uint256) {
        return uint256(c.submittedAt) + j.params.challengeWindow;
    }
}

/// @title ClaimLifecycle: the only code that changes a Claim's state (guarded transitions)
library ClaimLifecycle {
    function expect(Claim storage c, uint256 claimId, ClaimState want) internal view {
        if (c.state != want) revert WrongClaimState(claimId, uint8(c.state), uint8(want));
    }

    function start(Claim storage c, uint256 claimId, uint256 jobId, address provider, uint256 lock) internal {
        expect(c, claimId, ClaimState.None);
        c.jobId = uint64(jobId);
        c.provider = provider;
        c.state = ClaimState.Active;
        c.claimedAt = uint64(block.timestamp);
        c.lock = lock;
    }

    function submit(Claim storage c, uint256 claimId, bytes32 sN, bytes32 outputRoot) internal {
        expect(c, claimId, ClaimState.Active);
        c.sN = sN;
        c.outputRoot = outputRoot;
        c.submittedAt = uint64(block.timestamp);
        c.state = ClaimState.Submitted;
    }

    /// @dev The poster's output demand on a Submitted claim: once, and not after a publication.
    function demandOutput(Claim storage c, uint256 claimId, uint256 due) internal {
        expect(c, claimId, ClaimState.Submitted);
        if (c.outputPublished) revert OutputAlreadyPublished(claimId);
        if (c.outputDue != 0) revert OutputAlreadyDemanded(claimId, c.outputDue);
        c.outputDue = uint64(due);
    }

    /// @dev The output was published (its root checked by the caller): any demand is met.
    function publishOutput(Claim storage c, uint256 claimId) internal {
        expect(c, claimId, ClaimState.Submitted);
        if (c.outputPublished) revert OutputAlreadyPublished(claimId);
        c.outputPublished = true;
        c.outputDue = 0;
    }

    /// @dev Accepted or Rejected (from Submitted), Expired (from Active).
    function settle(Claim storage c, uint256 claimId, ClaimState to) internal {
        expect(c, claimId, to == ClaimState.Expired ? ClaimState.Active : ClaimState.Submitted);
        c.state = to;
    }
}
