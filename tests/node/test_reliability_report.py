"""The fault matrix renderer (poc_lab.reliability): every injected fault is counted once, in
its point and kind, and every run is listed with its end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from poc_lab.reliability import main, point_of, render, render_chain_faults, render_load

ROWS = [
    {"case": "honest", "seed": 11, "link": "provider-rpc", "method": "eth_sendRawTransaction",
     "fault": "reset-after", "count": 2, "requests": 400, "outcome": "finalized"},
    {"case": "honest", "seed": 11, "link": "provider-ipfs", "method": "cat",
     "fault": "http-502", "count": 1, "requests": 9, "outcome": "finalized"},
    {"case": "liar caught", "seed": 12, "link": "tower-rpc", "method": "eth_sendRawTransaction",
     "fault": "reset-after", "count": 3, "requests": 700, "outcome": "liar slashed"},
    {"case": "liar caught", "seed": 12, "link": "tower-rpc", "method": "eth_newThing",
     "fault": "timeout", "count": 1, "requests": 700, "outcome": "liar slashed"},
]  # fmt: skip


def test_the_matrix_counts_each_fault_in_its_point_and_kind() -> None:
    text = render(ROWS, "make reliability", [{"case": "honest", "seed": 11, "kills": 7,
                                              "outcome": "finalized"}])  # fmt: skip
    row = next(ln for ln in text.splitlines() if ln.startswith("| send a transaction |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = next(ln for ln in text.splitlines() if ln.startswith("| point |"))
    kinds = [c.strip() for c in header.strip("|").split("|")]
    assert cells[kinds.index("reset-after")] == "5" and cells[-1] == "5"
    total = next(ln for ln in text.splitlines() if ln.startswith("| **total** |"))
    assert total.rstrip().endswith("| 7 |")
    assert "| honest | 11 | finalized | 400 / 9 / 0 / 0 |" in text
    assert "| liar caught | 12 | liar slashed | 0 / 0 / 700 / 0 |" in text
    assert "other (eth_newThing)" in text and point_of("cat").startswith("fetch")
    assert "| honest | 11 | 7 | finalized |" in text
    assert "- `reset-after`: finalized, liar slashed" in text


CHAIN = [
    {"fault": "reorg", "point": "claim", "depth": 7, "side": "honest", "outcome": "finalized, paid",
     "lost": 1, "resent": 2, "reorgs_seen": 1, "tick_errors": 0, "record_failures": 3,
     "seconds": 2.1, "seed": 101},
    {"fault": "base-fee-10x", "point": "move", "depth": None, "side": "liar",
     "outcome": "liar slashed", "lost": 0, "resent": 0, "reorgs_seen": 0, "tick_errors": 0,
     "seconds": 3.5, "seed": 111},
]  # fmt: skip


def test_the_chain_faults_are_listed_by_kind_point_and_end() -> None:
    text = "\n".join(render_chain_faults(CHAIN))
    assert "| reorg | claim | 7 | honest | finalized, paid | 1 | 2 | 1 | 0 | 3 | 2.1 |" in text
    assert "| base-fee-10x | move |  | liar | liar slashed | 0 | 0 | 0 | 0 |  | 3.5 |" in text
    assert (
        "2 chain faults, every case ended as expected (1 transactions lost, 2 sent again)" in text
    )
    assert "`base-fee-10x`: the next block's base fee x10" in text
    assert render_chain_faults([]) == []
    assert "## Chain faults on anvil" in render(ROWS, "make reliability", [], CHAIN)


LOAD = {"jobs": 20, "lies": 2, "providers": 4, "towers": 2, "seconds": 120.0,
        "jobs_per_min": 10.0, "rpc_calls": 9000, "rpc_per_job": 450.0, "rpc_network_per_job": 250.0,
        "rpc_top": {"eth_call": 5000, "eth_blockNumber": 4000}, "gas_per_job": 1234567,
        "gas_by_sender": {"poster": 100, "provider2": 200}, "soak_s": 0.0, "memory_flat": True,
        "rss_mb": {"provider2": [(0.0, 100.0), (5.0, 180.0), (10.0, 181.0), (15.0, 182.0),
                                 (20.0, 181.0), (25.0, 183.0)], "tower7": []}}  # fmt: skip


def test_the_load_section_gives_throughput_calls_gas_and_memory() -> None:
    text = "\n".join(render_load([LOAD]))
    assert "| 20 | 2 | 0 | 120.0 | 10.0 | 450.0 (250.0) | 1,234,567 | yes |" in text
    assert "`eth_call` 5,000, `eth_blockNumber` 4,000" in text
    assert "| provider2 | 6 | 100 | 180 | 183 | 183 |" in text
    assert "tower7" not in text  # no samples: no row
    assert render_load([]) == []


def test_load_only_rewrites_the_load_section_and_keeps_the_fault_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m poc_lab.reliability RUN OUT --load-only`: `make fuzz`'s soak figures go into
    the page without rerunning the fault tests."""
    page = tmp_path / "reliability.md"
    page.write_text(render(ROWS, "make reliability", [], CHAIN, [LOAD]))
    run = tmp_path / "run"
    run.mkdir()
    soak = {**LOAD, "jobs": 200, "lies": 20, "soak_s": 1800.0}
    (run / "load.jsonl").write_text(json.dumps(soak) + "\n")
    monkeypatch.setattr(sys, "argv", ["reliability", str(run), str(page), "--load-only"])
    main()
    text = page.read_text()
    assert "## Chain faults on anvil" in text and text.count("## Load: many jobs") == 1
    assert "| 200 | 20 | 1800 |" in text and "| 20 | 2 | 0 |" not in text
    monkeypatch.setattr(sys, "argv", ["reliability", str(tmp_path), str(page), "--load-only"])
    with pytest.raises(SystemExit, match="--load-only needs load records"):
        main()
