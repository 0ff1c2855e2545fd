"""`make demo` end to end on the embedded chain: the honest job finalizes with the compiled
model's accuracy, the cheating provider is slashed and the payouts balance."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poc_lab import demo


def test_demo_runs_both_acts_and_settles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.run(tmp_path, "element")
    out = capsys.readouterr().out
    assert "finalized; provider withdrew its reward" in out
    found = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", out)
    assert found is not None
    int_acc, float_acc = (float(v) for v in found.groups())
    assert int_acc > 90.0 and abs(int_acc - float_acc) <= 1.0
    assert "provider slashed after" in out
    assert "the honest provider re-ran job 2; it finalized" in out
    # half of the cheater's 0.5 ETH lock is burned, the other half is the watchtower's bounty
    assert "burned (0x..dEaD)" in out and "+0.2500" in out
