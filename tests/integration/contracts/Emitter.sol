// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// A tiny contract for the chain-layer tests: events, custom errors with arguments,
/// a revert string, a panic, and a state-dependent failure.
contract Emitter {
    struct Pair {
        uint64 a;
        bytes32 b;
    }

    error TooSmall(uint256 given, uint256 minimum);
    error AlreadyDone(address by);
    error BadPair(Pair pair);

    event Pinged(uint256 indexed id, address indexed from, bytes32 tag, string note);
    event Done(address indexed by);

    uint256 public count;
    bool public done;

    function ping(uint256 id, bytes32 tag, string calldata note) external {
        if (id < 10) revert TooSmall(id, 10);
        count += 1;
        emit Pinged(id, msg.sender, tag, note);
    }

    function once() external {
        if (done) revert AlreadyDone(msg.sender);
        done = true;
        emit Done(msg.sender);
    }

    function pair(uint64 a, bytes32 b) external pure {
        revert BadPair(Pair(a, b));
    }

    function fail(string calldata why) external pure {
        revert(why);
    }

    function divide(uint256 x, uint256 y) external pure returns (uint256) {
        return x / y;
    }
}
