"""What each page shows, as typed models built from the chain (the contract bindings of
node.chain.contracts, the event index) and the node's state folders. The HTML pages and the
JSON API render the same models, so both always say the same thing.

Who was paid what follows the market's settlement events (docs/protocol.md §6.5): per game
`GameSettled` (the bond to the winner; for a lost game the challenger's bounty out of the
game's own backing and the rest of that backing burned), per rejected claim `ClaimRejected`
(the whole claim lock burned), `JobFinalized` (the reward), `ClaimExpired` (the missed-deadline
share of the lock to the poster) and `JobCancelled` (the escrow back to the poster)."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from node.chain.contracts.deployment import Deployment
from node.chain.contracts.job_market import (
    Challenged,
    Claim,
    ClaimExpired,
    ClaimRejected,
    ClaimState,
    GameSettled,
    Job,
    JobCancelled,
    JobClaimed,
    JobFinalized,
    JobPosted,
    JobState,
    OutputDemanded,
    RejectCause,
    ResultSubmitted,
)
from node.chain.scanner import ChainEvent
from node.errors import PocError
from node.explorer.index import ChainIndex
from node.explorer.node_state import NodeRecord, NodeState
from node.explorer.timeline import MOVE_OF_EVENT, GameReader, Move, moves_of_game
from node.game.rules import GameStatus
from node.game.view import GameView

BURN = "0x000000000000000000000000000000000000dEaD"  # JobMarket.BURN


class NotFound(PocError):
    """A page asks for a job or game that does not exist on this deployment."""

    exit_code = 16


@dataclass(frozen=True)
class Payment:
    """One line of "who was paid what": `amount` wei to (positive) or from (negative) `who`."""

    who: str  # provider | challenger | poster | burned
    address: str
    amount: int
    what: str


@dataclass(frozen=True)
class ChainInfo:
    chain_id: int
    head: int
    now: int
    addresses: dict[str, str]
    start_block: int
    jobs: int
    games: int
    state_folders: list[dict[str, Any]]


@dataclass(frozen=True)
class JobRow:
    job_id: int
    state: str
    reward: int
    poster: str
    current_claim: int  # 0: none
    claim_state: str | None
    provider: str | None
    window_end: int | None  # the current claim's challenge window end, once submitted
    last_claim: int  # the newest claim when there is no current one (0: none)
    last_claim_state: str | None
    claims: int
    games: int
    reopens_at: int


@dataclass(frozen=True)
class GameRow:
    game_id: int
    claim_id: int
    challenger: str
    status: str  # active | provider_won | challenger_won
    winner: str | None
    by_timeout: bool
    moves: int
    bond: int
    backing: int
    settled: bool
    bounty: int  # paid to the challenger (0 unless it won)
    burned: int  # of the game's backing (the claim lock's burn is the claim's)


@dataclass(frozen=True)
class ClaimView:
    claim_id: int
    provider: str
    state: str
    outcome: str
    claimed_at: int
    execute_by: int
    submitted_at: int
    window_end: int | None
    lock: int
    s_n: str
    output_root: str
    output_locator: str | None
    output_due: int
    output_published: bool
    games: list[GameRow]
    payments: list[Payment]
    node: list[NodeRecord]


@dataclass(frozen=True)
class JobView:
    row: JobRow
    params: dict[str, Any]
    spec_locator: str
    posted_block: int
    claims: list[ClaimView]
    payments: list[Payment]
    node: list[NodeRecord]


@dataclass(frozen=True)
class GameDetail:
    row: GameRow
    job_id: int
    provider: str
    challenger: str
    clock: int
    n_ops: int
    opened_block: int
    opened_tx: str
    challenge_gas: int
    level: str  # the current level, or "resolved"
    to_move: str | None
    deadline: int | None
    provider_clock: int
    challenger_clock: int
    moves: list[Move]
    payments: list[Payment]
    settlement: str


class Explorer:
    """Page models over one deployment. `lock` serialises chain reads: web3 over ape's
    in-process chain is not thread-safe, so an embedding program that also drives the chain
    passes its own lock."""

    def __init__(
        self,
        deployment: Deployment,
        node_state: NodeState | None = None,
        lock: threading.RLock | None = None,
        page_size: int = 50,
    ) -> None:
        self.d = deployment
        self.index = ChainIndex(deployment)
        self.node_state = node_state or NodeState({})
        self.lock = lock or threading.RLock()
        self.page_size = page_size
        self.reader = GameReader(deployment)
        self._identity: dict[str, str] | None = None
        self._finished_games: dict[int, list[Move]] = {}  # ended games do not change

    # ---- refresh ----

    def identity(self) -> dict[str, str]:
        """The chain and deployment (RoleContext.chain_identity's keys), for the state check."""
        if self._identity is None:
            w3 = self.d.w3
            genesis = w3.eth.get_block(0)["hash"]
            self._identity = {
                "chain_id": str(w3.eth.chain_id),
                "genesis": "0x" + bytes(genesis).hex(),
                **{k: str(v).lower() for k, v in self.d.addresses.items()},
            }
        return self._identity

    def refresh(self) -> None:
        self.index.refresh()
        self.node_state.refresh(self.identity())

    # ---- pages ----

    def chain_info(self) -> ChainInfo:
        market = self.d.market
        return ChainInfo(
            chain_id=int(self.d.w3.eth.chain_id),
            head=self.d.block_number(),
            now=self.d.now(),
            addresses=self.d.addresses,
            start_block=self.d.start_block,
            jobs=market.job_count(),
            games=self.d.game.game_count(),
            state_folders=[
                {"role": f.role, "path": str(f.path), "used": f.usable, "problem": f.problem}
                for f in self.node_state.folders
            ],
        )

    def job_rows(self, page: int = 0) -> tuple[list[JobRow], int]:
        """One page of jobs, newest first, and the number of jobs."""
        count = self.d.market.job_count()
        hi = count - page * self.page_size
        lo = max(0, hi - self.page_size)
        return [self._job_row(self.d.market.job(j)) for j in range(hi, lo, -1)], count

    def job(self, job_id: int) -> JobView:
        job = self._existing_job(job_id)
        posted = self._one(self.index.of_job(job_id, "JobPosted"), JobPosted)
        claim_ids = self.index.claims_of_job(job_id)
        if job.current_claim and job.current_claim not in claim_ids:
            claim_ids.append(job.current_claim)  # claimed before the configured start block
        claims = [self._claim(job, c) for c in claim_ids]
        params = {
            k: ("0x" + v.hex()) if isinstance(v, bytes) else v
            for k, v in dataclasses.asdict(job.params).items()
        }
        return JobView(
            row=self._job_row(job),
            params=params,
            spec_locator=posted.spec_locator if posted else "",
            posted_block=posted.block_number if posted else 0,
            claims=claims,
            payments=self._job_payments(job),
            node=self.node_state.job(job_id),
        )

    def game(self, game_id: int) -> GameDetail:
        count = self.d.game.game_count()
        if not 1 <= game_id <= count:
            known = f"games 1..{count}" if count else "no games yet"
            raise NotFound(f"game {game_id} does not exist on this deployment ({known})")
        challenged = self._one(self.index.of_game(game_id, "Challenged"), Challenged)
        view = self._game_view(game_id)
        claim = self.d.market.claim(view.claim_id)
        events = self.index.of_game(game_id)
        moves = self._moves(game_id, view, events)
        row = self._game_row(game_id, view, len(moves))
        opened = next((e for e in events if e.name == "GameCreated"), None)
        opened_tx = opened.tx_hash if opened else ""
        settled = self._one(self.index.of_game(game_id, "GameSettled"), GameSettled)
        rejected = self._one(self.index.of_game(game_id, "ClaimRejected"), ClaimRejected)
        payments = _game_payments(view, challenged, settled, rejected)
        return GameDetail(
            row=row,
            job_id=challenged.job_id if challenged else claim.job_id,
            provider=view.provider,
            challenger=view.challenger,
            clock=int(opened.args["clock"]) if opened else 0,
            n_ops=view.n_ops,
            opened_block=opened.block_number if opened else 0,
            opened_tx=opened_tx,
            challenge_gas=int(self.reader.receipt(opened_tx)["gasUsed"]) if opened_tx else 0,
            level=view.phase.level if view.active else _ended(view),
            to_move=view.mover.name.lower() if view.active else None,
            deadline=view.deadline if view.active else None,
            provider_clock=view.provider_clock,
            challenger_clock=view.challenger_clock,
            moves=moves,
            payments=payments,
            settlement=_settlement_text(view, settled, rejected),
        )

    # ---- parts ----

    def _existing_job(self, job_id: int) -> Job:
        job = self.d.market.job(job_id)
        if job.state == JobState.NONE:
            count = self.d.market.job_count()
            known = f"jobs 1..{count}" if count else "no jobs yet"
            raise NotFound(f"job {job_id} does not exist on this deployment ({known})")
        return job

    def _job_row(self, job: Job) -> JobRow:
        claim = self.d.market.claim(job.current_claim) if job.current_claim else None
        claim_ids = self.index.claims_of_job(job.job_id)
        games = sum(len(self.index.of_claim(c, "Challenged")) for c in claim_ids)
        window_end = None
        if claim is not None and claim.submitted_at:
            window_end = claim.submitted_at + job.params.challenge_window
        last = None
        if claim is None and claim_ids:  # reopened: say how its last claim ended
            last = self.d.market.claim(claim_ids[-1])
        return JobRow(
            job_id=job.job_id,
            state=job.state.name.lower(),
            reward=job.reward,
            poster=job.poster,
            current_claim=job.current_claim,
            claim_state=claim.state.name.lower() if claim else None,
            provider=claim.provider if claim else None,
            window_end=window_end,
            last_claim=last.claim_id if last else 0,
            last_claim_state=last.state.name.lower() if last else None,
            claims=len(claim_ids),
            games=games,
            reopens_at=job.reopens_at,
        )

    def _claim(self, job: Job, claim_id: int) -> ClaimView:
        market = self.d.market
        claim = market.claim(claim_id)
        claimed = self._one(self.index.of_claim(claim_id, "JobClaimed"), JobClaimed)
        submitted = self._one(self.index.of_claim(claim_id, "ResultSubmitted"), ResultSubmitted)
        games = [
            self._game_row(g.game_id, self._game_view(g.game_id))
            for g in self._all(self.index.of_claim(claim_id, "Challenged"), Challenged)
        ]
        return ClaimView(
            claim_id=claim_id,
            provider=claim.provider,
            state=claim.state.name.lower(),
            outcome=self._outcome(job, claim),
            claimed_at=claim.claimed_at,
            execute_by=claimed.execute_by if claimed else 0,
            submitted_at=claim.submitted_at,
            # the window of a claim that ended otherwise never closed: not shown
            window_end=submitted.window_end
            if submitted and claim.state in (ClaimState.SUBMITTED, ClaimState.ACCEPTED)
            else None,
            lock=claim.lock,
            s_n="0x" + claim.s_n.hex(),
            output_root="0x" + claim.output_root.hex(),
            output_locator=submitted.output_locator if submitted else None,
            output_due=claim.output_due,
            output_published=claim.output_published,
            games=games,
            payments=self._claim_payments(job, claim),
            node=self.node_state.claim(claim_id),
        )

    def _outcome(self, job: Job, claim: Claim) -> str:
        cid = claim.claim_id
        if claim.state == ClaimState.ACCEPTED:
            return "accepted: the reward went to the provider"
        if claim.state == ClaimState.REJECTED:
            rejected = self._one(self.index.of_claim(cid, "ClaimRejected"), ClaimRejected)
            if rejected is None:
                return "rejected"
            if rejected.cause == RejectCause.GAME_LOST:
                return f"rejected: the provider lost game {rejected.game_id}"
            return "rejected: the output was demanded and not published in time"
        if claim.state == ClaimState.EXPIRED:
            return "expired: the provider missed its execution deadline"
        if claim.state == ClaimState.SUBMITTED:
            demanded = self._one(self.index.of_claim(cid, "OutputDemanded"), OutputDemanded)
            published = self.index.of_claim(cid, "OutputPublished")
            if demanded is not None and not published and claim.output_due:
                return f"submitted; output demanded, due at {demanded.due}"
            return "submitted: in its challenge window or its games"
        if claim.state == ClaimState.ACTIVE:
            return "active: the provider is executing"
        return claim.state.name.lower()

    def _game_view(self, game_id: int) -> GameView:
        g = self.d.game.game(game_id)
        return GameView.of_game(game_id, g, self.d.now(), self.d.game.log2_arity())

    def _game_row(self, game_id: int, view: GameView, moves: int | None = None) -> GameRow:
        challenged = self._one(self.index.of_game(game_id, "Challenged"), Challenged)
        resolved = self.index.of_game(game_id, "GameResolved")
        settled = self._one(self.index.of_game(game_id, "GameSettled"), GameSettled)
        if moves is None:
            moves = len(
                {e.tx_hash for e in self.index.of_game(game_id) if _is_move(e)}
            )  # the count without reading receipts
        winner = None
        if view.status == GameStatus.PROVIDER_WON:
            winner = view.provider
        elif view.status == GameStatus.CHALLENGER_WON:
            winner = view.challenger
        return GameRow(
            game_id=game_id,
            claim_id=view.claim_id,
            challenger=view.challenger,
            status=view.status.name.lower(),
            winner=winner,
            by_timeout=bool(resolved and resolved[-1].args.get("byTimeout")),
            moves=moves,
            bond=challenged.bond if challenged else 0,
            backing=challenged.backing if challenged else 0,
            settled=settled is not None,
            bounty=settled.bounty if settled else 0,
            burned=settled.burned if settled else 0,
        )

    def _moves(self, game_id: int, view: GameView, events: list[ChainEvent]) -> list[Move]:
        if game_id in self._finished_games:
            return self._finished_games[game_id]
        moves = moves_of_game(
            self.reader,
            game_id,
            events,
            view.provider,
            view.challenger,
            self.node_state.moves_by_tx(),
        )
        if not view.active:
            self._finished_games[game_id] = moves
        return moves

    def _claim_payments(self, job: Job, claim: Claim) -> list[Payment]:
        cid = claim.claim_id
        out: list[Payment] = []
        for f in self._all(self.index.of_claim(cid, "JobFinalized"), JobFinalized):
            out.append(Payment("provider", f.provider, f.reward, "reward"))
        for e in self._all(self.index.of_claim(cid, "ClaimExpired"), ClaimExpired):
            out.append(Payment("provider", e.provider, -e.slashed, "lock share slashed (expired)"))
            out.append(Payment("poster", job.poster, e.slashed, "compensation for the expiry"))
        for r in self._all(self.index.of_claim(cid, "ClaimRejected"), ClaimRejected):
            out.append(Payment("provider", claim.provider, -r.slashed, "claim lock slashed"))
            out.append(Payment("burned", BURN, r.slashed, "claim lock burned"))
        return out

    def _job_payments(self, job: Job) -> list[Payment]:
        out: list[Payment] = []
        for c in self._all(self.index.of_job(job.job_id, "JobCancelled"), JobCancelled):
            out.append(Payment("poster", c.poster, c.refund, "escrow refunded (cancelled)"))
        return out

    @staticmethod
    def _all(events: list[ChainEvent], cls: type[Any]) -> list[Any]:
        return [cls.from_log(e) for e in events]

    @staticmethod
    def _one(events: list[ChainEvent], cls: type[Any]) -> Any:
        return cls.from_log(events[-1]) if events else None


def _is_move(e: ChainEvent) -> bool:
    if e.contract != "game":
        return False
    return (
        e.name in MOVE_OF_EVENT
        or e.name == "Settled"  # the payouts after the step (a timeout's own settle: same tx)
        or (e.name == "GameResolved" and bool(e.args.get("byTimeout")))
    )


def _game_payments(
    view: GameView,
    challenged: Challenged | None,
    settled: GameSettled | None,
    rejected: ClaimRejected | None,
) -> list[Payment]:
    """Every movement of the game's money, so that the lines add up to zero (the burn address
    counts as a party): the bond paid to open it, its settlement, and the claim's lock when this
    game rejected the claim."""
    out: list[Payment] = []
    if challenged is not None:
        out.append(
            Payment("challenger", view.challenger, -challenged.bond, "bond paid to open the game")
        )
    if settled is not None:
        if settled.provider_won:
            out.append(Payment("provider", view.provider, settled.bond, "the challenger's bond"))
        else:
            out.append(Payment("challenger", view.challenger, settled.bond, "bond returned"))
            out.append(Payment("challenger", view.challenger, settled.bounty, "bounty"))
            out.append(Payment("provider", view.provider, -settled.backing, "game backing slashed"))
            out.append(Payment("burned", BURN, settled.burned, "rest of the backing burned"))
    if rejected is not None:
        out.append(Payment("provider", view.provider, -rejected.slashed, "claim lock slashed"))
        out.append(Payment("burned", BURN, rejected.slashed, "claim lock burned"))
    return out


def _settlement_text(
    view: GameView, settled: GameSettled | None, rejected: ClaimRejected | None
) -> str:
    if view.active:
        return "the game is being played: nothing is paid until it ends"
    if view.unsettled:
        return "decided by the step: nothing is paid until someone (anyone) calls settle"
    if settled is None:
        return "ended; no settlement event found from the start block"
    if settled.provider_won:
        freed = " and its backing went back to its free stake" if settled.backing else ""
        return f"the provider won: the challenger's bond went to the provider{freed}"
    text = "the challenger won: its bond came back with a bounty out of this game's backing"
    if rejected is not None:
        text += "; this game rejected the claim, whose whole lock was burned"
    else:
        text += "; the claim had already been rejected, so only this game's money moved"
    return text


# ---- JSON ------------------------------------------------------------------------------------


def to_json(obj: Any) -> Any:
    """A page model as JSON-ready data (dataclasses as objects, enums by name, bytes as hex)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.name.lower()
    if isinstance(obj, bytes):
        return "0x" + obj.hex()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


def _ended(view: GameView) -> str:
    """A game with no move left: decided and waiting for `settle` (the payouts), or paid."""
    return "decided, to settle" if view.unsettled else "resolved"
