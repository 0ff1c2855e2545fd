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


@pytest.mark.slow  # ~40 s with the tiny GPT cached in .cache/models, minutes when it trains
def test_demo_llm_act_verifies_the_text_and_slashes_the_softmax_liar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.run_llm(tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert "watchtower re-executed claim 1: correct" in out
    found = re.search(r"finalized; output checked .*?: '(.*?)' \+ '(.*?)' \(ids \[([\d, ]+)\]", out)
    assert found is not None, out
    prompt, text, ids = found.groups()
    assert prompt == demo.LLM_PROMPT
    assert bytes(int(i) for i in ids.split(", ")).decode("utf-8", "replace") == text
    assert len(ids.split(", ")) == demo.LLM_NEW_TOKENS
    lie = re.search(r"op (\d+) of (\d+) \(rowop div", out)
    assert lie is not None
    assert f"the game narrowed to op {lie.group(1)} (the lying softmax)" in out
    moves = re.search(
        r"liar slashed after (\d+) moves \((\d+) by the provider\), ([\d,]+) gas", out
    )
    assert moves is not None
    n, by_provider, gas = (
        int(moves.group(1)),
        int(moves.group(2)),
        int(moves.group(3).replace(",", "")),
    )
    assert 2 <= by_provider <= 16 and n in (2 * by_provider, 2 * by_provider - 1)
    assert 0 < gas < 2_500_000  # issue 16: a whole dispute on a generation job
    assert "burned 0.7500 ETH, the watchtower's bounty 0.2500 ETH" in out
