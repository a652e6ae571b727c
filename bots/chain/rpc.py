"""Connecting to a node: transport retries with backoff, one-line errors, no secrets in them.

A bot runs for days against a node behind proxies; a dropped connection, a timeout or a 502 must
cost a retry, not the process. Every JSON-RPC method otcmm calls is safe to repeat: reads are
reads, and re-sending the same signed raw transaction only yields "already known" (or "nonce too
low" once it is mined), which the nonce manager in `bots.chain.transactor` recognises as our own
transaction. Node-side signing (`eth_sendTransaction`) is never used: keys stay in the process.

web3's own `ExceptionRetryConfiguration` is switched off because it does not fit: by default it
catches the builtin `ConnectionError`, which `requests`' connection errors do not subclass (so
"connection refused" is never retried), and `requests.HTTPError` of any status (so a 401 is
retried as if it were a 503). Its method allowlist does include `eth_sendRawTransaction`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from bots.chain.redact import redact_url
from bots.errors import ChainError, ConfigError

_T = TypeVar("_T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Substrings of the OS / urllib3 error text, checked in order, and how to say them in one line.
_CONNECTION_FAILURES = (
    ("refused", "connection refused"),
    ("reset", "connection reset"),
    ("aborted", "connection aborted"),
    ("remote end closed", "connection closed by the node"),
    ("name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("name resolution", "unknown host"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
)


def describe_transport_error(exc: requests.RequestException, timeout_s: float | None) -> str:
    """A short reason for a failed HTTP exchange; never the exception text, which has the URL."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.Timeout):
        return "no answer in time" if timeout_s is None else f"no answer within {timeout_s:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    text = str(exc).lower()
    for needle, reason in _CONNECTION_FAILURES:
        if needle in text:
            return reason
    return "connection failed"


def is_transient(exc: requests.RequestException) -> bool:
    """Worth another try: the connection failed or timed out, or the node said 429 or 5xx."""
    if isinstance(exc, requests.HTTPError):
        return exc.response is None or exc.response.status_code in RETRY_STATUSES
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate does not fix itself
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def rpc_error_message(exc: Web3RPCError) -> str:
    """The node's own message from a JSON-RPC error reply (web3 only gives the error's repr)."""
    error = (exc.rpc_response or {}).get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return str(exc.message)
    message = str(error["message"])
    data = error.get("data")
    if isinstance(data, str) and data and not data.startswith("0x"):
        return f"{message}: {data}"  # Nethermind and Besu put the detail here
    return message


class RpcUnreachable(ChainError, OSError):
    """The node could not be reached even after retries.

    Also an `OSError`, as connection failures are, so web3's `is_connected()` says False.
    """


class RetryingHTTPProvider(HTTPProvider):
    """An HTTP provider that retries transport failures with exponential backoff.

    Waits `backoff_s`, then twice that, and so on, for at most `retries` retries; then raises
    `RpcUnreachable("cannot reach RPC at <url>: <reason>")`. JSON-RPC error replies (a revert,
    a refused transaction) are answers, not transport failures, and are never retried here.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 5,
        backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.redacted_url = redact_url(rpc_url)
        self._sleep = sleep
        self.on_request: Callable[[str], None] | None = None  # e.g. a metrics counter
        # The chain id never changes under a node; web3 asks for it before every eth_call.
        self.cache_allowed_requests = True
        self.cacheable_requests = {RPCEndpoint("eth_chainId")}
        self.request_cache_validation_threshold = None  # else web3 asks for the chain id to
        # pick a validation threshold, which only block-bound requests need

    def __str__(self) -> str:
        return f"RPC connection {self.redacted_url}"

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        """Counted here, below web3's cache: only requests that reach the node count."""
        if self.on_request is not None:
            self.on_request(method)
        return super()._make_request(method, request_data)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self._retrying(
            lambda: super(RetryingHTTPProvider, self).make_request(method, params)
        )

    def make_batch_request(
        self, batch_requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        """Several reads in one HTTP round trip (a bot's snapshot); retried like one request."""
        if self.on_request is not None:
            self.on_request("batch:" + ",".join(method for method, _ in batch_requests))

        def once() -> list[RPCResponse] | RPCResponse:
            return HTTPProvider.make_batch_request(self, batch_requests)

        return self._retrying(once)

    def _retrying(self, attempt_once: Callable[[], _T]) -> _T:
        for attempt in range(self.retries + 1):
            try:
                return attempt_once()
            except requests.RequestException as exc:
                if attempt == self.retries or not is_transient(exc):
                    reason = describe_transport_error(exc, self.timeout_s)
                    message = f"cannot reach RPC at {self.redacted_url}: {reason}"
                    raise RpcUnreachable(message) from None
            self._sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def connect(
    rpc_url: str, *, timeout_s: float = 10.0, retries: int = 5, backoff_s: float = 0.25
) -> Web3:
    """A Web3 on `rpc_url` (http or https) whose transport failures are retried with backoff.

    Does not contact the node; call `check_connection` for that.
    """
    if urlsplit(rpc_url).scheme not in ("http", "https"):
        raise ConfigError(f"RPC URL must start with http:// or https://: {redact_url(rpc_url)}")
    provider = RetryingHTTPProvider(
        rpc_url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s
    )
    return Web3(provider)


def check_connection(w3: Web3, expected_chain_id: int | None) -> int:
    """The node's chain id; `ChainError` in one line if it is unreachable or another chain."""
    url = _provider_url(w3)
    try:
        chain_id = int(w3.eth.chain_id)
    except requests.RequestException as exc:  # a plain provider; ours raises RpcUnreachable
        reason = describe_transport_error(exc, None)
        raise ChainError(f"cannot reach RPC at {url}: {reason}") from None
    except Web3RPCError as exc:
        raise ChainError(f"RPC at {url} refused eth_chainId: {rpc_error_message(exc)}") from None
    except (Web3Exception, ValueError):
        raise ChainError(f"RPC at {url} does not answer like an Ethereum node") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(f"RPC at {url} serves chain id {chain_id}, expected {expected_chain_id}")
    return chain_id


def _provider_url(w3: Web3) -> str:
    uri = getattr(w3.provider, "endpoint_uri", None)
    return redact_url(str(uri)) if uri else "the configured node"
