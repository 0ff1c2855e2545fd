// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDisputeGame, IGameResolver} from "./interfaces/IDisputeGame.sol";
import {IStepVerifier} from "./interfaces/IStepVerifier.sol";
import {StepData, OpOpening} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {Op, OpCodec} from "./lib/OpCodec.sol";
import {
    Unauthorized, GameNotFound, GameOver, WrongPhase, NotMover, ClockExpired, ClockRunning, BadLength,
    RevealMismatch, IndexOutOfRange, NodesMismatch, BadProof, OpCommitMismatch, BadArity, ProofLength
} from "./lib/Errors.sol";

/// @title DisputeGame: k-ary dissection over execution, tensor and reduction levels, then one step
/// @notice docs/protocol.md §6.3-6.5. The provider reveals, the challenger points; revealed arrays are
/// kept as a keccak hash and emitted in full. Chess clocks; `timeout` is open to anyone.
contract DisputeGame is IDisputeGame {
    using OpCodec for Op;

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
        Step
    }

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
        // slot 2: the interval
        uint64 lo; // execution level: op interval; reduction level: chunk interval
        uint64 hi;
        uint64 index; // tensor level: index of the current node at its height
        uint64 claimId;
        // slots 3..6
        bytes32 low; // agreed: S_lo, or P_lo (int256 as bytes32; P_lo = 0 whenever lo = 0)
        bytes32 high; // disputed: S_hi, the current output-tree node, or P_hi
        bytes32 revealHash; // keccak256 of the last revealed array
        bytes32 commitment; // the program root until openOp, then keccak256(abi.encode(op, S_lo))
        // slot 7: the opened op
        uint32 nInputs;
        uint32 nOps;
        uint64 outLeaves;
        uint32 opIndex;
        uint32 kChunks;
        uint8 opcode;
    }

    // which proof failed, in BadProof
    uint8 internal constant PROOF_PROGRAM = 3;
    uint8 internal constant PROOF_SLOT_A = 4;
    uint8 internal constant PROOF_SLOT_B = 5;
    uint8 internal constant PROOF_OUT_EMPTY = 6;
    uint8 internal constant PROOF_OUT_SET = 7;

    address public immutable market;
    IStepVerifier public immutable verifier;
    uint256 public immutable LOG2_ARITY;
    uint256 public immutable ARITY;

    uint256 public gameCount;
    mapping(uint256 => Game) internal _games;

    event GameCreated(
        uint256 indexed gameId,
        uint256 indexed claimId,
        address indexed provider,
        address challenger,
        uint256 nOps,
        bytes32 s0,
        bytes32 sN,
        uint256 clock
    );
    event StatesRevealed(uint256 indexed gameId, uint256 lo, uint256 hi, bytes32[] roots);
    event StatePicked(uint256 indexed gameId, uint256 seg, uint256 lo, uint256 hi, bytes32 lowRoot, bytes32 highRoot);
    event OpOpened(uint256 indexed gameId, uint256 opIndex, bytes op, bytes32 outRoot, uint256 height);
    event NodesRevealed(uint256 indexed gameId, uint256 height, uint256 index, bytes32[] nodes);
    event NodePicked(uint256 indexed gameId, uint256 child, uint256 height, uint256 index, bytes32 node);
    event LeafRevealed(uint256 indexed gameId, uint256 leafIndex, bytes leaf);
    event ElementPicked(uint256 indexed gameId, uint256 elem, int256 value);
    event SumsRevealed(uint256 indexed gameId, uint256 lo, uint256 hi, int256[] sums);
    event SumPicked(uint256 indexed gameId, uint256 seg, uint256 lo, uint256 hi, int256 lowSum, int256 highSum);
    event StepChecked(uint256 indexed gameId, bytes32 expected, bytes32 claimed);
    event GameResolved(
        uint256 indexed gameId, uint256 indexed claimId, address indexed winner, bool providerWon, bool byTimeout
    );

    constructor(address market_, IStepVerifier verifier_, uint256 log2Arity) {
        if (log2Arity == 0 || log2Arity > 8) revert BadArity(log2Arity);
        market = market_;
        verifier = verifier_;
        LOG2_ARITY = log2Arity;
        ARITY = uint256(1) << log2Arity;
    }

    // ------------------------------------------------------------------ creation

    /// @inheritdoc IDisputeGame
    function create(
        uint256 claimId,
        address provider,
        address challenger,
        bytes32 programRoot,
        bytes32 s0,
        bytes32 sN,
        uint32 nInputs,
        uint32 nOps,
        uint32 clock
    ) external returns (uint256 gameId) {
        if (msg.sender != market) revert Unauthorized(msg.sender);
        gameId = ++gameCount;
        Game storage g = _games[gameId];
        g.provider = provider;
        g.claimId = uint64(claimId);
        g.phase = nOps == 1 ? Phase.OpOpen : Phase.ExecReveal;
        g.status = Status.Active;
        g.challenger = challenger;
        g.providerClock = clock;
        g.challengerClock = clock;
        g.lastMoveAt = uint48(block.timestamp);
        g.hi = nOps;
        g.low = s0;
        g.high = sN;
        g.revealHash = bytes32(uint256(1)); // pre-warmed: the first reveal rewrites a non-zero slot
        g.commitment = programRoot;
        g.nInputs = nInputs;
        g.nOps = nOps;
        emit GameCreated(gameId, claimId, provider, challenger, nOps, s0, sN, clock);
    }

    // ------------------------------------------------------------------ execution level

    /// @notice Provider: the state roots at the evenly spaced points `points(lo, hi)`.
    function revealStates(uint256 gameId, bytes32[] calldata roots) external {
        Game storage g = _move(gameId, Phase.ExecReveal, true);
        uint256 n = _segments(g.hi - g.lo);
        if (roots.length != n - 1) revert BadLength(gameId, roots.length, n - 1);
        g.revealHash = keccak256(abi.encodePacked(roots));
        g.phase = Phase.ExecPick;
        emit StatesRevealed(gameId, g.lo, g.hi, roots);
    }

    /// @notice Challenger: the segment whose high end it disputes (its low end it agrees with).
    function pickState(uint256 gameId, bytes32[] calldata roots, uint256 seg) external {
        Game storage g = _move(gameId, Phase.ExecPick, false);
        _checkReveal(gameId, g, keccak256(abi.encodePacked(roots)));
        uint256 n = roots.length + 1;
        if (seg >= n) revert IndexOutOfRange(seg, n);
        (uint256 lo, uint256 hi) = _segment(g.lo, g.hi, n, seg);
        if (seg != 0) g.low = roots[seg - 1];
        if (seg != n - 1) g.high = roots[seg];
        g.lo = uint64(lo);
        g.hi = uint64(hi);
        g.phase = hi - lo == 1 ? Phase.OpOpen : Phase.ExecReveal;
        emit StatePicked(gameId, seg, lo, hi, g.low, g.high);
    }

    /// @notice Provider: opens op `lo` (the interval has width 1): the op is leaf `lo` of the program
    /// root, and one sibling path shows slot `out` empty in S_lo and equal to `outRoot` in S_hi (§6.3).
    function openOp(uint256 gameId, OpOpening calldata o) external {
        Game storage g = _move(gameId, Phase.OpOpen, true);
        uint256 a = g.lo;
        _checkProof(PROOF_PROGRAM, sha256(o.op), a, o.opProof, Merkle.ceilLog2(g.nOps), g.commitment);
        Op memory op = OpCodec.decode(o.op);
        op.validate(g.nInputs, a);
        uint256 slotDepth = Merkle.ceilLog2(uint256(g.nInputs) + g.nOps);
        bytes32 sLo = g.low;
        _checkProof(PROOF_OUT_EMPTY, bytes32(0), op.out, o.outProof, slotDepth, sLo);
        _checkProof(PROOF_OUT_SET, o.outRoot, op.out, o.outProof, slotDepth, g.high);
        g.commitment = keccak256(abi.encode(o.op, sLo));
        g.opIndex = uint32(a);
        g.opcode = op.opcode;
        uint256 leaves = op.outLeaves();
        g.outLeaves = uint64(leaves);
        g.kChunks = uint32(op.K / 32);
        uint256 height = Merkle.ceilLog2(leaves);
        g.height = uint8(height);
        g.high = o.outRoot;
        emit OpOpened(gameId, a, o.op, o.outRoot, height);
        if (height == 0) _atLeaf(g);
        else g.phase = Phase.TensorReveal;
    }

    // ------------------------------------------------------------------ tensor level

    /// @notice Provider: the 2^m nodes m levels below the current node (leaf hashes at height 0).
    function revealNodes(uint256 gameId, bytes32[] calldata nodes) external {
        Game storage g = _move(gameId, Phase.TensorReveal, true);
        uint256 m = _tensorStep(g.height);
        if (nodes.length != uint256(1) << m) revert BadLength(gameId, nodes.length, uint256(1) << m);
        bytes32 root = Merkle.rootOfCalldata(nodes);
        if (root != g.high) revert NodesMismatch(gameId, root, g.high);
        g.revealHash = keccak256(abi.encodePacked(nodes));
        g.phase = Phase.TensorPick;
        emit NodesRevealed(gameId, g.height, g.index, nodes);
    }

    /// @notice Challenger: the child node it disputes.
    function pickNode(uint256 gameId, bytes32[] calldata nodes, uint256 child) external {
        Game storage g = _move(gameId, Phase.TensorPick, false);
        _checkReveal(gameId, g, keccak256(abi.encodePacked(nodes)));
        if (child >= nodes.length) revert IndexOutOfRange(child, nodes.length);
        uint256 m = _tensorStep(g.height);
        uint256 height = g.height - m;
        uint256 index = (uint256(g.index) << m) | child;
        g.height = uint8(height);
        g.index = uint64(index);
        g.high = nodes[child];
        emit NodePicked(gameId, child, height, index, nodes[child]);
        if (height == 0) _atLeaf(g);
        else g.phase = Phase.TensorReveal;
    }

    // ------------------------------------------------------------------ reduction level (matmul)

    /// @notice Provider: the disputed output leaf (32 int32, 128 bytes).
    function revealLeaf(uint256 gameId, bytes calldata leaf) external {
        Game storage g = _move(gameId, Phase.LeafReveal, true);
        _checkLeaf(gameId, g, leaf);
        g.phase = Phase.ElementPick;
        emit LeafRevealed(gameId, g.index, leaf);
    }

    /// @notice Challenger: the element of the revealed leaf it disputes.
    function pickElement(uint256 gameId, bytes calldata leaf, uint256 elem) external {
        Game storage g = _move(gameId, Phase.ElementPick, false);
        _checkLeaf(gameId, g, leaf);
        if (elem >= 32) revert IndexOutOfRange(elem, 32);
        int256 value;
        assembly {
            value := signextend(3, shr(224, calldataload(add(leaf.offset, mul(elem, 4)))))
        }
        g.elem = uint8(elem);
        g.chunkStep = true;
        g.lo = 0;
        g.hi = g.kChunks;
        // P_lo is 0 while lo = 0: `low` keeps its stale non-zero value (a cheaper rewrite later)
        g.high = bytes32(uint256(value));
        g.phase = g.kChunks == 1 ? Phase.Step : Phase.SumReveal;
        emit ElementPicked(gameId, elem, value);
    }

    /// @notice Provider: the partial sums at the evenly spaced chunk points `points(lo, hi)`.
    function revealSums(uint256 gameId, int256[] calldata sums) external {
        Game storage g = _move(gameId, Phase.SumReveal, true);
        uint256 n = _segments(g.hi - g.lo);
        if (sums.length != n - 1) revert BadLength(gameId, sums.length, n - 1);
        g.revealHash = keccak256(abi.encodePacked(sums));
        g.phase = Phase.SumPick;
        emit SumsRevealed(gameId, g.lo, g.hi, sums);
    }

    /// @notice Challenger: the chunk segment whose high sum it disputes.
    function pickSum(uint256 gameId, int256[] calldata sums, uint256 seg) external {
        Game storage g = _move(gameId, Phase.SumPick, false);
        _checkReveal(gameId, g, keccak256(abi.encodePacked(sums)));
        uint256 n = sums.length + 1;
        if (seg >= n) revert IndexOutOfRange(seg, n);
        (uint256 lo, uint256 hi) = _segment(g.lo, g.hi, n, seg);
        if (seg != 0) g.low = bytes32(uint256(sums[seg - 1]));
        if (seg != n - 1) g.high = bytes32(uint256(sums[seg]));
        g.lo = uint64(lo);
        g.hi = uint64(hi);
        g.phase = hi - lo == 1 ? Phase.Step : Phase.SumReveal;
        emit SumPicked(gameId, seg, lo, hi, _lowSum(g), int256(uint256(g.high)));
    }

    // ------------------------------------------------------------------ one step

    /// @notice Challenger: the operands of the disputed leaf or chunk; the verifier decides.
    function step(uint256 gameId, StepData calldata d) external {
        Game storage g = _move(gameId, Phase.Step, false);
        _checkOperandRoots(gameId, g, d);
        bytes32 expected;
        if (g.chunkStep) {
            expected = bytes32(uint256(verifier.chunkStep(d, g.index, g.elem, g.lo, _lowSum(g))));
        } else {
            expected = verifier.leafStep(d, g.index);
        }
        emit StepChecked(gameId, expected, g.high);
        _resolve(gameId, g, expected == g.high, false);
    }

    /// @dev The op and S_lo are the opened ones; aRoot / bRoot are its operand slots in S_lo.
    function _checkOperandRoots(uint256 gameId, Game storage g, StepData calldata d) private view {
        bytes32 commit = keccak256(abi.encode(d.op, d.sLo));
        if (commit != g.commitment) revert OpCommitMismatch(gameId, commit, g.commitment);
        Op memory op = OpCodec.decode(d.op);
        uint256 slotDepth = Merkle.ceilLog2(uint256(g.nInputs) + g.nOps);
        _checkProof(PROOF_SLOT_A, d.aRoot, op.a, d.aSlotProof, slotDepth, d.sLo);
        if (op.hasB()) {
            _checkProof(PROOF_SLOT_B, d.bRoot, op.b, d.bSlotProof, slotDepth, d.sLo);
        } else if (d.bRoot != bytes32(0) || d.bSlotProof.length != 0) {
            revert BadProof(PROOF_SLOT_B, d.bRoot, bytes32(0));
        }
    }

    /// @notice Anyone: ends the game for the waiting side once the mover's clock has run out.
    function timeout(uint256 gameId) external {
        Game storage g = _active(gameId);
        bool providerToMove = _providerToMove(g.phase);
        uint256 deadline_ = uint256(g.lastMoveAt) + (providerToMove ? g.providerClock : g.challengerClock);
        if (block.timestamp <= deadline_) revert ClockRunning(gameId, deadline_, block.timestamp);
        _resolve(gameId, g, !providerToMove, true);
    }

    // ------------------------------------------------------------------ views

    function getGame(uint256 gameId) external view returns (Game memory) {
        return _games[gameId];
    }

    function arity() external view returns (uint256) {
        return ARITY;
    }

    /// @notice The interior evenly spaced points p_1..p_{n-1} of [lo, hi] (§6.3).
    function points(uint256 lo, uint256 hi) external view returns (uint256[] memory p) {
        uint256 n = _segments(hi - lo);
        p = new uint256[](n - 1);
        for (uint256 i = 1; i < n; ++i) {
            p[i - 1] = lo + i * (hi - lo) / n;
        }
    }

    /// @notice The time after which `timeout` works, for the side to move now.
    function deadline(uint256 gameId) external view returns (uint256) {
        Game storage g = _games[gameId];
        return uint256(g.lastMoveAt) + (_providerToMove(g.phase) ? g.providerClock : g.challengerClock);
    }

    /// @notice Who moves now (address(0) when the game is not active).
    function mover(uint256 gameId) external view returns (address) {
        Game storage g = _games[gameId];
        if (g.status != Status.Active) return address(0);
        return _providerToMove(g.phase) ? g.provider : g.challenger;
    }

    // ------------------------------------------------------------------ internals

    function _active(uint256 gameId) private view returns (Game storage g) {
        g = _games[gameId];
        if (g.status == Status.None) revert GameNotFound(gameId);
        if (g.status != Status.Active) revert GameOver(gameId, uint8(g.status));
    }

    /// @dev Checks game, phase, mover and clock; charges the mover's clock.
    function _move(uint256 gameId, Phase want, bool provider) private returns (Game storage g) {
        g = _active(gameId);
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

    function _providerToMove(Phase p) private pure returns (bool) {
        return p == Phase.ExecReveal || p == Phase.OpOpen || p == Phase.TensorReveal || p == Phase.LeafReveal
            || p == Phase.SumReveal;
    }

    function _checkReveal(uint256 gameId, Game storage g, bytes32 h) private view {
        if (h != g.revealHash) revert RevealMismatch(gameId, h, g.revealHash);
    }

    function _checkLeaf(uint256 gameId, Game storage g, bytes calldata leaf) private view {
        if (leaf.length != 128) revert BadLength(gameId, leaf.length, 128);
        bytes32 h = sha256(leaf);
        if (h != g.high) revert NodesMismatch(gameId, h, g.high);
    }

    function _checkProof(uint8 which, bytes32 leaf, uint256 index, bytes32[] calldata proof, uint256 depth, bytes32 root)
        private
        view
    {
        if (proof.length != depth) revert ProofLength(which, proof.length, depth);
        bytes32 got = Merkle.rootFrom(leaf, index, proof);
        if (got != root) revert BadProof(which, got, root);
    }

    /// @dev At an output leaf: a real matmul leaf goes to the reduction level, anything else to the step.
    function _atLeaf(Game storage g) private {
        if (g.opcode == OpCodec.MATMUL && g.index < g.outLeaves) g.phase = Phase.LeafReveal;
        else g.phase = Phase.Step;
    }

    /// @dev The agreed partial sum P_lo: 0 at lo = 0, else the stored value.
    function _lowSum(Game storage g) private view returns (int256) {
        return g.lo == 0 ? int256(0) : int256(uint256(g.low));
    }

    function _segments(uint256 w) private view returns (uint256) {
        return w < ARITY ? w : ARITY;
    }

    function _segment(uint256 lo, uint256 hi, uint256 n, uint256 seg) private pure returns (uint256, uint256) {
        uint256 w = hi - lo;
        return (lo + seg * w / n, lo + (seg + 1) * w / n);
    }

    function _tensorStep(uint256 height) private view returns (uint256) {
        return height < LOG2_ARITY ? height : LOG2_ARITY;
    }

    function _resolve(uint256 gameId, Game storage g, bool providerWon, bool byTimeout) private {
        g.status = providerWon ? Status.ProviderWon : Status.ChallengerWon;
        address winner = providerWon ? g.provider : g.challenger;
        emit GameResolved(gameId, g.claimId, winner, providerWon, byTimeout);
        IGameResolver(market).onGameResolved(gameId, g.claimId, providerWon);
    }
}
