"""What each daemon remembers about the things it works on: typed, frozen records with a stage
enum of their own (the provider's jobs, the watchtower's claims and the seats of replicated jobs
it watches), stored as JSON in the state database's `jobs`, `claims` and `seat_watches` tables. The JSON keys are those of schema version 1, so a state
folder written by an older node reads the same; the failure fields (`failures`, `last_error`,
`retry_at`, node.roles.daemon) are left out while unset and read as unset when absent."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from node.state.store import StateStore

log = logging.getLogger(__name__)


class ProviderStage(IntEnum):
    """A job as the provider sees it."""

    NEW = 0  # seen posted; not decided yet
    CLAIMED = 1  # our claim is mined; executing
    SUBMITTED = 2  # result on chain; defending until finalized
    DONE = 3  # finalized (paid)
    REFUSED = 4  # policy, package or deadline said no
    LOST = 5  # deadline missed or claim rejected
    # claimed, then gave up computing (failures, see node.roles.daemon): waits for the execution
    # deadline to expire its own claim, losing what the protocol takes for a missed deadline
    ABANDONED = 6

    @property
    def live(self) -> bool:
        return self in (
            ProviderStage.NEW,
            ProviderStage.CLAIMED,
            ProviderStage.SUBMITTED,
            ProviderStage.ABANDONED,
        )

    @property
    def in_game(self) -> bool:
        """Defending a submitted claim: its games' chess clocks run."""
        return self is ProviderStage.SUBMITTED


class WatchStage(IntEnum):
    """A submitted claim as the watchtower sees it."""

    NEW = 0  # seen submitted; not checked yet
    CORRECT = 1  # recomputed: it matches
    WRONG = 2  # recomputed: it differs; challenging
    PLAYING = 3  # our games are running
    DONE = 4  # every game of ours ended
    SKIPPED = 5  # not checked (window, sampling, package)

    @property
    def live(self) -> bool:
        return self in (WatchStage.NEW, WatchStage.WRONG, WatchStage.PLAYING)

    @property
    def in_game(self) -> bool:
        return self is WatchStage.PLAYING


R = TypeVar("R", bound="Record")


@dataclass(frozen=True)
class Record:
    """One row: `key` is the row id; the other fields are its JSON data (None left out)."""

    TABLE: ClassVar[str]
    STAGES: ClassVar[type[IntEnum]]

    key: int
    stage: IntEnum
    reason: str | None = None  # why the record reached a final stage
    # failed attempts in a row at advancing it, the last one's cause, and the chain time before
    # which it is not tried again (node.roles.daemon); cleared by an attempt that succeeds
    failures: int = 0
    last_error: str | None = None
    retry_at: int | None = None

    @property
    def live(self) -> bool:
        return bool(self.stage.live)  # type: ignore[attr-defined]

    @property
    def in_game(self) -> bool:
        return bool(self.stage.in_game)  # type: ignore[attr-defined]

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "key" or value is None or (f.name == "failures" and not value):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["stage"] = int(self.stage)
        return out

    @classmethod
    def from_data(cls: type[R], key: int, data: dict[str, Any]) -> R:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.TABLE} record {key} has unknown fields {sorted(unknown)}")
        fields: dict[str, Any] = {k: v for k, v in data.items() if k != "stage"}
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return cls(key=key, stage=cls.STAGES(int(data["stage"])), **fields)

    def save(self, state: StateStore) -> None:
        state.upsert_record(self.TABLE, self.key, int(self.stage), self.data())

    @classmethod
    def load(cls: type[R], state: StateStore, key: int) -> R | None:
        row = state.record(cls.TABLE, key)
        return None if row is None else cls.from_data(key, row[1])

    @classmethod
    def all(cls: type[R], state: StateStore, stage: IntEnum | None = None) -> dict[int, R]:
        """Every readable record (of one stage). A row this node cannot read (written by a
        newer node, or damaged) is logged and left alone: it must not stop the daemon from
        serving the others (`load` still refuses it by name)."""
        rows = state.records(cls.TABLE, None if stage is None else int(stage))
        out: dict[int, R] = {}
        for k, d in rows.items():
            try:
                out[k] = cls.from_data(k, d)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("%s record %d is unreadable and left alone: %s", cls.TABLE, k, exc)
        return out

    @classmethod
    def live_ones(cls: type[R], state: StateStore) -> list[R]:
        found = [r for st in cls.STAGES if st.live for r in cls.all(state, st).values()]  # type: ignore[attr-defined]
        return sorted(found, key=lambda r: r.key)

    def status(self) -> dict[str, Any]:
        """For `status` commands: the data with the stage by name; a live record that is
        failing says so in `reason` (attempts, cause, next attempt)."""
        out = {**self.data(), "stage": self.stage.name.lower()}
        if self.live and self.failures and "reason" not in out:
            nxt = f", next attempt at chain time {self.retry_at}" if self.retry_at else ""
            out["reason"] = (
                f"retrying after {self.failures} failed attempts{nxt}: {self.last_error}"
            )
        return out


@dataclass(frozen=True)
class JobRecord(Record):
    """A provider's job (key: job id)."""

    TABLE: ClassVar[str] = "jobs"
    STAGES: ClassVar[type[IntEnum]] = ProviderStage

    locator: str = ""  # the job package's content id
    claim_id: int | None = None
    s_n: str | None = None  # 0x… of the state root we submitted
    output: str | None = None  # content id of the output we stored
    note: str | None = None  # why a live job waits (e.g. not enough free stake)
    # the poster's demand for our output (issue 11, P6): the chain time it is due by, recorded
    # before we publish; set once the output is published on chain (by us or anyone)
    output_due: int | None = None
    output_published: bool | None = None

    @property
    def job_id(self) -> int:
        return self.key


@dataclass(frozen=True)
class ClaimRecord(Record):
    """A watchtower's claim (key: claim id)."""

    TABLE: ClassVar[str] = "claims"
    STAGES: ClassVar[type[IntEnum]] = WatchStage

    job_id: int = 0
    s_n: str = ""  # 0x… the provider's S_N
    window_end: int = 0  # the challenge window's end (timestamp)
    my_s_n: str | None = None  # ours, when it differs
    games: tuple[int, ...] | None = None  # the games we opened on the claim
    # the output blob behind the claim's locator (issue 11, P6): available | missing | mismatch
    output: str | None = None
    output_cause: str | None = None  # why missing or mismatch

    @property
    def claim_id(self) -> int:
        return self.key


@dataclass(frozen=True)
class SeatWatchRecord(Record):
    """A watchtower's upheld seat of a replicated job in its agreement window (key: seat id;
    docs/protocol.md §6.8)."""

    TABLE: ClassVar[str] = "seat_watches"
    STAGES: ClassVar[type[IntEnum]] = WatchStage

    job_id: int = 0
    s_n: str = ""  # 0x… the seat's revealed S_N
    window_end: int = 0  # the agreement window's end (timestamp)
    my_s_n: str | None = None  # ours, when it differs
    games: tuple[int, ...] | None = None  # our watch games on the seat (replica game ids)

    @property
    def seat_id(self) -> int:
        return self.key
