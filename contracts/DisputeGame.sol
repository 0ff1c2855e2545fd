// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDisputeGame, IGameResolver} from "./interfaces/IDisputeGame.sol";
import {IStepVerifier} from "./interfaces/IStepVerifier.sol";
import {StepData, OpOpening, SpecOpening} from "./lib/Types.sol";
import {Merkle} from "./lib/Merkle.sol";
import {Op, OpCodec} from "./lib/OpCodec.sol";
import {Game, Phase, Status, GamePosition} from "./lib/GamePosition.sol";
import {
    Unauthorized,
    ClockRunning,
    BadLength,
    IndexOutOfRange,
    NodesMismatch,
    BadProof,
    OpCommitMismatch,
    BadArity,
    ProofLength,
    SpecSourceLength
} from "./lib/Errors.sol";

/// @title DisputeGame: k-ary dissection over execution, tensor and reduction levels, then one step
/// @notice docs/protocol.md §6.3-6.5. The provider reveals, the challenger points; revealed arrays are
/// kept as a keccak hash and emitted in full. Chess clocks; `timeout` is open to anyone. Moves check
/// their proofs, change the game only through `GamePosition`, then emit. The step decides the game
/// and pays nothing; `settle` (anyone, once) makes the market's payouts in its own transaction, as a
/// rollup fault game's `resolve` does (§6.5): the step's gas is the verifier's and the game's alone.
contract DisputeGame is IDisputeGame {
    using OpCodec for Op;
    using GamePosition for Game;

    // which proof failed, in BadProof
    uint8 internal constant PROOF_PROGRAM = 3;
    uint8 internal constant PROOF_SLOT_A = 4;
    uint8 internal constant PROOF_SLOT_B = 5;
    uint8 internal constant PROOF_OUT_EMPTY = 6;
    uint8 internal constant PROOF_OUT_SET = 7;
    uint8 internal constant PROOF_PROGRAM_HALVES = 8; // sha256(opsRoot || inputSpecRoot) = programRoot
    uint8 internal constant PROOF_SPEC_A = 9; // operand a's spec source (v4)
    uint8 internal constant PROOF_SPEC_B = 10;

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
    /// @notice v7: the opened op's operand specs passed the table rules (the sources are in the
    /// call's data); the position is the root of its output tree.
    event SpecsOpened(uint256 indexed gameId, uint256 opIndex);
    event NodesRevealed(uint256 indexed gameId, uint256 height, uint256 index, bytes32[] nodes);
    event NodePicked(uint256 indexed gameId, uint256 child, uint256 height, uint256 index, bytes32 node);
    event LeafRevealed(uint256 indexed gameId, uint256 leafIndex, bytes leaf);
    event ElementPicked(uint256 indexed gameId, uint256 elem, int256 value);
    event SumsRevealed(uint256 indexed gameId, uint256 lo, uint256 hi, int256[] sums);
    event SumPicked(uint256 indexed gameId, uint256 seg, uint256 lo, uint256 hi, int256 lowSum, int256 highSum);
    event StepChecked(uint256 indexed gameId, bytes32 expected, bytes32 claimed);
    /// @notice The game is decided (by the step or a timeout); no move is taken after it.
    event GameResolved(
        uint256 indexed gameId, uint256 indexed claimId, address indexed winner, bool providerWon, bool byTimeout
    );
    /// @notice The decided game's payouts were made (the market's callback ran), by `by`.
    event Settled(uint256 indexed gameId, uint256 indexed claimId, address indexed by, bool providerWon);

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
        g.init(claimId, provider, challenger, clock);
        g.dispute(programRoot, s0, sN, nInputs, nOps);
        emit GameCreated(gameId, claimId, provider, challenger, nOps, s0, sN, clock);
    }

    // ------------------------------------------------------------------ execution level

    /// @notice Provider: the state roots at the evenly spaced points `points(lo, hi)`.
    function revealStates(uint256 gameId, bytes32[] calldata roots) external {
        Game storage g = _revealPoints(gameId, Phase.ExecReveal, roots, Phase.ExecPick);
        emit StatesRevealed(gameId, g.lo, g.hi, roots);
    }

    /// @notice Challenger: the segment whose high end it disputes (its low end it agrees with).
    function pickState(uint256 gameId, bytes32[] calldata roots, uint256 seg) external {
        Game storage g = _move(gameId, Phase.ExecPick, false);
        _pick(gameId, g, roots, seg, Phase.OpOpen, Phase.ExecReveal);
        emit StatePicked(gameId, seg, g.lo, g.hi, g.low, g.high);
    }

    /// @notice Provider: opens op `lo` (the interval has width 1): the op is leaf `lo` of the ops
    /// root and passes the op rules, and one sibling path shows slot `out` empty in S_lo and equal to
    /// `outRoot` in S_hi (§6.3). The table rules follow in `openSpecs` (v7: two moves, each under
    /// 100k gas at the deepest trees). An op that breaks a rule cannot be opened: the provider that
    /// claimed its program loses by timeout (§4).
    function openOp(uint256 gameId, OpOpening calldata o) external {
        Game storage g = _move(gameId, Phase.OpOpen, true);
        uint256 a = g.lo;
        bytes32 programRoot = g.commitment;
        bytes32 root = Merkle.hashPair(o.opsRoot, o.inputSpecRoot);
        if (root != programRoot) revert BadProof(PROOF_PROGRAM_HALVES, root, programRoot);
        _checkProof(PROOF_PROGRAM, sha256(o.op), a, o.opProof, Merkle.ceilLog2(g.nOps), o.opsRoot);
        Op memory op = OpCodec.decode(o.op);
        op.validate(g.nInputs, a);
        _checkOutSlot(g, op.out, o);
        g.opOpened(_opening(o.op, programRoot), o.outRoot);
        emit OpOpened(gameId, a, o.op, o.outRoot, Merkle.ceilLog2(op.outLeaves()));
    }

    /// @notice Provider, right after `openOp`: the opened op again, the program root's halves, and
    /// each operand slot's committed spec source, which must be what the op expects (table rules,
    /// §4, §6.3). Then the tensor level starts at the op's output root.
    function openSpecs(uint256 gameId, SpecOpening calldata o) external {
        Game storage g = _move(gameId, Phase.OpSpecs, true);
        // one check binds the op and the root's halves to what openOp kept
        bytes32 opening = _opening(o.op, Merkle.hashPair(o.opsRoot, o.inputSpecRoot));
        if (opening != g.commitment) revert OpCommitMismatch(gameId, opening, g.commitment);
        Op memory op = OpCodec.decode(o.op);
        _checkOperands(g, op, o);
        uint256 a = op.out - g.nInputs; // openOp checked out = nInputs + lo
        g.openOp(op, a, keccak256(abi.encode(o.op, g.low)));
        emit SpecsOpened(gameId, a);
    }

    /// @dev What openOp keeps for openSpecs in place of the program root (its slot is warm there).
    function _opening(bytes calldata op, bytes32 programRoot) private pure returns (bytes32) {
        return keccak256(abi.encode(op, programRoot));
    }

    /// @dev One sibling path shows slot `out` empty in S_lo and equal to `outRoot` in S_hi.
    function _checkOutSlot(Game storage g, uint256 out, OpOpening calldata o) private view {
        uint256 depth = Merkle.ceilLog2(uint256(g.nInputs) + g.nOps);
        if (o.outProof.length != depth) revert ProofLength(PROOF_OUT_EMPTY, o.outProof.length, depth);
        (bytes32 empty, bytes32 set) = Merkle.rootsFrom(bytes32(0), o.outRoot, out, o.outProof);
        if (empty != g.low) revert BadProof(PROOF_OUT_EMPTY, empty, g.low);
        if (set != g.high) revert BadProof(PROOF_OUT_SET, set, g.high);
    }

    /// @dev Table rules (§4): each operand slot's committed spec is what the op expects.
    function _checkOperands(Game storage g, Op memory op, SpecOpening calldata o) private view {
        (uint8 aDtype, uint256 aNumel, uint8 bDtype, uint256 bNumel) = op.operandSpecs();
        (uint8 dtype, uint256 numel) = _slotSpec(g, o, 1, op.a);
        OpCodec.checkOperand(1, op.a, dtype, numel, aDtype, aNumel);
        if (op.hasB()) {
            (dtype, numel) = _slotSpec(g, o, 2, op.b);
            OpCodec.checkOperand(2, op.b, dtype, numel, bDtype, bNumel);
        }
    }

    /// @dev The committed spec of operand `operand`'s `slot`: an input's spec leaf under
    /// `inputSpecRoot` (checked by T1), or the out spec of the op that writes it, under `opsRoot`.
    function _slotSpec(Game storage g, SpecOpening calldata o, uint8 operand, uint256 slot)
        private
        view
        returns (uint8, uint256)
    {
        bytes calldata src = operand == 1 ? o.aSpec : o.bSpec;
        uint256 nInputs = g.nInputs;
        if (slot < nInputs) {
            if (src.length != 32) revert SpecSourceLength(operand, src.length, 32);
            _checkSource(o, operand, sha256(src), slot, Merkle.ceilLog2(nInputs), o.inputSpecRoot);
            return OpCodec.inputSpec(slot, bytes32(src));
        }
        if (src.length != 64) revert SpecSourceLength(operand, src.length, 64);
        _checkSource(o, operand, sha256(src), slot - nInputs, Merkle.ceilLog2(g.nOps), o.opsRoot);
        return OpCodec.outSpecOf(src);
    }

    function _checkSource(SpecOpening calldata o, uint8 operand, bytes32 leaf, uint256 index, uint256 depth, bytes32 root)
        private
        view
    {
        if (operand == 1) _checkProof(PROOF_SPEC_A, leaf, index, o.aSpecProof, depth, root);
        else _checkProof(PROOF_SPEC_B, leaf, index, o.bSpecProof, depth, root);
    }

    // ------------------------------------------------------------------ tensor level

    /// @notice Provider: the 2^m nodes m levels below the current node (leaf hashes at height 0).
    function revealNodes(uint256 gameId, bytes32[] calldata nodes) external {
        Game storage g = _move(gameId, Phase.TensorReveal, true);
        uint256 m = _tensorStep(g.height);
        if (nodes.length != uint256(1) << m) revert BadLength(gameId, nodes.length, uint256(1) << m);
        bytes32 root = Merkle.rootOfCalldata(nodes);
        if (root != g.high) revert NodesMismatch(gameId, root, g.high);
        g.revealed(keccak256(abi.encodePacked(nodes)), Phase.TensorPick);
        emit NodesRevealed(gameId, g.height, g.index, nodes);
    }

    /// @notice Challenger: the child node it disputes.
    function pickNode(uint256 gameId, bytes32[] calldata nodes, uint256 child) external {
        Game storage g = _move(gameId, Phase.TensorPick, false);
        g.checkReveal(gameId, keccak256(abi.encodePacked(nodes)));
        if (child >= nodes.length) revert IndexOutOfRange(child, nodes.length);
        uint256 m = _tensorStep(g.height);
        uint256 height = g.height - m;
        uint256 index = (uint256(g.index) << m) | child;
        g.descend(height, index, nodes[child]);
        emit NodePicked(gameId, child, height, index, nodes[child]);
    }

    // ------------------------------------------------------------------ reduction level (matmul)

    /// @notice Provider: the disputed output leaf (32 int32, 128 bytes).
    function revealLeaf(uint256 gameId, bytes calldata leaf) external {
        Game storage g = _move(gameId, Phase.LeafReveal, true);
        g.checkLeaf(gameId, leaf);
        g.leafRevealed();
        emit LeafRevealed(gameId, g.index, leaf);
    }

    /// @notice Challenger: the element of the revealed leaf it disputes.
    function pickElement(uint256 gameId, bytes calldata leaf, uint256 elem) external {
        Game storage g = _move(gameId, Phase.ElementPick, false);
        g.checkLeaf(gameId, leaf);
        if (elem >= 32) revert IndexOutOfRange(elem, 32);
        int256 value;
        assembly {
            value := signextend(3, shr(224, calldataload(add(leaf.offset, mul(elem, 4)))))
        }
        g.startReduction(elem, value);
        emit ElementPicked(gameId, elem, value);
    }

    /// @notice Provider: the partial sums at the evenly spaced chunk points `points(lo, hi)`.
    function revealSums(uint256 gameId, int256[] calldata sums) external {
        Game storage g = _revealPoints(gameId, Phase.SumReveal, _words(sums), Phase.SumPick);
        emit SumsRevealed(gameId, g.lo, g.hi, sums);
    }

    /// @notice Challenger: the chunk segment whose high sum it disputes.
    function pickSum(uint256 gameId, int256[] calldata sums, uint256 seg) external {
        Game storage g = _move(gameId, Phase.SumPick, false);
        _pick(gameId, g, _words(sums), seg, Phase.Step, Phase.SumReveal);
        emit SumPicked(gameId, seg, g.lo, g.hi, g.lowSum(), int256(uint256(g.high)));
    }

    // ------------------------------------------------------------------ one step

    /// @notice Challenger: the operands of the disputed leaf or chunk; the verifier decides the game.
    /// Nothing is paid here: `settle` (anyone, afterwards) makes the payouts.
    function step(uint256 gameId, StepData calldata d) external {
        Game storage g = _move(gameId, Phase.Step, false);
        _checkOperandRoots(gameId, g, d);
        bytes32 expected;
        if (g.chunkStep) {
            expected = bytes32(uint256(verifier.chunkStep(d, g.index, g.elem, g.lo, g.lowSum())));
        } else {
            expected = verifier.leafStep(d, g.index);
        }
        emit StepChecked(gameId, expected, g.high);
        _decide(gameId, g, expected == g.high, false);
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

    /// @notice Anyone: ends the game for the waiting side once the mover's clock has run out; it
    /// verifies nothing, so it decides and settles in one call.
    function timeout(uint256 gameId) external {
        Game storage g = _games[gameId];
        g.expectActive(gameId);
        uint256 deadline_ = g.deadline();
        if (block.timestamp <= deadline_) revert ClockRunning(gameId, deadline_, block.timestamp);
        _decide(gameId, g, !g.providerToMove(), true);
        _settle(gameId, g);
    }

    /// @notice Anyone, once, after the step decided the game: the market pays it (its callback:
    /// bond, backing, bounty, the claim's rejection). Until then the game counts as open for its
    /// claim (no finalize; its backing stays locked). Reverts `GameNotDecided` while the game is
    /// played, `GameAlreadySettled` the second time.
    function settle(uint256 gameId) external {
        _settle(gameId, _games[gameId]);
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
        return _games[gameId].deadline();
    }

    /// @notice Who moves now (address(0) when the game is not active).
    function mover(uint256 gameId) external view returns (address) {
        Game storage g = _games[gameId];
        if (g.status != Status.Active) return address(0);
        return g.providerToMove() ? g.provider : g.challenger;
    }

    // ------------------------------------------------------------------ internals

    function _move(uint256 gameId, Phase want, bool provider) private returns (Game storage g) {
        g = _games[gameId];
        g.charge(gameId, want, provider);
    }

    /// @dev Execution and reduction levels: the provider's values at the interior points of [lo, hi]
    /// (state roots, or partial sums as words), kept as their hash; the challenger picks next.
    function _revealPoints(uint256 gameId, Phase want, bytes32[] calldata values, Phase next)
        private
        returns (Game storage g)
    {
        g = _move(gameId, want, true);
        uint256 n = _segments(g.hi - g.lo);
        if (values.length != n - 1) revert BadLength(gameId, values.length, n - 1);
        g.revealed(keccak256(abi.encodePacked(values)), next);
    }

    /// @dev Execution and reduction levels: `revealed` must be the provider's last reveal (the
    /// interior points); its segment `seg` becomes the interval, with its end values.
    function _pick(
        uint256 gameId,
        Game storage g,
        bytes32[] calldata revealed,
        uint256 seg,
        Phase atWidthOne,
        Phase otherwise
    ) private {
        g.checkReveal(gameId, keccak256(abi.encodePacked(revealed)));
        if (seg > revealed.length) revert IndexOutOfRange(seg, revealed.length + 1);
        g.narrow(revealed, seg, atWidthOne, otherwise);
    }

    /// @dev Partial sums as the 32-byte words they are in calldata: hashed and stored as bytes32.
    function _words(int256[] calldata sums) private pure returns (bytes32[] calldata words) {
        assembly {
            words.offset := sums.offset
            words.length := sums.length
        }
    }

    function _checkProof(uint8 which, bytes32 leaf, uint256 index, bytes32[] calldata proof, uint256 depth, bytes32 root)
        private
        view
    {
        if (proof.length != depth) revert ProofLength(which, proof.length, depth);
        bytes32 got = Merkle.rootFrom(leaf, index, proof);
        if (got != root) revert BadProof(which, got, root);
    }

    function _segments(uint256 w) private view returns (uint256) {
        return w < ARITY ? w : ARITY;
    }

    function _tensorStep(uint256 height) private view returns (uint256) {
        return height < LOG2_ARITY ? height : LOG2_ARITY;
    }

    function _decide(uint256 gameId, Game storage g, bool providerWon, bool byTimeout) private {
        address winner = g.decide(providerWon);
        emit GameResolved(gameId, g.claimId, winner, providerWon, byTimeout);
    }

    /// @dev Marked settled before the callback (checks, effects, interactions).
    function _settle(uint256 gameId, Game storage g) private {
        bool providerWon = g.settle(gameId);
        uint256 claimId = g.claimId;
        emit Settled(gameId, claimId, msg.sender, providerWon);
        IGameResolver(market).onGameResolved(gameId, claimId, providerWon);
    }
}
