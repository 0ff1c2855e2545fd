"""Managed service processes never outlive the interpreter that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from node.devnet.process import ManagedProcess, pid_alive

_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from node.devnet.process import ManagedProcess
    proc = ManagedProcess("sleeper", ["sleep", "120"], Path(sys.argv[1]))
    print(proc.pid, flush=True)
    if sys.argv[2] == "interrupt":
        raise KeyboardInterrupt
    time.sleep(120)
    """
)


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _start_owner(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "sleeper.log"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert owner.stdout is not None
    service_pid = int(owner.stdout.readline())
    return owner, service_pid


def test_service_dies_when_its_owner_is_sigkilled(tmp_path: Path) -> None:
    owner, service_pid = _start_owner(tmp_path, "sleep")
    assert pid_alive(service_pid)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert _wait_gone(service_pid)


def test_service_is_stopped_at_exit_after_keyboard_interrupt(tmp_path: Path) -> None:
    owner, service_pid = _start_owner(tmp_path, "interrupt")
    owner.wait(timeout=20)
    assert _wait_gone(service_pid)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(60)",
        ],
        tmp_path / "stubborn.log",
    )
    proc.wait_until(lambda: "ok" in proc.log_tail(), timeout=10)
    started = time.monotonic()
    proc.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert not pid_alive(proc.pid)
