"""`poc job status` lines of a game: a game the step decided and nobody settled yet says so
(nothing is paid until `settle`, protocol.md §6.3, 6)."""

from __future__ import annotations

from node.cli.job_cmds import _game_lines


def _game(status: str, level: str) -> dict[str, object]:
    return {
        "game_id": 7,
        "challenger": "0xabc",
        "status": status,
        "level": level,
        "bond": 2,
        "backing": 5,
        "bounty": 2,
        "burned": 3,
        "by_timeout": False,
    }


def test_a_decided_unsettled_game_says_nothing_is_paid_yet() -> None:
    lines = _game_lines(_game("challenger_won", "decided, to settle"), 0, str)
    assert lines[0].endswith("challenger won at the step, not settled yet")
    assert "nothing paid until someone calls settle" in lines[1]
    settled = _game_lines(_game("challenger_won", "resolved"), 0, str)
    assert settled[0].endswith("challenger won") and "bounty 2" in settled[1]
