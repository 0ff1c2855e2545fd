"""Stateful property test: the SQLite store always equals a dict model, across reopenings and
rolled-back batches (what a daemon restarted at any moment sees)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from node.state import StateStore

ids = st.integers(min_value=0, max_value=5)
payloads = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.integers(-(2**70), 2**70), max_size=3
)


class StoreMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "s.db"
        self.store = StateStore(self.path)
        self.jobs: dict[int, tuple[int, dict[str, Any]]] = {}
        self.checkpoints: dict[str, int] = {}
        self.moves: dict[tuple[int, int], dict[str, Any]] = {}

    @rule(job=ids, status=st.integers(1, 4), data=payloads)
    def upsert_job(self, job: int, status: int, data: dict[str, Any]) -> None:
        self.store.upsert_job(job, status, data)
        self.jobs[job] = (status, data)

    @rule(name=st.sampled_from(["market", "game"]), block=st.integers(0, 10**9))
    def checkpoint(self, name: str, block: int) -> None:
        self.store.set_checkpoint(name, block)
        self.checkpoints[name] = block

    @rule(game=ids, seq=ids, data=payloads)
    def move(self, game: int, seq: int, data: dict[str, Any]) -> None:
        self.store.record_move(game, seq, "m", data)
        self.moves[(game, seq)] = data

    @rule(job=ids, block=st.integers(0, 100))
    def failed_batch(self, job: int, block: int) -> None:
        try:
            with self.store.transaction():
                self.store.upsert_job(job, 9, {"lost": 1})
                self.store.set_checkpoint("market", block)
                raise RuntimeError("crash inside the batch")
        except RuntimeError:
            pass

    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = StateStore(self.path)

    @invariant()
    def equals_model(self) -> None:
        for job, expected in self.jobs.items():
            assert self.store.job(job) == expected
        assert set(self.store.jobs()) == set(self.jobs)
        for name, block in self.checkpoints.items():
            assert self.store.checkpoint(name) == block
        for (game, seq), data in self.moves.items():
            assert [m["data"] for m in self.store.moves(game) if m["seq"] == seq] == [data]

    def teardown(self) -> None:
        self.store.close()
        self.dir.cleanup()


StoreMatchesModel.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None
)
TestStoreMatchesModel = StoreMatchesModel.TestCase
