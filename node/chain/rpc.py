"""Connecting to a JSON-RPC endpoint, with one explicit retry policy for connection faults.

web3's own retry layer is switched off so that every retry is ours: bounded, with
exponential backoff, and ending in a named RpcUnreachable error instead of a stack trace
from requests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, RequestTimedOut

from node.chain.errors import ChainIdMismatch, RpcUnreachable

T = TypeVar("T")
log = logging.getLogger(__name__)

# Faults of the transport, not answers of the node: worth retrying.
CONNECTION_FAULTS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ProviderConnectionError,
    RequestTimedOut,
    ConnectionError,
)


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
        except CONNECTION_FAULTS as exc:
            if attempt == policy.attempts - 1:
                target = f" at {endpoint}" if endpoint else ""
                raise RpcUnreachable(
                    f"RPC endpoint{target} unreachable during {what} after "
                    f"{policy.attempts} attempts: {type(exc).__name__}"
                ) from exc
            log.warning("RPC fault during %s (%s); retrying", what, type(exc).__name__)
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def connect(
    rpc_url: str,
    expected_chain_id: int | None = None,
    timeout: float = 10.0,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Web3:
    """A Web3 over HTTP that has answered eth_chainId (and serves the expected chain)."""
    provider = HTTPProvider(
        rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    w3 = Web3(provider)
    chain_id = with_retries("eth_chainId", lambda: w3.eth.chain_id, policy, rpc_url)
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(
            f"{rpc_url} serves chain {chain_id}, configured chain id is {expected_chain_id}"
        )
    return w3
