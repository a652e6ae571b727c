"""Connecting to a node: retries with backoff, checked answers, one-line errors without secrets.

A bot runs for days against a node behind proxies; a dropped connection, a timeout, a 502 or a
body a proxy cut short must cost a retry, not the process. Every JSON-RPC method otcmm calls is
safe to repeat: reads are reads, and re-sending the same signed raw transaction only yields
"already known" (or "nonce too low" once it is mined), which the nonce manager in
`bots.chain.txpool` recognises as our own transaction. Node-side signing
(`eth_sendTransaction`) is never used: keys stay in the process.

web3's own `ExceptionRetryConfiguration` is switched off because it does not fit: by default it
catches the builtin `ConnectionError`, which `requests`' connection errors do not subclass (so
"connection refused" is never retried), and `requests.HTTPError` of any status (so a 401 is
retried as if it were a 503). Its method allowlist does include `eth_sendRawTransaction`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import requests
from eth_typing import URI
from requests.adapters import HTTPAdapter
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from bots.chain.redact import redact_url
from bots.chain.rpcanswer import BadAnswer, parse_batch, parse_single, request_ids
from bots.errors import ChainError, ConfigError

_T = TypeVar("_T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MIN_ATTEMPT_S = 1.0  # a retry is made only if it gets at least min(timeout, this) before the end
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
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed in the middle of the answer"
    text = str(exc).lower()
    for needle, reason in _CONNECTION_FAILURES:
        if needle in text:
            return reason
    return "connection failed"


def is_transient(exc: requests.RequestException) -> bool:
    """Worth another try: the connection failed, broke mid-answer or timed out, or the node
    said 429 or 5xx."""
    if isinstance(exc, requests.HTTPError):
        return exc.response is None or exc.response.status_code in RETRY_STATUSES
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate does not fix itself
    transient = (
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    )
    return isinstance(exc, transient)


def rpc_error_message(exc: Web3RPCError) -> str:
    """The node's own message from a JSON-RPC error reply (web3 only gives the error's repr)."""
    return answer_error_message(exc.rpc_response) or str(exc.message)


def answer_error_message(answer: Any) -> str:
    """The node's message in a JSON-RPC error answer ("" when it carries none)."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return ""
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
    """An HTTP provider that checks every answer and retries failures with backoff.

    Every HTTP exchange is one POST of the bytes web3 encoded. What counts as a failure:
    - transport: connection refused, reset or closed without an answer, a body cut off
      mid-way, a timeout (`timeout_s` per attempt), HTTP 429 or 5xx;
    - a malformed answer (`bots.chain.rpcanswer`): a body that is not JSON or is truncated, an
      answer without `"jsonrpc": "2.0"`, without exactly one of result / error, or for another
      request id; a batch answer without exactly one answer per request id (any order is fine:
      answers are put back in request order, not retried).
    A failure is retried with the same bytes (same ids) after `backoff_s`, then twice that, and
    so on, at most `retries` times, and, with `deadline_s`, only while the retry still gets
    min(`timeout_s`, 1 s) after its backoff within `deadline_s` of the call's start, so one call
    never blocks much longer than that. Within `budget(seconds)` every call of this thread,
    retries included, also ends by the budget's end (a bot tick). Then `RpcUnreachable` says
    in one line what was
    wrong last, with the URL redacted: "cannot reach RPC at <url>: <reason>" or "bad answer
    from RPC at <url> to <method>: <reason>". Other HTTP errors (401, 404) and TLS failures
    are not retried. JSON-RPC error replies (a revert, a refused transaction) are answers and
    go to web3, which raises them.

    Why retrying is safe: reads are reads, and `eth_estimateGas` too. A lost answer to
    `eth_sendRawTransaction` may hide that the node took the transaction; sending the same
    signed bytes again yields its hash, "already known", or "nonce too low" once mined, which
    the nonce manager (`bots.chain.txpool.send_raw`) recognises as our own transaction: it is
    never signed again with another nonce, so it cannot execute twice.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 5,
        backoff_s: float = 0.25,
        deadline_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        deadline_bad = deadline_s is not None and deadline_s <= 0
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or deadline_bad:
            raise ConfigError("RPC timeout and deadline must be > 0, retries and backoff >= 0")
        super().__init__(
            rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.deadline_s = deadline_s
        self.redacted_url = redact_url(rpc_url)
        self._uri = URI(rpc_url)
        self._sleep = sleep
        self._clock = clock
        self._budget = threading.local()  # .until: monotonic end of the current budget
        self._sessions = threading.local()  # .sender: this thread's connection pool, request
        self._proxies = requests.utils.get_environ_proxies(rpc_url)  # HTTP(S)_PROXY, NO_PROXY
        self.on_request: Callable[[str], None] | None = None  # e.g. a metrics counter
        # The chain id never changes under a node; web3 asks for it before every eth_call.
        self.cache_allowed_requests = True
        self.cacheable_requests = {RPCEndpoint("eth_chainId")}
        self.request_cache_validation_threshold = None  # else web3 asks for the chain id to
        # pick a validation threshold, which only block-bound requests need

    def __str__(self) -> str:
        return f"RPC connection {self.redacted_url}"

    @contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        """Every call this thread makes inside ends within `seconds` from now, retries included:
        a bot tick's bound. A call made after the budget is spent fails at once."""
        self._budget.until = self._clock() + seconds
        try:
            yield
        finally:
            self._budget.until = None

    def budget_left(self) -> float | None:
        """Seconds left of the current thread's budget (None: no budget)."""
        until: float | None = getattr(self._budget, "until", None)
        return None if until is None else until - self._clock()

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        """Below web3's `make_request` (its cache, encoding and decoding): the bytes of one
        checked answer. web3 decodes them again; single answers are small."""
        (request_id,) = request_ids(request_data)

        def check(raw: bytes) -> bytes:
            parse_single(raw, request_id)
            return raw

        return self._exchange(method, request_data, check)

    def make_batch_request(
        self, batch_requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        """Several reads in one HTTP round trip (a bot's snapshot); answers in request order."""
        request_data = self.encode_batch_rpc_request(batch_requests)
        ids = request_ids(request_data)
        label = "batch:" + ",".join(method for method, _ in batch_requests)

        def check(raw: bytes) -> list[RPCResponse]:
            return cast(list[RPCResponse], parse_batch(raw, ids))

        return self._exchange(label, request_data, check, what=f"a batch of {len(ids)}")

    def _post(self, request_data: bytes, timeout: float) -> bytes:
        """One POST on this thread's keep-alive connection pool; the body of a 2xx answer.

        The request is a copy of one prepared once (URL, headers, credentials in the URL as
        basic auth) sent straight through requests' `HTTPAdapter`: `Session.post` would merge
        settings, cookies, hooks and the environment's proxy settings again on every call,
        which cost more CPU than a local node's answer. Proxies (HTTP(S)_PROXY, NO_PROXY) are
        read once, when the provider is made; TLS certificates are verified. Redirects are
        not followed (a JSON-RPC POST has no business being redirected).
        """
        sender: tuple[HTTPAdapter, requests.PreparedRequest] | None = getattr(
            self._sessions, "sender", None
        )
        if sender is None:
            headers = dict(self.get_request_kwargs().get("headers") or {})
            template = requests.Request("POST", self._uri, headers=headers).prepare()
            sender = (HTTPAdapter(pool_connections=1, pool_maxsize=1), template)
            self._sessions.sender = sender
        adapter, template = sender
        request = template.copy()
        request.prepare_body(request_data, None)
        response = adapter.send(request, timeout=timeout, verify=True, proxies=self._proxies)
        with response:
            response.raise_for_status()
            return bytes(response.content)

    def _min_attempt(self) -> float:
        """The shortest attempt worth making before a deadline or budget ends."""
        return min(self.timeout_s, MIN_ATTEMPT_S)

    def _end(self) -> tuple[float, float | None, str]:
        """Now, when the call must be over (monotonic; None: no bound) and what sets that."""
        started = self._clock()
        end, bound = None, ""
        if self.deadline_s is not None:
            end, bound = started + self.deadline_s, f"the {self.deadline_s:g}s deadline"
        until: float | None = getattr(self._budget, "until", None)
        if until is not None and (end is None or until < end):
            end, bound = until, "the tick's time budget"
        return started, end, bound

    def _exchange(
        self, label: str, request_data: bytes, check: Callable[[bytes], _T], what: str = ""
    ) -> _T:
        """POST `request_data` until `check` accepts an answer; see the class docstring.

        `label` names the request for `on_request` (the method, or "batch:" and the methods),
        `what` in error messages (default: `label`).
        """
        now, end, bound = self._end()
        for attempt in range(self.retries + 1):
            timeout = self.timeout_s if end is None else round(min(self.timeout_s, end - now), 3)
            if timeout <= 0:
                raise RpcUnreachable(
                    f"cannot reach RPC at {self.redacted_url}: the tick's time budget is spent"
                )
            if self.on_request is not None:
                self.on_request(label)  # counted per attempt: what reaches the node
            try:
                return check(self._post(request_data, timeout))
            except requests.RequestException as exc:
                failure = f"cannot reach RPC at {self.redacted_url}: "
                failure += describe_transport_error(exc, timeout)
                if not is_transient(exc):
                    raise RpcUnreachable(failure) from None
            except BadAnswer as exc:
                failure = f"bad answer from RPC at {self.redacted_url} to {what or label}: {exc}"
            pause = self.backoff_s * 2**attempt
            if attempt == self.retries:
                break
            if end is not None and self._clock() + pause + self._min_attempt() > end:
                failure += f" (no retry fits in {bound})"
                break
            self._sleep(pause)
            now = self._clock()
        raise RpcUnreachable(failure)


def connect(
    rpc_url: str,
    *,
    timeout_s: float = 10.0,
    retries: int = 5,
    backoff_s: float = 0.25,
    deadline_s: float | None = None,
) -> Web3:
    """A Web3 on `rpc_url` (http or https) whose answers are checked and failures retried.

    `timeout_s` bounds each HTTP attempt, `retries` and `backoff_s` set the retry budget, and
    `deadline_s` (optional) bounds one call with all its retries: see `RetryingHTTPProvider`.
    Does not contact the node; call `check_connection` for that. Raises `ConfigError` for a
    URL that is not http(s) or settings out of range.

    Blocks of any PoA client are read: geth Clique, Besu QBFT/IBFT2 put a 65-byte seal in
    `extraData` (97 bytes in all), which web3 refuses by default (`ExtraDataLengthError`); its
    `ExtraDataToPOAMiddleware` moves that field to `proofOfAuthorityData`, which otcmm never
    reads. AuRa (Nethermind, OpenEthereum) and anvil blocks pass through unchanged.
    """
    if urlsplit(rpc_url).scheme not in ("http", "https"):
        raise ConfigError(f"RPC URL must start with http:// or https://: {redact_url(rpc_url)}")
    provider = RetryingHTTPProvider(
        rpc_url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, deadline_s=deadline_s
    )
    w3 = Web3(provider)
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


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


def budget_left(w3: Web3) -> float | None:
    """Seconds left of the calling thread's RPC budget on `w3` (None: none, or another provider)."""
    provider = w3.provider
    return provider.budget_left() if isinstance(provider, RetryingHTTPProvider) else None


@contextmanager
def tick_budget(w3: Web3, seconds: float) -> Iterator[None]:
    """`RetryingHTTPProvider.budget` for `w3`'s provider; no bound for other providers."""
    provider = w3.provider
    if not isinstance(provider, RetryingHTTPProvider):
        yield
        return
    with provider.budget(seconds):
        yield
