"""A JSON-RPC proxy that breaks answers on purpose, seeded, between a client and a real node.

Forwards every POST to an upstream node (anvil) and, per request, draws at most one fault from
the configured rates (`FaultPlan`). Every fault but `delay` happens AFTER the node has handled
the request, so the node acted and only the answer is lost or damaged - the case a client
cannot tell apart from "never arrived", and the dangerous one for `eth_sendRawTransaction`.

Fault kinds (`FAULT_KINDS`):
- `drop`: close the connection without an answer;
- `delay`: wait `delay_s`, then forward and answer normally (a timeout when longer than the
  client's; the node then sees the request late, perhaps after the client's retry);
- `truncate`: a 200 answer cut short, with a Content-Length that matches the cut body;
- `cut`: the full Content-Length announced, part of the body sent, then the connection closed;
- `garbage`: a 200 answer that is not JSON (an HTML error page, binary noise);
- `http500`: HTTP 500 instead of the answer;
- `wrong_id`: a single request gets an earlier answer to another request (a proxy mixing up
  connections), or its own answer under another id; in a batch one answer gets an id that is
  not in the batch;
- `shuffle`: a batch's answers in another order (legal JSON-RPC: a client must match ids).
`shuffle` only applies to batches of two or more; drawn for anything else, nothing happens.

Counts of what was injected, forwarded and received are kept for assertions. In-process:
`with FaultProxy(url, plan) as proxy: ... proxy.url ...` (a thread, stopped and joined on exit,
handler threads too). As a process: `python -m tests.faultproxy --upstream URL --port N
--seed S --rate R [--kinds drop,garbage] [--delay-s 0.5] [--max-faults N]`; it prints
"listening on <url>" and, on SIGTERM or SIGINT, the counts as one JSON line, then exits 0.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

FAULT_KINDS = ("drop", "delay", "truncate", "cut", "garbage", "http500", "wrong_id", "shuffle")
GARBAGE = (
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"upstream connect error or disconnect/reset before headers",
    bytes(range(256)),
)
UPSTREAM_TIMEOUT_S = 30.0
STALE_ANSWERS = 8  # single answers remembered for `wrong_id` replays


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject and how often.

    `rates`: fault kind -> probability per request (their sum at most 1). `max_faults`: stop
    injecting after that many (then healthy; None: never stop). `methods`: only requests that
    call one of these methods are eligible (None: all). `seed` makes the draws repeatable for
    the same sequence of requests.
    """

    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    max_faults: int | None = None
    delay_s: float = 0.05
    methods: frozenset[str] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if any(rate < 0 for rate in self.rates.values()) or sum(self.rates.values()) > 1 + 1e-9:
            raise ValueError("fault rates must be >= 0 and add up to at most 1")

    @classmethod
    def every(cls, kind: str, count: int, **kwargs: Any) -> FaultPlan:
        """`kind` on every eligible request, `count` times, then healthy."""
        return cls(rates={kind: 1.0}, max_faults=count, **kwargs)

    @classmethod
    def mixed(cls, rate: float, seed: int, kinds: tuple[str, ...] = FAULT_KINDS) -> FaultPlan:
        """`rate` of all requests faulty, spread evenly over `kinds`."""
        return cls(rates=dict.fromkeys(kinds, rate / len(kinds)), seed=seed)


@dataclass
class _Exchange:
    """One request as the proxy saw it."""

    body: bytes
    decoded: Any  # the parsed request: an object, or a list for a batch
    methods: list[str]

    @property
    def is_batch(self) -> bool:
        return isinstance(self.decoded, list)


