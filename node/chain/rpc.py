"""Connecting to a JSON-RPC endpoint, with one explicit retry policy for connection faults.

web3's own retry layer is switched off so that every retry is ours: bounded, with
exponential backoff, and ending in a named RpcUnreachable error instead of a stack trace
from requests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, RequestTimedOut
from web3.middleware import Web3Middleware
from web3.types import RPCEndpoint, RPCResponse

from node.chain.errors import ChainIdMismatch, RpcUnreachable

T = TypeVar("T")
log = logging.getLogger(__name__)

# Faults of the transport, not answers of the node: worth retrying.
CONNECTION_FAULTS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the answer was cut mid-body
    ProviderConnectionError,
    RequestTimedOut,
    ConnectionError,
)
# HTTP answers of a gateway or a rate limiter in front of the node, not of the node itself.
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


def is_transport_fault(exc: BaseException) -> bool:
    """A fault worth retrying: no answer, a cut answer, or a busy/failed gateway."""
    if isinstance(exc, requests.exceptions.HTTPError):
        response = exc.response
        return response is not None and response.status_code in RETRIED_STATUS
    return isinstance(exc, CONNECTION_FAULTS)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 4.0

    def delays(self) -> list[float]:
        return [min(self.base_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def with_retries(
    what: str, fn: Callable[[], T], policy: RetryPolicy = DEFAULT_RETRY, endpoint: str = ""
) -> T:
    """Run `fn`, retrying connection faults with backoff; RpcUnreachable when they persist."""
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Exception as exc:
            if not is_transport_fault(exc):
                raise
            if attempt == policy.attempts - 1:
                target = f" at {endpoint}" if endpoint else ""
                raise RpcUnreachable(
                    f"RPC endpoint{target} unreachable during {what} after "
                    f"{policy.attempts} attempts: {type(exc).__name__}"
                ) from exc
            log.warning("RPC fault during %s (%s); retrying", what, _fault_name(exc))
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def _fault_name(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


class RetryingHTTPProvider(HTTPProvider):
    """Every request, reads and sends alike, retried on transport faults by `with_retries`.
    Re-sending a signed transaction is safe: the node answers "already known" or the nonce
    is taken, which node.chain.sender reads as sent."""

    def __init__(self, rpc_url: str, timeout: float, policy: RetryPolicy) -> None:
        super().__init__(
            rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self.policy = policy
        # web3's validation asks eth_chainId before every eth_call and estimate (issue 13's
        # load run: half of all requests); an endpoint's chain id is read once
        self._chain_id: RPCResponse | None = None

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_chainId" and self._chain_id is not None:
            return self._chain_id
        parent = super().make_request
        response = with_retries(
            str(method), lambda: parent(method, params), self.policy, str(self.endpoint_uri)
        )
        if method == "eth_chainId" and "result" in response and "error" not in response:
            self._chain_id = response
        return response


def connect(
    rpc_url: str,
    expected_chain_id: int | None = None,
    timeout: float = 10.0,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Web3:
    """A Web3 over HTTP that has answered eth_chainId (and serves the expected chain)."""
    w3 = Web3(RetryingHTTPProvider(rpc_url, timeout, policy))
    chain_id = w3.eth.chain_id
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(
            f"{rpc_url} serves chain {chain_id}, configured chain id is {expected_chain_id}"
        )
    return w3


# ---- observing requests (node.roles.metrics) ------------------------------------------------


@dataclass(frozen=True)
class RpcCall:
    """One JSON-RPC request as the observer sees it: its method, how long it took, and how it
    failed: "transport" (no answer: connection, timeout), "response" (the node answered with an
    error, e.g. a reverting eth_call), None (a result)."""

    method: str
    seconds: float
    error: str | None = None


RpcObserver = Callable[[RpcCall], None]

# The observer of the requests made in the current context: a daemon sets its own for the
# length of a tick, so that roles sharing one web3 (tests, the demo) each count only theirs.
RPC_OBSERVER: ContextVar[RpcObserver | None] = ContextVar("poc_rpc_observer", default=None)
_MIDDLEWARE_NAME = "poc_rpc_observer"


class _ObservedRequests(Web3Middleware):
    """Times every request made through the web3 and reports it to the context's observer."""

    def wrap_make_request(self, make_request: Any) -> Any:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            observe = RPC_OBSERVER.get()
            if observe is None:
                return make_request(method, params)  # type: ignore[no-any-return]
            start = time.perf_counter()
            try:
                response: RPCResponse = make_request(method, params)
            except Exception:
                _report(observe, RpcCall(str(method), time.perf_counter() - start, "transport"))
                raise
            failed = "response" if isinstance(response, dict) and "error" in response else None
            _report(observe, RpcCall(str(method), time.perf_counter() - start, failed))
            return response

        return middleware


def _report(observe: RpcObserver, call: RpcCall) -> None:
    try:
        observe(call)
    except Exception:  # an observer never breaks a request
        log.debug("RPC observer failed", exc_info=True)


def observe_requests(w3: Web3) -> None:
    """Install the request timer on `w3` (once; idempotent). It reports only inside
    `observing(...)`, to that context's observer."""
    if _MIDDLEWARE_NAME not in w3.middleware_onion:
        w3.middleware_onion.add(_ObservedRequests, name=_MIDDLEWARE_NAME)


@contextmanager
def observing(observer: RpcObserver | None) -> Iterator[None]:
    """Report the requests made inside the block (on webs with `observe_requests`) to
    `observer`."""
    token = RPC_OBSERVER.set(observer)
    try:
        yield
    finally:
        RPC_OBSERVER.reset(token)
