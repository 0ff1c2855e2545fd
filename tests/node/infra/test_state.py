"""The SQLite state store: idempotent upserts, atomic transactions, survival of restarts."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from node.state import PendingTx, StateError, StateStore
from node.state.store import SCHEMA_VERSION, TX_MINED


def test_database_uses_wal(tmp_path: Path) -> None:
    StateStore(tmp_path / "state.db").close()
    mode = sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_checkpoint_is_none_until_set_and_then_persists(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        assert store.checkpoint("market") is None
        store.set_checkpoint("market", 10)
        store.set_checkpoint("market", 12)
    with StateStore(tmp_path / "s.db") as store:
        assert store.checkpoint("market") == 12


def test_upserting_the_same_job_twice_keeps_one_row(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        store.upsert_job(7, 1, {"reward": 5})
        store.upsert_job(7, 2, {"reward": 5, "claim": 3})
        assert store.job(7) == (2, {"reward": 5, "claim": 3})
        assert list(store.jobs()) == [7]
        assert store.jobs(status=1) == {}


def test_games_and_moves_replay_idempotently(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        for _ in range(2):
            store.upsert_game(3, status=1, phase=2, role="challenger", data={"lo": 0}, job_id=1)
            store.record_move(3, 0, "revealStates", {"roots": ["0x01"]}, tx_hash="0xaa")
            store.record_move(3, 0, "revealStates", {"roots": ["0x01"]})
        game = store.game(3)
        assert game is not None and game["job_id"] == 1 and game["phase"] == 2
        assert store.moves(3) == [
            {"seq": 0, "kind": "revealStates", "data": {"roots": ["0x01"]}, "tx_hash": "0xaa"}
        ]
        assert [g["game_id"] for g in store.games(status=1)] == [3]


def test_pending_tx_progresses_without_losing_its_hash(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        intent = PendingTx(key="submit:job:1", sender="0xAb", nonce=4, description="submit")
        store.put_tx(intent)
        store.put_tx(PendingTx(**{**intent.__dict__, "tx_hash": "0xbeef"}))
        store.put_tx(PendingTx(**{**intent.__dict__, "status": TX_MINED, "block": 9}))
        tx = store.tx("submit:job:1")
        assert tx is not None and (tx.tx_hash, tx.status, tx.block) == ("0xbeef", TX_MINED, 9)
        assert store.txs(sender="0xab") == []
        assert store.txs(status=TX_MINED, sender="0xab") == [tx]


def test_failed_transaction_block_commits_nothing(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.upsert_job(1, 1, {})
            store.set_checkpoint("market", 100)
            raise RuntimeError("handler crashed mid-batch")
        assert store.job(1) is None and store.checkpoint("market") is None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "s.db").execute("PRAGMA user_version=99")
    with pytest.raises(StateError, match="newer"):
        StateStore(tmp_path / "s.db")


def _write_forever(path: str) -> None:
    store = StateStore(Path(path))
    block = 0
    while True:
        block += 1
        with store.transaction():
            store.upsert_job(block, 1, {"block": block})
            store.set_checkpoint("market", block)


def test_a_killed_writer_leaves_a_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    writer = multiprocessing.get_context("spawn").Process(target=_write_forever, args=(str(path),))
    writer.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with StateStore(path) as probe:
                if (probe.checkpoint("market") or 0) > 20:
                    break
            time.sleep(0.05)
    finally:
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
    with StateStore(path) as store:
        last = store.checkpoint("market")
        assert last is not None and last > 20
        # The checkpoint and the jobs it covers were committed together.
        assert max(store.jobs()) == last


def test_a_version_1_database_moves_the_watchtower_claims_to_their_table(tmp_path: Path) -> None:
    """Schema 1 kept the watchtower's claims in `jobs`; opening it with this node moves them
    (the rows with a window end) to `claims` and leaves the provider's jobs where they were."""

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE jobs (job_id INTEGER PRIMARY KEY, status INTEGER NOT NULL, "
        "data TEXT NOT NULL, updated_at REAL NOT NULL); PRAGMA user_version=1;"
    )
    conn.execute(
        "INSERT INTO jobs VALUES (4, 3, ?, 1.0)",
        ('{"job_id":2,"s_n":"0x01","stage":3,"window_end":99}',),
    )
    conn.execute("INSERT INTO jobs VALUES (7, 1, ?, 1.0)", ('{"locator":"bafy","stage":1}',))
    conn.commit()
    conn.close()
    with StateStore(path) as store:
        assert store.claims() == {4: {"job_id": 2, "s_n": "0x01", "stage": 3, "window_end": 99}}
        assert store.claim(4) == (3, store.claims()[4])
        assert store.jobs() == {7: {"locator": "bafy", "stage": 1}}
    with StateStore(path) as store:  # reopening migrates nothing twice
        assert list(store.claims()) == [4] and list(store.jobs()) == [7]
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_records_are_typed_and_refuse_unknown_fields(tmp_path: Path) -> None:
    from node.roles.records import ClaimRecord, JobRecord, ProviderStage, WatchStage

    with StateStore(tmp_path / "s.db") as store:
        JobRecord(3, ProviderStage.CLAIMED, locator="bafy", claim_id=5).save(store)
        ClaimRecord(3, WatchStage.PLAYING, job_id=1, games=(4, 6)).save(store)
        job = JobRecord.load(store, 3)
        claim = ClaimRecord.load(store, 3)
        assert job == JobRecord(3, ProviderStage.CLAIMED, locator="bafy", claim_id=5)
        assert claim is not None and claim.games == (4, 6) and claim.stage is WatchStage.PLAYING
        assert [r.key for r in JobRecord.live_ones(store)] == [3]
        store.upsert_job(9, 0, {"stage": 0, "surprise": 1})
        with pytest.raises(ValueError, match="surprise"):
            JobRecord.load(store, 9)


