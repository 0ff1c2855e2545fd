"""The explorer's parts that need no chain: the node's state read read-only (and refused when it
belongs to another chain), amounts and escaping in the pages, positions as `make demo` prints
them, and the `poc explorer` command's errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal, localcontext
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from node.explorer import render
from node.explorer.node_state import NodeState, read_folder
from node.explorer.timeline import position_text
from node.explorer.views import Payment, to_json
from node.game.rules import Phase
from node.roles.records import ProviderStage, WatchStage
from node.state import StateStore

IDENTITY = {"chain_id": "1337", "genesis": "0x" + "11" * 32, "job_market": "0xabc"}
POC = [sys.executable, "-m", "node.cli.main"]


def _daemon_state(folder: Path) -> None:
    """A closed state folder as a provider leaves it: a job, a claim and one move."""
    with StateStore(folder / "state.db") as store:
        store.bind_to(IDENTITY)
        store.upsert_job(3, 3, {"stage": int(ProviderStage.DONE), "reason": "finalized"})
        store.upsert_claim(5, 4, {"stage": int(WatchStage.DONE), "window_end": 9})
        store.record_move(1, 0, "revealStates", {"phase": 1, "lo": 0, "hi": 6}, "0xAB")


def test_node_state_is_read_and_nothing_in_the_folder_changes(tmp_path: Path) -> None:
    _daemon_state(tmp_path / "provider")
    files = {p.name: p.read_bytes() for p in (tmp_path / "provider").iterdir()}
    state = NodeState.under(tmp_path)
    state.refresh(IDENTITY)
    (job,) = state.job(3)
    assert (job.role, job.stage, job.reason) == ("provider", "done", "finalized")
    assert [(c.role, c.stage) for c in state.claim(5)] == [("provider", "done")]
    assert state.job(4) == [] and list(state.moves_by_tx()) == ["0xab"]
    # no -wal or -shm was created beside a database its daemon had closed; no byte changed
    assert {p.name: p.read_bytes() for p in (tmp_path / "provider").iterdir()} == files
    problems = {f.role: f.problem for f in state.folders}
    assert problems == {
        "provider": None,
        "watchtower": "no state database",
        "poster": "no state database",
    }


def test_a_running_daemons_state_is_read_without_touching_its_data(tmp_path: Path) -> None:
    _daemon_state(tmp_path)
    with StateStore(tmp_path / "state.db") as live:  # the daemon has it open (a -wal exists)
        live.upsert_job(4, 1, {"stage": int(ProviderStage.CLAIMED)})
        data = {p: p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith("-shm")}
        folder = read_folder("provider", tmp_path / "state.db", IDENTITY)
        assert folder.usable and folder.jobs[4].stage == "claimed"  # read through the WAL
        assert {p: p.read_bytes() for p in data} == data


def test_state_of_another_chain_is_not_used(tmp_path: Path) -> None:
    _daemon_state(tmp_path)
    other = {**IDENTITY, "genesis": "0x" + "22" * 32}
    folder = read_folder("provider", tmp_path / "state.db", other)
    assert not folder.usable and folder.jobs == {}
    assert folder.problem == "made on another chain or deployment (genesis differ)"


def test_an_unreadable_state_file_is_named_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"not a database" * 100)
    folder = read_folder("watchtower", tmp_path / "state.db", IDENTITY)
    assert not folder.usable and folder.problem is not None
    assert folder.problem.startswith("unreadable: ")


def test_a_newer_schema_is_still_only_read(tmp_path: Path) -> None:
    _daemon_state(tmp_path)
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    folder = read_folder("provider", tmp_path / "state.db", IDENTITY)
    assert folder.usable and 3 in folder.jobs


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_amounts_read_back_to_the_same_wei(wei: int) -> None:
    text = render.eth(wei, signed=True)
    assert text.endswith(" ETH")
    number = text[: -len(" ETH")]
    with localcontext(prec=80):  # exact for these magnitudes
        assert Decimal(number) * 10**18 == wei
    assert number.startswith("+" if wei > 0 else "-" if wei < 0 else "0")


@given(st.text())
def test_every_shown_value_is_escaped(value: str) -> None:
    out = render.esc(value)
    assert "<" not in out and ">" not in out and '"' not in out
    html = render.payments_table([Payment("provider", value, 1, value)])
    assert html.count("<tr") == 2  # the head and the one row: nothing injected


def test_positions_read_as_the_demo_prints_them() -> None:
    assert position_text(Phase.EXEC_PICK.level, 0, 6, 0, 0, 0) == "ops [0, 6]"
    assert position_text(Phase.TENSOR_REVEAL.level, 0, 0, 2, 1, 0) == "height 2 node 1"
    assert position_text(Phase.OP_OPEN.level, 0, 0, 0, 0, 0) == "height 0 node 0"
    assert position_text(Phase.SUM_PICK.level, 0, 2, 0, 0, 3) == "elem 3 chunks [0, 2]"
    assert position_text(Phase.STEP.level, 0, 0, 0, 4, 7) == "leaf 4 elem 7"


def test_models_become_plain_json() -> None:
    payment = Payment("burned", "0xdead", 5, "claim lock burned")
    out = to_json({"p": [payment], "phase": Phase.STEP, "root": b"\x01\x02", "t": (1, 2)})
    assert out == {
        "p": [{"who": "burned", "address": "0xdead", "amount": 5, "what": "claim lock burned"}],
        "phase": "step",
        "root": "0x0102",
        "t": [1, 2],
    }


def _poc(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    return subprocess.run(
        POC + args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_explorer_outside_a_deployment_says_where_it_looked(tmp_path: Path) -> None:
    res = _poc(["explorer"], tmp_path)
    assert res.returncode == 3, res.stderr
    assert "no protocol deployment configured" in res.stderr
    assert str(tmp_path / ".poc" / "config.json") in res.stderr and "Traceback" not in res.stderr


def test_explorer_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    res = _poc(["explorer", "--port", "70000"], tmp_path)
    assert res.returncode == 2 and "70000 is not in the range 0<=x<=65535" in res.stderr
