// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Op, OpCodec} from "./OpCodec.sol";
import {Merkle} from "./Merkle.sol";
import {
    GameNotFound,
    GameOver,
    WrongPhase,
    NotMover,
    ClockExpired,
    BadLength,
    RevealMismatch,
    NodesMismatch,
    GameNotDecided,
    GameAlreadySettled
} from "./Errors.sol";

/// @notice Whose move and of what kind (docs/protocol.md §6.3-6.4); 0 means "no game". OpSpecs
/// (v7: the opened op's operand specs) comes between OpOpen and TensorReveal in play; it is
/// appended so that the other phases keep their numbers.
enum Phase {
    None,
    ExecReveal,
    ExecPick,
    OpOpen,
    TensorReveal,
    TensorPick,
    LeafReveal,
    ElementPick,
    SumReveal,
    SumPick,
    Step,
    OpSpecs
}

/// @notice 0 means "does not exist"; Active until one side wins (the step or a timeout decides);
/// a decided game's payouts are made once, by `settle` (`Game.settled`), docs/protocol.md §6.5.
enum Status {
    None,
    Active,
    ProviderWon,
    ChallengerWon
}

/// @dev Packed so that a move writes two slots (0 and 1) plus what the position changes.
struct Game {
    // slot 0: the provider's side and the clock reference
    address provider;
    uint48 providerClock; // budget left
    uint48 lastMoveAt;
    // slot 1: the challenger's side and the position kind
    address challenger;
    uint48 challengerClock;
    Phase phase;
    Status status;
    uint8 height; // tensor level: height of the current node above the leaves
    bool chunkStep; // the one step is a matmul chunk
    uint8 elem; // reduction level: element of the leaf
    bool settled; // decided and paid: the market's callback has run (the last byte of slot 1)
    // slot 2: the interval
    uint64 lo; // execution level: op interval; reduction level: chunk interval
    uint64 hi;
    uint64 index; // tensor level: index of the current node at its height
    uint64 claimId;
    // slots 3..6
    bytes32 low; // agreed: S_lo, or P_lo (int256 as bytes32; P_lo = 0 whenever lo = 0)
    bytes32 high; // disputed: S_hi, then (openOp) the op's output root, the current node, or P_hi
    bytes32 revealHash; // keccak256 of the last revealed array
    // the program root until openOp; in OpSpecs keccak256(abi.encode(op, programRoot)); from
    // openSpecs on keccak256(abi.encode(op, S_lo))
    bytes32 commitment;
    // slot 7: the opened op
    uint32 nInputs;
    uint32 nOps;
    uint64 outLeaves;
    uint32 opIndex;
    uint32 kChunks;
    uint8 opcode;
}

