"""The fault matrix renderer (poc_lab.reliability): every injected fault is counted once, in
its point and kind, and every run is listed with its end."""

from __future__ import annotations

from poc_lab.reliability import point_of, render

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
