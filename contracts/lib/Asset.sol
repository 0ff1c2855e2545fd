// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenTransferFailed, TransferFailed, EtherOnTokenPath, NotTokenMarket, NotEtherMarket} from "./Errors.sol";

/// @title Asset: the one asset a market and its stake manager hold (docs/protocol.md §6.7)
/// @notice address(0) is ether; any other address is an ERC-20 fixed at deployment. Token
/// transfers are "safe": a call that reverts, or returns anything but nothing or `true`, reverts
/// with TokenTransferFailed (USDT-style tokens return nothing). What a pull credits is what
/// arrived (balance after minus before), so a fee-on-transfer token credits less than was sent.
library Asset {
    bytes4 private constant TRANSFER = 0xa9059cbb; // transfer(address,uint256)
    bytes4 private constant TRANSFER_FROM = 0x23b872dd; // transferFrom(address,address,uint256)
    bytes4 private constant BALANCE_OF = 0x70a08231; // balanceOf(address)

    /// @dev The ether path: the caller's function must be one that takes ether.
    function expectEther(address asset) internal pure {
        if (asset != address(0)) revert NotEtherMarket(asset);
    }

    /// @dev The token path: no ether may come along (it would be stuck, credited to nobody).
    function expectToken(address asset) internal view {
        if (asset == address(0)) revert NotTokenMarket();
        if (msg.value != 0) revert EtherOnTokenPath(msg.value);
    }

    /// @dev Pulls `amount` of `token` from `from` (approved beforehand) into this contract and
    /// returns what arrived. The caller holds the reentrancy guard: a token callback cannot
    /// move this contract's balance between the two reads through another guarded entry.
    function pull(address token, address from, uint256 amount) internal returns (uint256 arrived) {
        uint256 before = balanceOf(token, address(this));
        _call(token, abi.encodeWithSelector(TRANSFER_FROM, from, address(this), amount), from, amount);
        arrived = balanceOf(token, address(this)) - before;
    }

    /// @dev Sends `amount` of the asset (ether or token) from this contract to `to`.
    function push(address asset, address to, uint256 amount) internal {
        if (asset == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert TransferFailed(to, amount);
        } else {
            _call(asset, abi.encodeWithSelector(TRANSFER, to, amount), to, amount);
        }
    }

    /// @dev This contract's holding of the asset.
    function held(address asset) internal view returns (uint256) {
        return asset == address(0) ? address(this).balance : balanceOf(asset, address(this));
    }

    function balanceOf(address token, address who) internal view returns (uint256) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(BALANCE_OF, who));
        if (!ok || ret.length < 32) revert TokenTransferFailed(token, who, 0);
        return abi.decode(ret, (uint256));
    }

    function _call(address token, bytes memory data, address party, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(data);
        // nothing returned is success (USDT-style); anything else must decode as `true`
        if (!ok || (ret.length != 0 && (ret.length < 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed(token, party, amount);
        }
    }
}
