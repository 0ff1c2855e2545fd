"""`make demo` end to end on the embedded chain: the honest job finalizes with the compiled
model's accuracy, the cheating provider is slashed, the watchtower is paid from the game's backing
and the payouts balance (docs/protocol.md 6.5, payouts v2)."""

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
    # the cheater staked 1 ETH: its 0.5 ETH claim lock burns whole; the watchtower's game was
    # backed with its other (free) 0.5 ETH: half of it is the bounty, half burned
    assert (
        "the watchtower got its bond 0.0200 ETH back and a bounty of 0.2500 ETH "
        "(half the game's backing 0.5000); burned 0.7500 ETH"
    ) in " ".join(out.split())
    assert "burned (0x..dEaD)" in out and "+0.7500" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 5}
    watchtower = rows["watchtower"].split("│")
    assert 0.24 < float(watchtower[4]) < 0.25  # net: the bounty less its gas
