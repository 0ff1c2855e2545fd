"""SQLite store of everything a daemon must remember across restarts.

Why SQLite with WAL: one file, atomic multi-row transactions (the events of a scanned block
range and the checkpoint that says they were handled commit together), readers never block
the writer, and a crash at any point leaves the last committed state. Every write is an
upsert keyed by chain identifiers, so replaying the same events or moves is harmless."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import PocError

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT PRIMARY KEY,
    block INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scanned_blocks (
    name TEXT NOT NULL,
    block INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (name, block)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    claim_id INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seat_watches (
    seat_id INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS games (
    game_id INTEGER PRIMARY KEY,
    job_id INTEGER,
    claim_id INTEGER,
    status INTEGER NOT NULL,
    phase INTEGER NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS games_by_status ON games(status);
CREATE TABLE IF NOT EXISTS moves (
    game_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    tx_hash TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (game_id, seq)
);
CREATE TABLE IF NOT EXISTS pending_txs (
    key TEXT PRIMARY KEY,
    tx_hash TEXT,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    description TEXT NOT NULL,
    raw_tx TEXT,
    status TEXT NOT NULL,
    block INTEGER,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_status ON pending_txs(status);
CREATE TABLE IF NOT EXISTS ledger (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# (version, SQL) run on a database older than `version`, after the tables exist.
_MIGRATIONS: list[tuple[int, str]] = [
    # v2: the watchtower's records are claims, kept in their own table. Version 1 stored them
    # in `jobs`, keyed by claim id; they are the rows with a challenge-window end (a provider's
    # job records never have one).
    (
        2,
        "INSERT OR IGNORE INTO claims(claim_id, status, data, updated_at) "
        "SELECT job_id, status, data, updated_at FROM jobs "
        "WHERE json_extract(data, '$.window_end') IS NOT NULL;"
        "DELETE FROM jobs WHERE json_extract(data, '$.window_end') IS NOT NULL;",
    ),
    # v3: ledger entries say their asset (node.roles.earnings). Gas was always paid in ether;
    # the other rows of an older folder stay without one and are read as the deployment's
    # market asset (the store does not know it; node.roles.earnings.Entry.of).
    (
        3,
        "UPDATE ledger SET data = json_set(data, '$.asset', '0x" + "00" * 20 + "') "
        "WHERE json_extract(data, '$.kind') = 'gas' "
        "AND json_extract(data, '$.asset') IS NULL;",
    ),
]

# the record tables and their key columns (names are never taken from input)
# (seat_watches: the watchtower's seats of replicated jobs, protocol.md §6.8; a table added
# with IF NOT EXISTS, so an older state folder gains it on open and needs no migration)
_RECORD_TABLES = {"jobs": "job_id", "claims": "claim_id", "seat_watches": "seat_id"}

TX_PENDING = "pending"
TX_MINED = "mined"
TX_FAILED = "failed"
TX_DROPPED = "dropped"


class StateError(PocError):
    """The state database is unusable (wrong schema version, corrupt file, made on another
    chain, held by another daemon)."""

    exit_code = 8


class StateOfAnotherChain(StateError):
    """The state folder was made on another chain or deployment than the one configured now."""


class StateInUse(StateError):
    """Another daemon holds the state folder."""


@dataclass(frozen=True)
class PendingTx:
    """A transaction the node intends to have mined. `key` names the intent (for example
    `submit:job:7`) so that a restarted daemon sees it already sent it."""

    key: str
    sender: str
    nonce: int
    description: str
    tx_hash: str | None = None
    raw_tx: str | None = None
    status: str = TX_PENDING
    block: int | None = None


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: the daemon is one process; the lock lets a
        # watcher thread read safely. isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} has schema version {version}, newer than this node "
                f"({SCHEMA_VERSION}); upgrade poc"
            )
        # One script in one transaction: tables are created only with IF NOT EXISTS, so
        # opening an existing database changes nothing; the data moves below run only once,
        # from the version they are written for.
        steps = "".join(sql for v, sql in _MIGRATIONS if version and version < v)
        with self._lock:
            self._conn.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}{steps}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all; nesting joins the outer one."""
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self.transaction():
            self._conn.execute(sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    # the chain this state belongs to ----------------------------------------------------

    def bind_to(self, identity: dict[str, str], head: int | None = None) -> None:
        """Tie this state to one chain and deployment (chain id, genesis hash, contract
        addresses): the first call records them; a later call with other values raises
        StateOfAnotherChain, because jobs, claims, checkpoints and pending transactions of one
        chain mean nothing on another (a devnet restarted with the same chain id and the same
        contract addresses is another chain: its genesis differs)."""
        with self.transaction():
            rows = self._rows("SELECT key, value FROM meta WHERE key LIKE 'chain.%'")
            known = {r["key"][len("chain.") :]: r["value"] for r in rows}
            if not known:
                for key, value in identity.items():
                    self._conn.execute(
                        "INSERT INTO meta(key, value) VALUES (?, ?)", (f"chain.{key}", value)
                    )
                return
        differ = {k: (known.get(k), v) for k, v in identity.items() if known.get(k) != v}
        scanned = self._rows("SELECT MAX(block) AS block FROM checkpoints")[0]["block"]
        if head is not None and scanned is not None and int(scanned) > head:
            differ["head"] = (f"scanned to block {scanned}", f"block {head}")
        if differ:
            what = "; ".join(f"{k} {old} here, {new} now" for k, (old, new) in differ.items())
            raise StateOfAnotherChain(
                f"{self.path.parent} holds the state of another chain or deployment ({what}): "
                "move that folder away (or delete it) to start fresh on this one"
            )

    # checkpoints -----------------------------------------------------------------------

    def checkpoint(self, name: str) -> int | None:
        """The last block fully handled by scanner `name`, or None before its first scan."""
        rows = self._rows("SELECT block FROM checkpoints WHERE name = ?", (name,))
        return int(rows[0]["block"]) if rows else None

    def set_checkpoint(self, name: str, block: int) -> None:
        self._write(
            "INSERT INTO checkpoints(name, block, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET block = excluded.block, updated_at = excluded.updated_at",
            (name, block, time.time()),
        )

    # the hashes of the last blocks each scanner handled (node.chain.scanner: a stored hash
    # that the chain no longer has at that height means a reorg undid what was scanned there)

    def scanned_blocks(self, name: str) -> dict[int, str]:
        rows = self._rows("SELECT block, hash FROM scanned_blocks WHERE name = ?", (name,))
        return {int(r["block"]): str(r["hash"]) for r in rows}

    def set_scanned_block(self, name: str, block: int, block_hash: str, keep: int) -> None:
        """Remember `block`'s hash; only the `keep` highest blocks are kept."""
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO scanned_blocks(name, block, hash) VALUES (?, ?, ?)",
                (name, block, block_hash),
            )
            self._conn.execute(
                "DELETE FROM scanned_blocks WHERE name = ? AND block NOT IN (SELECT block FROM "
                "scanned_blocks WHERE name = ? ORDER BY block DESC LIMIT ?)",
                (name, name, keep),
            )

    def drop_scanned_blocks(self, name: str, above: int) -> None:
        self._write("DELETE FROM scanned_blocks WHERE name = ? AND block > ?", (name, above))

    # records: the provider's jobs and the watchtower's claims ---------------------------
    # (same shape: an id, a status column to select live records by, JSON data)

    def upsert_record(self, table: str, rid: int, status: int, data: dict[str, Any]) -> None:
        self._upsert_record(table, _RECORD_TABLES[table], rid, status, data)

    def record(self, table: str, rid: int) -> tuple[int, dict[str, Any]] | None:
        return self._record(table, _RECORD_TABLES[table], rid)

    def records(self, table: str, status: int | None = None) -> dict[int, dict[str, Any]]:
        return self._records(table, _RECORD_TABLES[table], status)

    def _upsert_record(
        self, table: str, key: str, rid: int, status: int, data: dict[str, Any]
    ) -> None:
        self._write(
            f"INSERT INTO {table}({key}, status, data, updated_at) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT({key}) DO UPDATE SET status = excluded.status, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (rid, status, _dump(data), time.time()),
        )

    def _record(self, table: str, key: str, rid: int) -> tuple[int, dict[str, Any]] | None:
        rows = self._rows(f"SELECT status, data FROM {table} WHERE {key} = ?", (rid,))
        return (int(rows[0]["status"]), json.loads(rows[0]["data"])) if rows else None

    def _records(self, table: str, key: str, status: int | None) -> dict[int, dict[str, Any]]:
        where, params = ("", ()) if status is None else (" WHERE status = ?", (status,))
        rows = self._rows(f"SELECT {key}, data FROM {table}{where} ORDER BY {key}", params)
        return {int(r[key]): json.loads(r["data"]) for r in rows}

    def upsert_job(self, job_id: int, status: int, data: dict[str, Any]) -> None:
        self._upsert_record("jobs", "job_id", job_id, status, data)

    def job(self, job_id: int) -> tuple[int, dict[str, Any]] | None:
        return self._record("jobs", "job_id", job_id)

    def jobs(self, status: int | None = None) -> dict[int, dict[str, Any]]:
        return self._records("jobs", "job_id", status)

    def upsert_claim(self, claim_id: int, status: int, data: dict[str, Any]) -> None:
        self._upsert_record("claims", "claim_id", claim_id, status, data)

    def claim(self, claim_id: int) -> tuple[int, dict[str, Any]] | None:
        return self._record("claims", "claim_id", claim_id)

    def claims(self, status: int | None = None) -> dict[int, dict[str, Any]]:
        return self._records("claims", "claim_id", status)

    # games and moves -------------------------------------------------------------------

    def upsert_game(
        self,
        game_id: int,
        *,
        status: int,
        phase: int,
        role: str,
        data: dict[str, Any],
        job_id: int | None = None,
        claim_id: int | None = None,
    ) -> None:
        self._write(
            "INSERT INTO games(game_id, job_id, claim_id, status, phase, role, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(game_id) DO UPDATE SET "
            "job_id = COALESCE(excluded.job_id, games.job_id), "
            "claim_id = COALESCE(excluded.claim_id, games.claim_id), status = excluded.status, "
            "phase = excluded.phase, role = excluded.role, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (game_id, job_id, claim_id, status, phase, role, _dump(data), time.time()),
        )

    def game(self, game_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM games WHERE game_id = ?", (game_id,))
        return _game_row(rows[0]) if rows else None

    def games(self, status: int | None = None) -> list[dict[str, Any]]:
        if status is None:
            rows = self._rows("SELECT * FROM games ORDER BY game_id")
        else:
            rows = self._rows("SELECT * FROM games WHERE status = ? ORDER BY game_id", (status,))
        return [_game_row(r) for r in rows]

    def record_move(
        self, game_id: int, seq: int, kind: str, data: dict[str, Any], tx_hash: str | None = None
    ) -> None:
        """Move `seq` of a game; recording it again (after a restart) updates it in place.
        A later tx_hash never erases a known one."""
        self._write(
            "INSERT INTO moves(game_id, seq, kind, data, tx_hash, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(game_id, seq) DO UPDATE SET "
            "kind = excluded.kind, data = excluded.data, "
            "tx_hash = COALESCE(excluded.tx_hash, moves.tx_hash), updated_at = excluded.updated_at",
            (game_id, seq, kind, _dump(data), tx_hash, time.time()),
        )

    def moves(self, game_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM moves WHERE game_id = ? ORDER BY seq", (game_id,))
        return [
            {
                "seq": int(r["seq"]),
                "kind": r["kind"],
                "data": json.loads(r["data"]),
                "tx_hash": r["tx_hash"],
            }
            for r in rows
        ]

    # pending transactions --------------------------------------------------------------

    def put_tx(self, tx: PendingTx) -> None:
        """Record an intent or its progress (hash once sent, status once mined)."""
        self._write(
            "INSERT INTO pending_txs(key, tx_hash, sender, nonce, description, raw_tx, status, "
            "block, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "tx_hash = COALESCE(excluded.tx_hash, pending_txs.tx_hash), sender = excluded.sender, "
            "nonce = excluded.nonce, description = excluded.description, "
            "raw_tx = COALESCE(excluded.raw_tx, pending_txs.raw_tx), status = excluded.status, "
            "block = COALESCE(excluded.block, pending_txs.block), updated_at = excluded.updated_at",
            (
                tx.key,
                tx.tx_hash,
                tx.sender,
                tx.nonce,
                tx.description,
                tx.raw_tx,
                tx.status,
                tx.block,
                time.time(),
            ),
        )

    def tx(self, key: str) -> PendingTx | None:
        rows = self._rows("SELECT * FROM pending_txs WHERE key = ?", (key,))
        return _tx_row(rows[0]) if rows else None

    def txs(self, status: str | None = TX_PENDING, sender: str | None = None) -> list[PendingTx]:
        sql = "SELECT * FROM pending_txs WHERE 1 = 1"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if sender is not None:
            sql += " AND lower(sender) = lower(?)"
            params.append(sender)
        return [_tx_row(r) for r in self._rows(sql + " ORDER BY nonce, key", tuple(params))]

    # the earnings ledger (node.roles.earnings): one entry per payment or gas bill, keyed by
    # what caused it (an event's transaction and log index, a transaction hash), so that
    # recording it again is harmless; amounts are JSON integers (wei exceeds 64 bits)

    def add_ledger_entry(self, key: str, data: dict[str, Any]) -> bool:
        """Record entry `key` unless it is already there; returns whether it was new."""
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO ledger(key, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (key, _dump(data), time.time()),
            )
            return cursor.rowcount == 1

    def ledger_entries(self) -> dict[str, dict[str, Any]]:
        rows = self._rows("SELECT key, data FROM ledger ORDER BY rowid")
        return {r["key"]: json.loads(r["data"]) for r in rows}


def _dump(data: dict[str, Any]) -> str:
    # sort_keys: identical content gives identical text, so re-upserts are byte-stable.
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _game_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "game_id": int(row["game_id"]),
        "job_id": row["job_id"],
        "claim_id": row["claim_id"],
        "status": int(row["status"]),
        "phase": int(row["phase"]),
        "role": row["role"],
        "data": json.loads(row["data"]),
    }


def _tx_row(row: sqlite3.Row) -> PendingTx:
    return PendingTx(
        key=row["key"],
        sender=row["sender"],
        nonce=int(row["nonce"]),
        description=row["description"],
        tx_hash=row["tx_hash"],
        raw_tx=row["raw_tx"],
        status=row["status"],
        block=row["block"],
    )


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold `folder` for one daemon: a second daemon on the same state folder would send the
    same intents twice and race on every record. The lock (flock on `daemon.lock`) is released
    when the holder exits, however it exits."""
    import fcntl
    import os

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "daemon.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StateInUse(
                f"another daemon (pid {holder}) runs on {folder}; stop it first, or give this "
                "one its own data folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
