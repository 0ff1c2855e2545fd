"""Run `poc` as its entry point does (node.cli.main.main: the real command line, its error
handling and exit codes) inside the test process, with the roles of the test's chain put in
place of the ones a config file would build."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def poc(capsys: Any, monkeypatch: Any, *args: str) -> Ran:
    """`poc ARGS`: its exit code, stdout and stderr."""
    from node.cli.main import main

    monkeypatch.setattr(sys, "argv", ["poc", *args])
    capsys.readouterr()  # what came before is not this command's
    with pytest.raises(SystemExit) as stopped:
        main()
        sys.exit(0)
    code = stopped.value.code
    captured = capsys.readouterr()
    return Ran(int(code or 0), captured.out, captured.err)
