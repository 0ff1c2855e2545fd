"""A job's whole story as the chain tells it: every claim (accepted, rejected, expired ones
included) with its provider, its outcome and cause, each game with its challenger, status,
winner and the money it moved (bond, backing, bounty, burn), and the output demand and
publication. Read from the market's events (every event about a job carries its id as the
first indexed topic, so one log query per block window finds them all) and from reads of the
current state (claims, games). Plain data for `poc job status` (node.roles.client)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from eth_utils import event_abi_to_log_topic

from node.chain.contracts._binding import LOG_WINDOW, ContractBinding, EventRecord
from node.chain.contracts.deployment import Deployment
from node.chain.contracts.dispute_game import GameResolved
from node.chain.contracts.job_market import (
    MARKET_EVENTS,
    Challenged,
    ClaimExpired,
    ClaimRejected,
    Credited,
    GameSettled,
    JobCancelled,
    JobClaimed,
    JobFinalized,
    JobReopened,
    OutputDemanded,
    OutputPublished,
    RejectCause,
    ResultSubmitted,
)
from node.game.view import GameView

# why a claim ended without acceptance, as `status` words it
CAUSES = {
    RejectCause.GAME_LOST: "game lost",
    RejectCause.OUTPUT_WITHHELD: "output withheld",
}
DEADLINE_MISSED = "deadline missed"


@dataclass(frozen=True)
class GameStory:
    """One game of a claim: who challenged, where it stands, and once it has ended who won and
    what it paid (protocol.md 6.5 R3: the bond to the winner; the backing back to the provider,
    or `bounty` of it to the challenger and `burned` burned)."""

    game_id: int
    challenger: str
    status: str  # active | provider_won | challenger_won
    bond: int  # wei the challenger posted
    backing: int  # wei of the provider's free stake locked for this game when it opened
    level: str  # the level being played (execution, opening, ...), or "resolved"
    to_move: str | None  # provider | challenger, while active
    interval: list[int]  # execution/reduction level: [lo, hi]
    node: list[int]  # tensor level: [height, index]
    provider_clock: int  # seconds left
    challenger_clock: int
    deadline: int | None  # while active: when the side to move runs out of time
    winner: str | None = None
    by_timeout: bool | None = None
    bounty: int | None = None  # paid to the challenger out of the backing
    burned: int | None = None  # of the backing


@dataclass(frozen=True)
class OutputStory:
    """The poster's demand for the claim's output on chain, and its publication (R4)."""

    demanded: bool = False
    due: int | None = None  # chain time it must be published by
    published: bool = False
    leaf_size: int | None = None
    size: int | None = None  # bytes published


@dataclass(frozen=True)
class ClaimStory:
    claim_id: int
    provider: str
    state: str  # active | submitted | accepted | rejected | expired
    lock: int  # wei of stake the claim locked
    claimed_at: int
    execute_deadline: int  # the last second the result may be submitted
    submitted_at: int | None
    window_end: int | None  # challenge window end, once submitted
    s_n: str | None
    output_root: str | None
    output_locator: str | None
    # how it ended: accepted (reward paid), or cause + slashed for a rejected or expired claim
    cause: str | None = None  # game lost | output withheld | deadline missed
    lost_game: int | None = None  # the game whose loss rejected it
    # wei of the lock taken (burned; for a missed deadline, credited to the poster)
    slashed: int | None = None
    reward: int | None = None  # wei paid to the provider on acceptance
    output: OutputStory = field(default_factory=OutputStory)
    games: dict[int, GameStory] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobStory:
    claims: list[ClaimStory]
    reopened: list[int]  # the reopensAt of each reopening, in order
    refund: int | None  # wei refunded to the poster by a cancel


def _topic(binding: ContractBinding, cls: type[EventRecord]) -> str:
    return "0x" + bytes(event_abi_to_log_topic(dict(binding.entry("event", cls.EVENT)))).hex()  # type: ignore[arg-type]


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


def _events(
    d: Deployment,
    kinds: Sequence[tuple[ContractBinding, type[EventRecord]]],
    topics: list[Any],
    from_block: int,
) -> list[EventRecord]:
    """The events of `kinds` (binding, record) matching `topics` after topic 0, from
    `from_block` to the head in bounded windows (public endpoints refuse long ranges), in
    chain order. Forward from a known block: a job's story starts where it was posted."""
    by_key = {(b.address.lower(), _topic(b, cls)): (b, cls) for b, cls in kinds}
    addresses = sorted({b.address for b, _ in kinds})
    topic0 = sorted({t for _, t in by_key})
    out: list[EventRecord] = []
    for lo, hi in _windows(from_block, d.block_number()):
        logs = d.w3.eth.get_logs(
            {"address": addresses, "topics": [topic0, *topics], "fromBlock": lo, "toBlock": hi}  # type: ignore[typeddict-item]
        )
        for log in logs:
            key = (str(log["address"]).lower(), "0x" + bytes(log["topics"][0]).hex())
            if key not in by_key:
                continue
            binding, cls = by_key[key]
            out.append(cls.from_log(binding.contract.events[cls.EVENT]().process_log(log)))
    return out