class FaultProxy:
    """A threaded HTTP proxy in front of `upstream` that injects the faults of a `FaultPlan`."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rewrite: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.rewrite = rewrite  # edits each single answer object (also inside batches) in place
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.configure(plan or FaultPlan())
        self.received: Counter[str] = Counter()  # method -> requests that reached the proxy
        self.forwarded: Counter[str] = Counter()  # method -> times the node handled it
        self.injected: Counter[str] = Counter()  # fault kind -> times injected
        self.http_requests = 0
        self.drawn: list[str | None] = []  # per request, in arrival order: its fault or None
        self._stale: deque[tuple[Any, bytes]] = deque(maxlen=STALE_ANSWERS)
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def configure(self, plan: FaultPlan) -> None:
        """Switch to `plan` (its own seed and fault budget); counts are kept."""
        with self._lock:
            self.plan = plan
            self._random = random.Random(plan.seed)
            self._budget = plan.max_faults

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="faultproxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed handlers and join every thread the proxy started."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()  # joins handler threads (block_on_close)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def counts(self) -> dict[str, Any]:
        """What happened so far, as plain data (the process mode prints it)."""
        with self._lock:
            return {
                "http_requests": self.http_requests,
                "received": dict(self.received),
                "forwarded": dict(self.forwarded),
                "injected": dict(self.injected),
            }

    # ------------------------------------------------------------------ per request
    def _draw(self, exchange: _Exchange) -> str | None:
        """The fault for this request, if any; counts it as injected."""
        with self._lock:
            kind = self._pick(exchange)
            self.drawn.append(kind)
            return kind

    def _pick(self, exchange: _Exchange) -> str | None:
        """`_draw` under the lock: one random draw per eligible request while budget lasts."""
        self.http_requests += 1
        self.received.update(exchange.methods)
        plan = self.plan
        if plan.methods is not None and not plan.methods & set(exchange.methods):
            return None
        if self._budget == 0:
            return None
        draw, kind = self._random.random(), None
        for name, rate in plan.rates.items():
            if draw < rate:
                kind = name
                break
            draw -= rate
        if kind is None or (kind == "shuffle" and len(exchange.methods) < 2):
            return None
        if self._budget is not None:
            self._budget -= 1
        self.injected[kind] += 1
        return kind

    def _forward(self, exchange: _Exchange) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.upstream, data=exchange.body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as response:  # noqa: S310
                status, body = response.status, bytes(response.read())
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except OSError:
            return 502, b"upstream unreachable"
        with self._lock:
            self.forwarded.update(exchange.methods)
        if self.rewrite is not None and status == 200:
            body = self._rewritten(body)
        return status, body

    def _rewritten(self, body: bytes) -> bytes:
        """The node's answer after `rewrite` saw every answer object: another node's dialect."""
        assert self.rewrite is not None
        answer = json.loads(body)
        for item in answer if isinstance(answer, list) else [answer]:
            if isinstance(item, dict):
                self.rewrite(item)
        return json.dumps(answer).encode()

    def _damage(
        self, kind: str | None, exchange: _Exchange, status: int, answer: bytes
    ) -> tuple[int, bytes]:
        """The (status, body) to send instead of the node's for a fault `kind` (`cut` and
        `drop` are done by the handler)."""
        if status != 200:
            return status, answer
        if kind not in ("shuffle", "wrong_id"):
            self._remember(exchange, answer)
        if kind == "http500":
            return 500, b"internal server error"
        if kind == "truncate":
            return status, answer[: self._cut_point(len(answer))]
        if kind == "garbage":
            return status, GARBAGE[self._cut_point(len(GARBAGE))]
        if kind == "wrong_id":
            return status, self._wrong_id(answer)
        if kind == "shuffle" and exchange.is_batch:
            return status, self._shuffle(answer)
        return status, answer

    def _wrong_id(self, body: bytes) -> bytes:
        answer = json.loads(body)
        with self._lock:
            if isinstance(answer, list):
                known = {item.get("id") for item in answer if isinstance(item, dict)}
                victim = self._random.randrange(len(answer))
                answer[victim]["id"] = (
                    max((i for i in known if isinstance(i, int)), default=0) + 1000
                )
                return json.dumps(answer).encode()
            stale = [raw for request_id, raw in self._stale if request_id != answer.get("id")]
            if stale:
                return stale[-1]
        answer["id"] = answer.get("id", 0) + 1000 if isinstance(answer.get("id"), int) else 1000
        return json.dumps(answer).encode()

    def _shuffle(self, body: bytes) -> bytes:
        answers = json.loads(body)
        with self._lock:
            order = list(range(len(answers)))
            while order == sorted(order):
                self._random.shuffle(order)
        return json.dumps([answers[i] for i in order]).encode()

    def _cut_point(self, length: int) -> int:
        with self._lock:
            return self._random.randrange(max(length, 1))

    def _remember(self, exchange: _Exchange, body: bytes) -> None:
        if not exchange.is_batch and isinstance(exchange.decoded, dict):
            with self._lock:
                self._stale.append((exchange.decoded.get("id"), body))


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads: nothing is left running

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out) before its answer is expected here: stay quiet."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a handler thread never idles on keep-alive.
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            exchange = _parse(body)
            kind = proxy._draw(exchange)
            if kind == "delay" and proxy._stopping.wait(proxy.plan.delay_s):
                return
            status, answer = proxy._forward(exchange)
            if kind == "drop":
                self.close_connection = True
                return
            status, answer = proxy._damage(kind, exchange, status, answer)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if status == 200 and kind == "cut":
                self.wfile.write(answer[: proxy._cut_point(len(answer))])
                self.close_connection = True
                return
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _parse(body: bytes) -> _Exchange:
    try:
        decoded = json.loads(body)
    except ValueError:
        return _Exchange(body, None, ["(unparsable)"])
    requests = decoded if isinstance(decoded, list) else [decoded]
    methods = [str(r.get("method")) if isinstance(r, dict) else "(invalid)" for r in requests]
    return _Exchange(body, decoded, methods)


# ---------------------------------------------------------------------- process mode
def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faultproxy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--upstream", required=True, help="the node's URL, e.g. anvil's")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.2, help="share of faulty requests")
    parser.add_argument("--kinds", default=",".join(FAULT_KINDS), help="comma-separated")
    parser.add_argument("--delay-s", type=float, default=0.05)
    parser.add_argument("--max-faults", type=int, default=None)
    args = parser.parse_args(argv)
    kinds = tuple(kind for kind in args.kinds.split(",") if kind)
    if not kinds or set(kinds) - set(FAULT_KINDS):
        parser.error(f"--kinds: choose from {','.join(FAULT_KINDS)}")
    if not 0 <= args.rate <= 1:
        parser.error("--rate must be between 0 and 1")
    if not args.upstream.startswith(("http://", "https://")):
        parser.error("--upstream must be an http:// or https:// URL")
    args.kinds = kinds
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    plan = FaultPlan(
        rates=FaultPlan.mixed(args.rate, args.seed, args.kinds).rates,
        seed=args.seed,
        max_faults=args.max_faults,
        delay_s=args.delay_s,
    )
    try:
        proxy = FaultProxy(args.upstream, plan, host=args.host, port=args.port)
    except OSError as exc:
        print(
            f"faultproxy: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    with proxy:
        print(f"listening on {proxy.url}", flush=True)
        while not stop.wait(0.2):
            pass
    print(json.dumps(proxy.counts(), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
