"""The daemon loop shared by `poc provider run` and `poc watch run`: tick, sleep, repeat;
transient faults (RPC, storage) are logged and retried with backoff, SIGTERM and SIGINT stop
the loop between ticks. State is persisted by the roles, so stopping anywhere is safe."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from node.chain.errors import ChainError
from node.errors import PocError
from node.state.store import StateStore
from node.storage.errors import StorageError

log = logging.getLogger(__name__)


def run_forever(
    tick: Callable[[], None], interval: float = 2.0, once: bool = False, max_backoff: float = 60.0
) -> None:
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("signal %d: stopping after this tick", signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    delay = interval
    try:
        while not stopping:
            try:
                tick()
                delay = interval
            except (ChainError, StorageError) as exc:
                delay = min(max(delay * 2, interval), max_backoff)
                log.warning("tick failed (%s); retrying in %.0f s", exc, delay)
            if once:
                return
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, delay))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def advance_live(
    state: StateStore,
    live_stages: Iterable[int],
    advance: Callable[[int, dict[str, Any]], None],
    what: str,
) -> None:
    """One pass of a role's tick: advance every record in a live stage, in id order. A fault in
    one record is logged and retried next tick; it never stops the others."""
    live = {k: r for st in live_stages for k, r in state.jobs(st).items()}
    for key, rec in sorted(live.items()):
        try:
            advance(key, rec)
        except (ChainError, StorageError) as exc:
            # transient or external: keep the record, try again next tick
            log.warning("%s %d: %s", what, key, exc)
        except PocError as exc:
            # one broken record must not stop the daemon from serving the others
            log.error("%s %d: %s", what, key, exc)