/// @title GamePosition: the only code that changes a Game (clocks, position, phase, status)
/// @dev DisputeGame's external functions check proofs and lengths, call these, then emit.
library GamePosition {
    using OpCodec for Op;

    /// @dev A new game on claim `claimId`: the two sides, `clock` seconds each; the provider's runs from now.
    function init(Game storage g, uint256 claimId, address provider, address challenger, uint32 clock) internal {
        g.provider = provider;
        g.claimId = uint64(claimId);
        g.status = Status.Active;
        g.challenger = challenger;
        g.providerClock = clock;
        g.challengerClock = clock;
        g.lastMoveAt = uint48(block.timestamp);
    }

    /// @dev What is disputed: ops [0, nOps) of program `programRoot` lead from the agreed S_0 to S_N.
    function dispute(Game storage g, bytes32 programRoot, bytes32 s0, bytes32 sN, uint32 nInputs, uint32 nOps)
        internal
    {
        g.phase = nOps == 1 ? Phase.OpOpen : Phase.ExecReveal;
        g.hi = nOps;
        g.low = s0;
        g.high = sN;
        g.revealHash = bytes32(uint256(1)); // pre-warmed: the first reveal rewrites a non-zero slot
        g.commitment = programRoot;
        g.nInputs = nInputs;
        g.nOps = nOps;
    }

    function expectActive(Game storage g, uint256 gameId) internal view {
        if (g.status == Status.None) revert GameNotFound(gameId);
        if (g.status != Status.Active) revert GameOver(gameId, uint8(g.status));
    }

    /// @dev Checks game, phase, mover and clock; charges the mover's clock.
    function charge(Game storage g, uint256 gameId, Phase want, bool provider) internal {
        expectActive(g, gameId);
        if (g.phase != want) revert WrongPhase(gameId, uint8(g.phase), uint8(want));
        address who = provider ? g.provider : g.challenger;
        if (msg.sender != who) revert NotMover(gameId, msg.sender, who);
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        uint256 budget = provider ? g.providerClock : g.challengerClock;
        if (elapsed > budget) revert ClockExpired(gameId, uint256(g.lastMoveAt) + budget, block.timestamp);
        if (provider) g.providerClock = uint48(budget - elapsed);
        else g.challengerClock = uint48(budget - elapsed);
        g.lastMoveAt = uint48(block.timestamp);
    }

    function providerToMove(Game storage g) internal view returns (bool) {
        Phase p = g.phase;
        return p == Phase.ExecReveal || p == Phase.OpOpen || p == Phase.OpSpecs || p == Phase.TensorReveal
            || p == Phase.LeafReveal || p == Phase.SumReveal;
    }

    /// @dev The time after which the side to move loses by `timeout`.
    function deadline(Game storage g) internal view returns (uint256) {
        return uint256(g.lastMoveAt) + (providerToMove(g) ? g.providerClock : g.challengerClock);
    }

    function checkReveal(Game storage g, uint256 gameId, bytes32 h) internal view {
        if (h != g.revealHash) revert RevealMismatch(gameId, h, g.revealHash);
    }

    function checkLeaf(Game storage g, uint256 gameId, bytes calldata leaf) internal view {
        if (leaf.length != 128) revert BadLength(gameId, leaf.length, 128);
        bytes32 h = sha256(leaf);
        if (h != g.high) revert NodesMismatch(gameId, h, g.high);
    }

    /// @dev A reveal is kept as its hash; the other side moves next.
    function revealed(Game storage g, bytes32 h, Phase next) internal {
        g.revealHash = h;
        g.phase = next;
    }

    /// @dev Reduction level: the provider showed the disputed leaf; the challenger picks an element.
    function leafRevealed(Game storage g) internal {
        g.phase = Phase.ElementPick;
    }

    /// @dev Execution or reduction level: segment `seg` of the last reveal's points (`revealed`
    /// holds the interior ones, evenly spaced in [lo, hi]); an end the segment shares with the
    /// current interval keeps its value.
    function narrow(Game storage g, bytes32[] calldata revealed, uint256 seg, Phase atWidthOne, Phase otherwise)
        internal
    {
        uint256 n = revealed.length + 1;
        uint256 lo = g.lo;
        uint256 w = g.hi - lo;
        uint256 hi = lo + (seg + 1) * w / n;
        lo += seg * w / n;
        if (seg != 0) g.low = revealed[seg - 1];
        if (seg != n - 1) g.high = revealed[seg];
        g.lo = uint64(lo);
        g.hi = uint64(hi);
        g.phase = hi - lo == 1 ? atWidthOne : otherwise;
    }

    /// @dev The op is opened (`openOp`): the disputed value is its output root; its operand specs
    /// follow (`openSpecs`), checked against `opening`, the hash of the op and the program root.
    function opOpened(Game storage g, bytes32 opening, bytes32 outRoot) internal {
        g.commitment = opening;
        g.high = outRoot;
        g.phase = Phase.OpSpecs;
    }

    /// @dev The opened op (`opIndex`, committed as `commitment`) passed the table rules (`openSpecs`):
    /// the position becomes the root of its output tree (`high`), `height` levels above its leaves.
    function openOp(Game storage g, Op memory op, uint256 opIndex, bytes32 commitment)
        internal
        returns (uint256 height)
    {
        uint256 leaves = op.outLeaves();
        height = Merkle.ceilLog2(leaves);
        g.commitment = commitment;
        g.opIndex = uint32(opIndex);
        g.opcode = op.opcode;
        g.outLeaves = uint64(leaves);
        g.kChunks = uint32(op.K / 32);
        g.height = uint8(height);
        if (height == 0) atLeaf(g);
        else g.phase = Phase.TensorReveal;
    }

    /// @dev Tensor level: down to the picked node.
    function descend(Game storage g, uint256 height, uint256 index, bytes32 node) internal {
        g.height = uint8(height);
        g.index = uint64(index);
        g.high = node;
        if (height == 0) atLeaf(g);
        else g.phase = Phase.TensorReveal;
    }

    /// @dev At an output leaf: a real matmul or reduce leaf goes to the reduction level, anything else to the step.
    function atLeaf(Game storage g) internal {
        bool reduction = g.opcode == OpCodec.MATMUL || g.opcode == OpCodec.REDUCE;
        if (reduction && g.index < g.outLeaves) g.phase = Phase.LeafReveal;
        else g.phase = Phase.Step;
    }

    /// @dev Reduction level: element `elem` (claimed value `value`) over chunks [0, kChunks].
    function startReduction(Game storage g, uint256 elem, int256 value) internal {
        g.elem = uint8(elem);
        g.chunkStep = true;
        g.lo = 0;
        g.hi = g.kChunks;
        // P_lo is 0 while lo = 0: `low` keeps its stale non-zero value (a cheaper rewrite later)
        g.high = bytes32(uint256(value));
        g.phase = g.kChunks == 1 ? Phase.Step : Phase.SumReveal;
    }

    /// @dev The agreed partial sum P_lo: 0 at lo = 0, else the stored value.
    function lowSum(Game storage g) internal view returns (int256) {
        return g.lo == 0 ? int256(0) : int256(uint256(g.low));
    }

    /// @dev The game is decided (no move is taken after this); its payouts wait for `settled`.
    function decide(Game storage g, bool providerWon) internal returns (address winner) {
        g.status = providerWon ? Status.ProviderWon : Status.ChallengerWon;
        winner = providerWon ? g.provider : g.challenger;
    }

    /// @dev A decided game is paid once: reverts on a game not decided or already settled.
    function settle(Game storage g, uint256 gameId) internal returns (bool providerWon) {
        Status s = g.status;
        if (s == Status.None) revert GameNotFound(gameId);
        if (s == Status.Active) revert GameNotDecided(gameId);
        if (g.settled) revert GameAlreadySettled(gameId);
        g.settled = true;
        providerWon = s == Status.ProviderWon;
    }
}
