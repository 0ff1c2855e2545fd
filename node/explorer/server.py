"""The explorer's HTTP server: the standard library's ThreadingHTTPServer, GET and HEAD only.

Pages: `/` (jobs, `?page=N`), `/jobs/<id>`, `/games/<id>`. The same models as JSON:
`/api/status`, `/api/jobs` (`?page=N`), `/api/jobs/<id>`, `/api/games/<id>`. Each request
first reads the blocks not read yet (one eth_getLogs when nothing happened) and the node's
state folders. Chain reads are serialised by the Explorer's lock. Every answer forbids the
browser to load anything from anywhere (Content-Security-Policy), so nothing leaves the
machine."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from node.errors import PocError
from node.explorer import render
from node.explorer.views import Explorer, NotFound, to_json

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ExplorerError(PocError):
    """The explorer cannot serve (its address is taken or not ours)."""

    exit_code = 2


class BadRequest(PocError):
    exit_code = 2


Route = Callable[[Explorer, re.Match[str], dict[str, list[str]]], tuple[str, Any]]


def _page_no(query: dict[str, list[str]]) -> int:
    raw = (query.get("page") or ["0"])[0]
    if not raw.isdigit():
        raise BadRequest(f"page must be a whole number >= 0, got {raw!r}")
    return int(raw)


def _id(match: re.Match[str], what: str) -> int:
    raw = match.group(1)
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"{what} id must be a whole number >= 1, got {raw!r}")
    return int(raw)


def _jobs_html(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    page_no = _page_no(q)
    rows, count = x.job_rows(page_no)
    return "html", render.jobs_page(x.chain_info(), rows, count, page_no, x.page_size)


def _job_html(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    return "html", render.job_page(x.chain_info(), x.job(_id(m, "job")))


def _game_html(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    return "html", render.game_page(x.chain_info(), x.game(_id(m, "game")))


def _status_json(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    return "json", to_json(x.chain_info())


def _jobs_json(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    page_no = _page_no(q)
    rows, count = x.job_rows(page_no)
    return "json", {"count": count, "page": page_no, "jobs": to_json(rows)}


def _job_json(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    return "json", to_json(x.job(_id(m, "job")))


def _game_json(x: Explorer, m: re.Match[str], q: dict[str, list[str]]) -> tuple[str, Any]:
    return "json", to_json(x.game(_id(m, "game")))


ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (re.compile(r"^/$"), _jobs_html),
    (re.compile(r"^/jobs/([^/]+)/?$"), _job_html),
    (re.compile(r"^/games/([^/]+)/?$"), _game_html),
    (re.compile(r"^/api/status/?$"), _status_json),
    (re.compile(r"^/api/jobs/?$"), _jobs_json),
    (re.compile(r"^/api/jobs/([^/]+)/?$"), _job_json),
    (re.compile(r"^/api/games/([^/]+)/?$"), _game_json),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "poc-explorer"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head_only=True)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"read-only: GET and HEAD only\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _answer(self, head_only: bool) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        api = url.path.startswith("/api/")
        if url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, "text/plain", b"")
            return
        explorer = self.server.explorer
        try:
            route = next(((r, m) for p, r in ROUTES if (m := p.match(url.path))), None)
            if route is None:
                raise NotFound(f"no page {url.path}")
            fn, match = route
            with explorer.lock:
                explorer.refresh()
                kind, content = fn(explorer, match, query)
        except NotFound as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc), api, head_only)
            return
        except BadRequest as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc), api, head_only)
            return
        except PocError as exc:  # the chain or a state folder cannot be read
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), api, head_only)
            return
        except Exception as exc:  # noqa: BLE001 - a page must not take the server down
            log.exception("explorer: %s failed", url.path)
            message = f"internal error: {type(exc).__name__}: {exc}"
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, message, api, head_only)
            return
        if kind == "json":
            body = json.dumps(content, indent=1, default=str).encode()
            self._send(HTTPStatus.OK, "application/json", body, head_only)
        else:
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", content.encode(), head_only)

    def _error(self, status: HTTPStatus, message: str, api: bool, head_only: bool) -> None:
        if api:
            body = json.dumps({"error": message, "status": int(status)}).encode()
            self._send(status, "application/json", body, head_only)
        else:
            html = render.error_page(int(status), message)
            self._send(status, "text/html; charset=utf-8", html.encode(), head_only)

    def _send(self, status: HTTPStatus, ctype: str, body: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], explorer: Explorer) -> None:
        self.explorer = explorer
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class ExplorerServer:
    """Serves an Explorer on host:port (port 0: any free port); `start()` runs it in a
    thread (for a program, like the tests, that keeps the chain in the same process),
    `serve_forever()` in the caller's."""

    def __init__(
        self, explorer: Explorer, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        try:
            self._server = _Server((host, port), explorer)
        except OSError as exc:
            raise ExplorerError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                "pass another --port (or --host)"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> ExplorerServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="poc-explorer", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever loop to end
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> ExplorerServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
