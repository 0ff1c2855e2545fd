"""The node's own state folders, read-only: what the provider decided about each job, what the
watchtower found about each claim, and every move either of them sent.

Each folder's `state.db` (node.state.store) is opened read-only (`_connect`), so the explorer
can run beside the daemons and never changes their data. A folder whose database
records another chain or deployment than the one the explorer reads (the daemons' own check,
StateStore.bind_to) is listed as such and not used: its jobs would be another chain's."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from node.roles.records import ProviderStage, WatchStage

# role folder under the data folder -> what the explorer calls it
ROLE_DIRS = {"provider": "provider", "watch": "watchtower", "poster": "poster"}


@dataclass(frozen=True)
class NodeRecord:
    """One record of a daemon: the provider's job or the watchtower's claim."""

    role: str
    key: int
    stage: str
    reason: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class NodeMove:
    """A move one of the node's roles sent and saw mined (node.game.responder.MoveRecord)."""

    role: str
    game_id: int
    seq: int
    tx_hash: str | None
    data: dict[str, Any]


@dataclass
class StateFolder:
    role: str
    path: Path  # the state.db
    usable: bool = False
    problem: str | None = None  # why it is not used
    jobs: dict[int, NodeRecord] = field(default_factory=dict)
    claims: dict[int, NodeRecord] = field(default_factory=dict)
    moves: list[NodeMove] = field(default_factory=list)


def _stage_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return f"stage {value}"


def _connect(db: Path) -> sqlite3.Connection:
    """Read-only. With a `-wal` file beside it (a daemon has it open, or died with it open),
    SQLite's read-only mode, which reads the WAL through its shared index (`-shm`: locks and
    read marks, never data). Without one (every daemon closed it: all data is in the file),
    `immutable`, which creates no `-wal` or `-shm` in the daemon's folder and takes no lock."""
    uri = db.resolve().as_uri()
    wal = db.with_name(db.name + "-wal")
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def read_folder(role: str, db: Path, identity: dict[str, str]) -> StateFolder:
    """One role's state database, or a folder marked unusable with the reason."""
    folder = StateFolder(role, db)
    if not db.is_file():
        folder.problem = "no state database"
        return folder
    try:
        conn = _connect(db)
        try:
            _read(conn, folder, identity)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError) as exc:  # not a database, or a record not JSON
        folder.problem = f"unreadable: {exc}"
        folder.jobs, folder.claims, folder.moves = {}, {}, []
    return folder


def _read(conn: sqlite3.Connection, folder: StateFolder, identity: dict[str, str]) -> None:
    meta = {
        r["key"][len("chain.") :]: r["value"]
        for r in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'chain.%'")
    }
    differ = sorted(k for k, v in identity.items() if k in meta and meta[k] != v)
    if differ:
        folder.problem = f"made on another chain or deployment ({', '.join(differ)} differ)"
        return
    for row in conn.execute("SELECT job_id, data FROM jobs"):
        data = json.loads(row["data"])
        key = int(row["job_id"])
        folder.jobs[key] = NodeRecord(
            folder.role,
            key,
            _stage_name(ProviderStage, int(data.get("stage", -1))),
            data.get("reason"),
            data,
        )
    for row in conn.execute("SELECT claim_id, data FROM claims"):
        data = json.loads(row["data"])
        key = int(row["claim_id"])
        folder.claims[key] = NodeRecord(
            folder.role,
            key,
            _stage_name(WatchStage, int(data.get("stage", -1))),
            data.get("reason"),
            data,
        )
    for row in conn.execute("SELECT game_id, seq, data, tx_hash FROM moves ORDER BY game_id, seq"):
        folder.moves.append(
            NodeMove(
                folder.role,
                int(row["game_id"]),
                int(row["seq"]),
                row["tx_hash"],
                json.loads(row["data"]),
            )
        )
    folder.usable = True


class NodeState:
    """The state folders of this node's roles, re-read on every `refresh`."""

    def __init__(self, folders: dict[str, Path]) -> None:
        """`folders`: role name -> its folder (the one holding state.db)."""
        self.paths = {role: Path(p) / "state.db" for role, p in folders.items()}
        self.folders: list[StateFolder] = []

    @classmethod
    def under(cls, data_dir: Path) -> NodeState:
        """The role folders `poc provider`, `poc watch` and `poc job` use under a data folder."""
        return cls({name: Path(data_dir) / sub for sub, name in ROLE_DIRS.items()})

    def refresh(self, identity: dict[str, str]) -> None:
        self.folders = [read_folder(role, db, identity) for role, db in self.paths.items()]

    def _usable(self) -> list[StateFolder]:
        return [f for f in self.folders if f.usable]

    def job(self, job_id: int) -> list[NodeRecord]:
        return [f.jobs[job_id] for f in self._usable() if job_id in f.jobs]

    def claim(self, claim_id: int) -> list[NodeRecord]:
        return [f.claims[claim_id] for f in self._usable() if claim_id in f.claims]

    def moves_by_tx(self) -> dict[str, NodeMove]:
        out: dict[str, NodeMove] = {}
        for f in self._usable():
            for m in f.moves:
                if m.tx_hash:
                    out[m.tx_hash.lower()] = m
        return out
