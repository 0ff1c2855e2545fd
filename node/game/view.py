"""What the solver sees of one game: the contract's position (DisputeGame.getGame), the array
the provider revealed last (from its event; the contract keeps only its hash), the opened op,
and the chain time. Plain data, built by node.chain.contracts.dispute_game from chain reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.game.rules import GameStatus, Phase, Side


@dataclass(frozen=True)
class OpenedOp:
    """The op opened at the end of the execution level (OpOpened event): the step must pass
    the same op bytes the provider bound."""

    op: bytes
    out_root: bytes


@dataclass(frozen=True)
class GameView:
    game_id: int
    claim_id: int
    status: GameStatus
    phase: Phase
    provider: str
    challenger: str
    lo: int  # execution level: op interval; reduction level: chunk interval
    hi: int
    height: int  # tensor level: height of the current node above the leaves
    index: int  # tensor level: index of the current node at its height (leaf index at 0)
    elem: int  # reduction level: element of the leaf
    chunk_step: bool
    low: bytes  # agreed value: S_lo or P_lo (as a 32-byte word)
    high: bytes  # disputed value
    n_inputs: int
    n_ops: int
    op_index: int
    opcode: int
    out_leaves: int
    k_chunks: int
    provider_clock: int  # seconds left
    challenger_clock: int
    last_move_at: int
    now: int  # timestamp of the latest block
    log2_arity: int
    # the provider's last reveal, for the pick that follows it (the contract keeps its hash)
    revealed_states: tuple[bytes, ...] = ()  # execution: S_p at the interior points
    revealed_nodes: tuple[bytes, ...] = ()  # tensor: the nodes m levels below the current one
    revealed_sums: tuple[int, ...] = ()
    revealed_leaf: bytes = b""
    opened: OpenedOp | None = None

    @classmethod
    def of_game(cls, game_id: int, g: Any, now: int, log2_arity: int, **revealed: Any) -> GameView:
        """The view of DisputeGame.getGame's struct `g` (fields read by their Solidity names,
        from a mapping or as attributes); `revealed`: the revealed_* and opened fields, which the
        contract keeps only as hashes."""

        def f(name: str) -> Any:
            return g[name] if isinstance(g, Mapping) else getattr(g, name)

        return cls(
            game_id=game_id,
            claim_id=int(f("claimId")),
            status=GameStatus(int(f("status"))),
            phase=Phase(int(f("phase"))),
            provider=str(f("provider")),
            challenger=str(f("challenger")),
            lo=int(f("lo")),
            hi=int(f("hi")),
            height=int(f("height")),
            index=int(f("index")),
            elem=int(f("elem")),
            chunk_step=bool(f("chunkStep")),
            low=bytes(f("low")),
            high=bytes(f("high")),
            n_inputs=int(f("nInputs")),
            n_ops=int(f("nOps")),
            op_index=int(f("opIndex")),
            opcode=int(f("opcode")),
            out_leaves=int(f("outLeaves")),
            k_chunks=int(f("kChunks")),
            provider_clock=int(f("providerClock")),
            challenger_clock=int(f("challengerClock")),
            last_move_at=int(f("lastMoveAt")),
            now=now,
            log2_arity=log2_arity,
            **revealed,
        )

    @property
    def arity(self) -> int:
        return 1 << self.log2_arity

    @property
    def active(self) -> bool:
        return self.status == GameStatus.ACTIVE

    @property
    def mover(self) -> Side:
        return Side.PROVIDER if self.phase.provider_moves else Side.CHALLENGER

    @property
    def deadline(self) -> int:
        """After this timestamp the side to move has run out of time (timeout() works)."""
        budget = self.provider_clock if self.mover == Side.PROVIDER else self.challenger_clock
        return self.last_move_at + budget

    @property
    def op_slot(self) -> int:
        return self.n_inputs + self.op_index

    @property
    def position(self) -> str:
        """Names the position uniquely within the game: each is played at most once."""
        return f"{int(self.phase)}:{self.lo}-{self.hi}:{self.height}.{self.index}:{self.elem}"
