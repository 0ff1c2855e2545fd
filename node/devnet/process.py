"""Child processes that are stopped reliably: each runs in its own process group (so a stop
reaches any grandchildren too), is registered for an atexit sweep, and can be tied to the
life of its parent (Linux PR_SET_PDEATHSIG) so that even a SIGKILLed test run leaks nothing."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from node.devnet.errors import ServiceStartFailed

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. The kernel sends SIGTERM when the parent
    # exits for any reason, including SIGKILL, where no Python cleanup can run.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """One started service process with its log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detached: bool = False,
    ) -> None:
        """`detached` processes (started by `poc devnet up`) outlive this interpreter:
        no parent-death signal and no atexit sweep; they are stopped later by pid."""
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # own process group: killpg reaches every descendant
                preexec_fn=None if detached else _die_with_parent,
            )
        if not detached:
            with _live_lock:
                _live.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def running(self) -> bool:
        return self._popen.poll() is None

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
        """Poll `ready` until it holds; fail fast if the process dies meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServiceStartFailed(
                    f"{self.name} exited with code {self._popen.returncode} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}",
                    exited=True,
                )
            if ready():
                return
            time.sleep(interval)
        self.stop()
        raise ServiceStartFailed(
            f"{self.name} did not become ready within {timeout:.0f} s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited in `timeout`."""
        try:
            if self.running():
                signal_group(self.pid, signal.SIGTERM)
                try:
                    self._popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    signal_group(self.pid, signal.SIGKILL)
                    self._popen.wait(timeout=timeout)
            # Descendants that ignored SIGTERM must not survive their leader.
            signal_group(self.pid, signal.SIGKILL)
        finally:
            with _live_lock:
                _live.discard(self)


def start_with_retries(start: Callable[[], T], attempts: int = 3) -> T:
    """Run a service start, again when the process exited early: ports come from
    free_port(), and another program may take one between the pick and the bind."""
    for attempt in range(attempts):
        try:
            return start()
        except ServiceStartFailed as exc:
            if not exc.exited or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to a process group, ignoring one that no longer exists."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_pid(pid: int, timeout: float = 10.0, expect: str | None = None) -> bool:
    """Stop a service recorded by pid in an earlier run (its own process-group leader).
    With `expect`, only a process whose command line contains it is stopped: a recorded pid
    may have been reused by an unrelated process since. Returns whether it was running."""
    if not pid_alive(pid):
        return False
    if expect is not None and expect not in command_line(pid):
        return False
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            signal_group(pid, signal.SIGKILL)
            return True
        time.sleep(0.1)
    signal_group(pid, signal.SIGKILL)
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie answers signal 0; treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def stop_all() -> None:
    """Stop every process this interpreter started and has not stopped yet."""
    with _live_lock:
        remaining = list(_live)
    for proc in remaining:
        proc.stop(timeout=5.0)


atexit.register(stop_all)
