"""A fault-injecting HTTP proxy on loopback (test-only, issue 13): it stands between the daemons
and anvil or the IPFS node's API and, on a schedule drawn from a seed, delays a request, lets it
time out, answers 500/502/503/429 without forwarding, resets the connection before or after
forwarding (the second loses the answer of a request the upstream did carry out, e.g. a sent
transaction), or truncates the answer mid-body. Every fault is recorded with the request's
method so a test can assert on what was injected and write the fault matrix."""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class Fault(Enum):
    DELAY = "delay"  # answered late, within the client's timeout
    TIMEOUT = "timeout"  # held past the client's timeout, never answered
    HTTP_500 = "http-500"
    HTTP_502 = "http-502"
    HTTP_503 = "http-503"
    HTTP_429 = "http-429"
    RESET_BEFORE = "reset-before"  # the request never reaches the upstream
    RESET_AFTER = "reset-after"  # the upstream carried it out; the answer is lost
    TRUNCATE = "truncate"  # the answer is cut mid-body, then the connection is reset


ALL_FAULTS = tuple(Fault)


@dataclass
class Schedule:
    """Which requests get which fault: each request is faulted with probability `rate`, the
    kind drawn uniformly from `kinds`, after the first `calm` requests (so set-up passes), and
    never two faults in a row (a schedule that never lets a request through tests nothing)."""

    seed: int
    rate: float = 0.15
    kinds: tuple[Fault, ...] = ALL_FAULTS
    calm: int = 0
    delay_s: float = 0.8
    timeout_s: float = 4.0  # must exceed the client's timeout
    _rng: random.Random = field(init=False, repr=False)
    _last_faulted: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, n: int) -> Fault | None:
        if n < self.calm or self._last_faulted:
            self._last_faulted = False
            return None
        if self._rng.random() >= self.rate:
            return None
        self._last_faulted = True
        return self._rng.choice(self.kinds)


@dataclass(frozen=True)
class Injected:
    n: int
    method: str
    fault: Fault


class FaultProxy:
    """`FaultProxy(upstream, schedule)` listens on 127.0.0.1 (`.url`); `start()`, `stop()`."""

    def __init__(self, upstream: str, schedule: Schedule, label: str) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream {upstream!r} needs a host and a port")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.schedule = schedule
        self.label = label
        self.injected: list[Injected] = []
        self.requests = 0
        self.enabled = True
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/http"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def counts(self) -> Counter[tuple[str, Fault]]:
        with self._lock:
            return Counter((i.method, i.fault) for i in self.injected)

    def _next(self, method: str) -> Fault | None:
        with self._lock:
            n = self.requests
            self.requests += 1
            fault = self.schedule.draw(n) if self.enabled else None
            if fault is not None:
                self.injected.append(Injected(n, method, fault))
            return fault

    def _forward(
        self, verb: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            conn.request(verb, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()  # de-chunked: re-sent with a Content-Length
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            kept = [(k, v) for k, v in kept if k.lower() != "content-length"]
            return resp.status, kept, data
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the test reads proxy.injected

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, as a crashed load balancer would
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def _status(self, code: int, reason: str) -> None:
                body = json.dumps({"error": reason}).encode()
                self.send_response(code, reason)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(body)

            def _method_of(self, body: bytes) -> str:
                if self.path.startswith("/api/"):
                    return self.path.split("?")[0].removeprefix("/api/v0/")
                try:
                    msg = json.loads(body)
                except ValueError:
                    return "?"
                if isinstance(msg, list):
                    return "batch"
                return str(msg.get("method", "?")) if isinstance(msg, dict) else "?"

            def _body(self) -> bytes:
                """The request body, de-chunked (the IPFS client streams uploads chunked)."""
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()  # the CRLF after each chunk
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self, verb: str) -> None:
                body = self._body()
                fault = proxy._next(self._method_of(body))
                if fault is Fault.RESET_BEFORE:
                    return self._reset()
                if fault is Fault.TIMEOUT:
                    time.sleep(proxy.schedule.timeout_s)
                    return self._reset()
                if fault in (Fault.HTTP_500, Fault.HTTP_502, Fault.HTTP_503, Fault.HTTP_429):
                    code = int(fault.value.split("-")[1])
                    return self._status(code, f"injected {fault.value}")
                if fault is Fault.DELAY:
                    time.sleep(proxy.schedule.delay_s)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                status, out_headers, data = proxy._forward(verb, self.path, headers, body)
                if fault is Fault.RESET_AFTER:
                    return self._reset()
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault is Fault.TRUNCATE and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self._reset()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

        return Handler