def job_events(d: Deployment, job_id: int, from_block: int) -> list[EventRecord]:
    """Every market event about job `job_id` (its id is each one's first indexed topic)."""
    # not GameSettled (game id first) nor Credited (account first): a job id could match them
    kinds = [(d.market, cls) for cls in MARKET_EVENTS if cls not in (GameSettled, Credited)]
    return _events(d, kinds, [_word(job_id)], from_block)


def claim_settlements(d: Deployment, claim_id: int, from_block: int) -> list[EventRecord]:
    """How each game of claim `claim_id` ended (GameResolved) and paid (GameSettled): both
    have the claim id as their second indexed topic."""
    kinds: list[tuple[ContractBinding, type[EventRecord]]] = [
        (d.market, GameSettled),
        (d.game, GameResolved),
    ]
    return _events(d, kinds, [None, _word(claim_id)], from_block)


def _windows(first: int, last: int) -> Iterator[tuple[int, int]]:
    while first <= last:
        yield first, min(first + LOG_WINDOW - 1, last)
        first += LOG_WINDOW


def job_story(d: Deployment, job_id: int) -> JobStory:
    """The story of a job that exists (its JobPosted event is found)."""
    posted = d.market.job_posted(job_id)
    events = job_events(d, job_id, posted.block_number)
    claims = [e for e in events if isinstance(e, JobClaimed)]
    return JobStory(
        [_claim_story(d, c, events) for c in claims],
        [e.reopens_at for e in events if isinstance(e, JobReopened)],
        next((e.refund for e in events if isinstance(e, JobCancelled)), None),
    )


def _claim_story(d: Deployment, claimed: JobClaimed, events: list[EventRecord]) -> ClaimStory:
    cid = claimed.claim_id
    mine = [e for e in events if getattr(e, "claim_id", None) == cid]
    claim = d.market.claim(cid)
    submitted = _first(mine, ResultSubmitted)
    rejected = _first(mine, ClaimRejected)
    expired = _first(mine, ClaimExpired)
    finalized = _first(mine, JobFinalized)
    demanded = _first(mine, OutputDemanded)
    published = _first(mine, OutputPublished)
    cause, lost_game, slashed = None, None, None
    if rejected is not None:
        cause = CAUSES.get(rejected.cause, f"cause {int(rejected.cause)}")
        lost_game, slashed = rejected.game_id or None, rejected.slashed
    elif expired is not None:
        cause, slashed = DEADLINE_MISSED, expired.slashed
    challenges = {e.game_id: e for e in mine if isinstance(e, Challenged)}
    ended = (
        claim_settlements(d, cid, claimed.block_number)
        if claim.active_games < len(challenges)
        else []
    )
    games = {
        g: _game_story(d, g, challenges.get(g), [e for e in ended if e.game_id == g])  # type: ignore[attr-defined]
        for g in d.market.games_of_claim(cid)
    }
    return ClaimStory(
        claim_id=cid,
        provider=claimed.provider,
        state=claim.state.name.lower(),
        lock=claimed.lock,
        claimed_at=claim.claimed_at,
        execute_deadline=claimed.execute_by,
        submitted_at=claim.submitted_at or None,
        window_end=submitted.window_end if submitted else None,
        s_n="0x" + submitted.s_n.hex() if submitted else None,
        output_root="0x" + submitted.output_root.hex() if submitted else None,
        output_locator=submitted.output_locator if submitted else None,
        cause=cause,
        lost_game=lost_game,
        slashed=slashed,
        reward=finalized.reward if finalized else None,
        output=OutputStory(
            demanded=demanded is not None,
            due=demanded.due if demanded else None,
            published=published is not None or claim.output_published,
            leaf_size=published.leaf_size if published else None,
            size=len(published.data) if published else None,
        ),
        games=games,
    )


def _game_story(
    d: Deployment, game_id: int, challenged: Challenged | None, ended: list[EventRecord]
) -> GameStory:
    v: GameView = d.game_view(game_id)
    bond = challenged.bond if challenged else 0
    backing = challenged.backing if challenged else d.market.backing_of(game_id)
    story = GameStory(
        game_id=game_id,
        challenger=v.challenger,
        status=v.status.name.lower(),
        bond=bond,
        backing=backing,
        level=v.phase.level if v.active else _ended(v),
        to_move=v.mover.name.lower() if v.active else None,
        interval=[v.lo, v.hi],
        node=[v.height, v.index],
        provider_clock=v.provider_clock,
        challenger_clock=v.challenger_clock,
        deadline=v.deadline if v.active else None,
    )
    if v.active:
        return story
    settled: GameSettled | None = _first(ended, GameSettled)
    resolved: GameResolved | None = _first(ended, GameResolved)
    return replace(
        story,
        winner=settled.winner if settled else (resolved.winner if resolved else None),
        by_timeout=resolved.by_timeout if resolved else None,
        bounty=settled.bounty if settled else None,
        burned=settled.burned if settled else None,
    )


def _first(events: list[EventRecord], cls: type[Any]) -> Any:
    return next((e for e in events if isinstance(e, cls)), None)


def _ended(view: GameView) -> str:
    """A game with no move left: decided and waiting for `settle` (the payouts), or paid."""
    return "decided, to settle" if view.unsettled else "resolved"
