"""What an operator reads: log lines that stay whole in files, and settings errors that say what
is missing and where it was looked for (issue 17, items 2, 10 and 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

POC = [sys.executable, "-m", "node.cli.main"]


def test_logs_into_a_file_are_one_unwrapped_line_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 10: with stderr not a terminal, a record is one line, however long."""
    import logging
    import sys

    from node.cli.role_options import setup_logging

    out = (tmp_path / "log").open("w")
    monkeypatch.setattr(sys, "stderr", out)
    setup_logging("text")
    long = "0x" + "ab" * 64
    logging.getLogger("node.roles").warning("claim 1: S_N %s differs from ours %s", long, long)
    out.flush()
    lines = (tmp_path / "log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].count(long) == 2 and "WARNING node.roles" in lines[0]


def _poc(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    return subprocess.run(
        POC + args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_outside_a_deployment_the_command_says_where_it_looked(tmp_path: Path) -> None:
    res = _poc(["provider", "status"], tmp_path)
    assert res.returncode == 3, res.stderr
    assert "no protocol deployment configured" in res.stderr
    assert str(tmp_path / ".poc" / "config.json") in res.stderr and "Traceback" not in res.stderr


def test_a_malformed_rpc_url_is_named(tmp_path: Path) -> None:
    res = _poc(["provider", "status"], tmp_path, POC_RPC_URL="foo")
    assert res.returncode == 3 and "'foo' is not an RPC endpoint" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_no_help_summary_is_cut() -> None:
    """Issue 17 item 13: every command's one-line summary fits the help listing (80 columns)."""
    import click
    from click.testing import CliRunner

    from node.cli.main import _register, cli

    _register()
    runner = CliRunner()
    groups: list[tuple[list[str], click.Group]] = [([], cli)]
    seen = 0
    while groups:
        path, group = groups.pop()
        out = runner.invoke(cli, [*path, "--help"], terminal_width=80).output
        listing = out.split("Commands:")[1] if "Commands:" in out else ""
        assert "..." not in listing, (path, listing)
        for name, cmd in group.commands.items():
            seen += 1
            if isinstance(cmd, click.Group):
                groups.append(([*path, name], cmd))
    assert seen > 20


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["provider", "run", "--once", "--min-reward", "-1"], "--min-reward"),
        (["provider", "run", "--once", "--max-stake", "lots"], "--max-stake"),
        (["provider", "run", "--once", "--max-ops", "0"], "--max-ops"),
        (["provider", "run", "--once", "--max-input-mb", "-1"], "--max-input-mb"),
        (["provider", "run", "--once", "--interval", "-2"], "--interval"),
        (["watch", "run", "--once", "--min-value", "nan"], "--min-value"),
        (["provider", "stake", "0.5wei"], "AMOUNT"),
        (["compile", "m.py", "--out", "o", "--batch", "0"], "--batch"),
        (["devnet", "up", "--chain-id", "0"], "--chain-id"),
        (["devnet", "up", "--block-time", "-1"], "--block-time"),
        (["job", "post", "--example", "tiny-mlp", "--execute-within", "-3600"], "--execute-within"),
    ],
)
def test_a_bad_number_is_a_usage_error_naming_the_option(args: list[str], option: str) -> None:
    """Issue 17 item 2: refused while parsing, before any chain, key or file is touched."""
    from click.testing import CliRunner

    from node.cli.main import _register, cli

    _register()
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert f"Invalid value for '{option}'" in res.output and res.exception is not None
    assert "Traceback" not in res.output
