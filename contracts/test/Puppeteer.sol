// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test only: an account of the attacker's, driven by its Puppeteer.
contract Puppet {
    address public immutable owner;

    constructor() {
        owner = msg.sender;
    }

    /// @dev Calls `target` with `value` (sent along by the owner); a revert bubbles up as it is.
    function exec(address target, bytes calldata data) external payable returns (bytes memory ret) {
        require(msg.sender == owner, "not the owner");
        bool ok;
        (ok, ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @dev Withdrawals (credits, stake) come back here.
    receive() external payable {}
}

/// @notice Test only (issue 11, F1 and F4): one attacker with several accounts (puppets) that
/// acts through all of them in ONE transaction, e.g. submitResult by the provider puppet and
/// challenge (and a whole game) by another, or expire + claim.
contract Puppeteer {
    struct Call {
        uint256 actor; // index into puppets
        address target;
        uint256 value;
        bytes data;
    }

    Puppet[] public puppets;

    constructor(uint256 n) {
        for (uint256 i; i < n; ++i) {
            puppets.push(new Puppet());
        }
    }

    function puppetCount() external view returns (uint256) {
        return puppets.length;
    }

    /// @notice Every call in order, in this one transaction; msg.value funds the calls' values.
    function run(Call[] calldata calls) external payable {
        for (uint256 i; i < calls.length; ++i) {
            Call calldata c = calls[i];
            puppets[c.actor].exec{value: c.value}(c.target, c.data);
        }
    }
}