def test_an_unreadable_record_does_not_hide_the_others(tmp_path: Path) -> None:
    """A row written by a newer node (an unknown field) is skipped by the daemon's pass over
    live records, which still sees every readable one."""
    from node.roles.records import JobRecord, ProviderStage

    with StateStore(tmp_path / "s.db") as store:
        JobRecord(3, ProviderStage.NEW, locator="bafy").save(store)
        store.upsert_job(4, 0, {"stage": 0, "from_the_future": 1})
        assert [r.key for r in JobRecord.live_ones(store)] == [3]
        with pytest.raises(ValueError, match="from_the_future"):
            JobRecord.load(store, 4)


def test_a_state_folder_belongs_to_one_chain(tmp_path: Path) -> None:
    """Issue 17 item 1: a devnet restarted with the same chain id and addresses is another chain
    (its genesis differs); reusing the old state would ignore every new job, so it is refused
    with a message that says what differs and what to do."""
    from node.state import StateOfAnotherChain

    first = {"chain_id": "31337", "genesis": "0xaa", "job_market": "0x01"}
    with StateStore(tmp_path / "s.db") as store:
        store.bind_to(first)
        store.bind_to(first)  # the same chain again: fine
        with pytest.raises(StateOfAnotherChain, match=r"genesis 0xaa here, 0xbb now") as err:
            store.bind_to({**first, "genesis": "0xbb"})
        assert "move that folder away" in str(err.value) and err.value.exit_code == 8
        # the same genesis, but this state has scanned further than the chain's head
        store.set_checkpoint("provider-jobs", 951)
        store.bind_to(first, head=951)
        with pytest.raises(StateOfAnotherChain, match="scanned to block 951 here, block 52 now"):
            store.bind_to(first, head=52)


def test_one_daemon_per_state_folder(tmp_path: Path) -> None:
    """A second daemon on the same folder is refused by name (and pid); the lock is released
    when the first one stops."""
    from node.state import StateInUse, exclusive

    with exclusive(tmp_path):
        with pytest.raises(StateInUse, match=rf"pid {os.getpid()}\) runs on"):
            with exclusive(tmp_path):
                pass
    with exclusive(tmp_path):  # released
        pass
