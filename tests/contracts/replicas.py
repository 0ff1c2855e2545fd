"""Replicated jobs on the embedded chain (docs/protocol.md 6.8): the deployment of a
ReplicaMarket beside a System (sharing its StakeManager, its own DisputeGame instance), and
the steps of a replica: post, claim, commit, reveal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conftest import LOG2_ARITY, MIN_BOND, MIN_CLOCK, REWARD, STAKE, System, job_params
from contracts_trace import Trace
from eth_abi import encode
from eth_utils import keccak

REVEAL = 600
KEY_BASE = 2**255  # ReplicaMarket.REPLICA_KEY_BASE
GAME_BASE = 2**128  # ReplicaMarket.GAME_LOCK_BASE
BURN = "0x000000000000000000000000000000000000dEaD"
J_OPEN, J_RUNNING, J_DISPUTING, J_WINDOW, J_FINALIZED, J_CANCELLED = 1, 2, 3, 4, 5, 6
S_CLAIMED, S_COMMITTED, S_REVEALED, S_ACCEPTED, S_REJECTED, S_EXPIRED, S_RELEASED = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)


@dataclass
class Replicated:
    sys: System
    market: Any  # ReplicaMarket
    game: Any  # its DisputeGame instance

    @property
    def stake(self) -> Any:
        return self.sys.stake


def deploy_replicas(project, sys_: System, log2_arity: int = LOG2_ARITY) -> Replicated:  # noqa: ANN001
    """ReplicaMarket(stake) with its own DisputeGame, wired as protocol.md 6.8 says."""
    d = sys_.deployer
    rm = d.deploy(project.ReplicaMarket, sys_.stake.address, MIN_CLOCK, MIN_BOND)
    rg = d.deploy(project.DisputeGame, rm.address, sys_.step.address, log2_arity)
    rm.setGame(rg.address, sender=d)
    sys_.stake.setReplicaMarket(rm.address, sender=d)
    return Replicated(sys_, rm, rg)


def terms(
    replicas: int = 2, reveal: int = REVEAL, min_stake: int = 0, min_accepted: int = 0, allow=()
) -> tuple:  # noqa: ANN001
    return (
        replicas,
        reveal,
        min_stake,
        min_accepted,
        [a.address if hasattr(a, "address") else a for a in allow],
    )


def post(
    r: Replicated,
    poster,
    trace: Trace,
    chain,
    replicas: int = 2,
    reward: int = REWARD,
    window: int = 0,  # noqa: ANN001
    t: tuple | None = None,
    **over,
) -> int:  # noqa: ANN003
    """A replicated job for `trace`'s program; `window` is the poster's agreement window W."""
    p = job_params(trace, chain, challengeWindow=window, **over)
    r.market.post(p, t or terms(replicas), "ipfs://spec", value=reward, sender=poster)
    return int(r.market.jobCount())


def seat(r: Replicated, job: int, who, stake: int = STAKE) -> int:  # noqa: ANN001
    """`who` deposits what it lacks of `stake` free and claims a seat; returns the seat id."""
    free = int(r.stake.freeStake(who))
    if free < stake:
        r.stake.deposit(value=stake - free, sender=who)
    r.market.claim(job, sender=who)
    return int(r.market.seatCount())


def commitment(s_n: bytes, who: str, salt: bytes) -> bytes:
    return keccak(encode(["bytes32", "address", "bytes32"], [s_n, who, salt]))


def salt_of(who) -> bytes:  # noqa: ANN001
    return keccak(b"salt" + bytes.fromhex(who.address[2:]))


def commit(r: Replicated, seat_id: int, who, trace: Trace):  # noqa: ANN001, ANN201
    return r.market.commit(
        seat_id, commitment(trace.states[-1], who.address, salt_of(who)), sender=who
    )


def reveal(r: Replicated, seat_id: int, who, trace: Trace, salt: bytes | None = None):  # noqa: ANN001, ANN201
    p = trace.program
    return r.market.reveal(
        seat_id,
        trace.states[-1],
        trace.slot_root(p.output_slot),
        trace.output_proof(p.output_slot),
        salt if salt is not None else salt_of(who),
        "ipfs://out",
        sender=who,
    )


def run_round(r: Replicated, job: int, seats: list[tuple[Any, Trace]]) -> tuple[list[int], Any]:
    """Each (account, trace) claims, then all commit, then all reveal; returns the seat ids and
    the last reveal's receipt (the tally's events)."""
    ids = [seat(r, job, who) for who, _ in seats]
    for sid, (who, t) in zip(ids, seats, strict=True):
        commit(r, sid, who, t)
    receipt = None
    for sid, (who, t) in zip(ids, seats, strict=True):
        receipt = reveal(r, sid, who, t)
    return ids, receipt


def pair_games(r: Replicated, receipt) -> list[tuple[int, int, int]]:  # noqa: ANN001
    """(game id, defender seat, challenger seat) of the PairGame events of `receipt`."""
    return [
        (int(e.gameId), int(e.defenderSeat), int(e.challengerSeat))
        for e in r.market.PairGame.from_receipt(receipt)
    ]


def solvent(r: Replicated) -> None:
    """The solvency invariant of both markets and the stake manager (protocol.md 6.5, 6.8)."""
    m, s, rm = r.sys.market, r.stake, r.market
    assert m.balance == m.totalEscrow() + m.totalBonds() + m.totalCredits()
    assert rm.balance == rm.totalEscrow() + rm.totalBonds() + rm.totalCredits()
    assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()
