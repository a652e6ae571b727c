"""HTTP endpoints for Prometheus and Kubernetes probes, served from a daemon thread.

`/healthz` (liveness) fails when the bot loop stops calling `beat()`, so a wedged loop gets the
pod restarted; it says 200 "starting" until the first beat, because a start-up can be long
(settling a previous run's transactions waits up to `receipt_timeout_s`, a slow node retries)
and is bounded by its own timeouts, and a restart would only begin it again. `/readyz`
(readiness) reflects what the runner last declared, so a bot that is starting, has lost its
node or is shutting down is taken out of service without a restart.
The stdlib server is enough for a scrape every few seconds and adds no dependency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from bots.errors import ConfigError
from bots.service.logs import get_logger
from bots.service.metrics import BotMetrics

_log = get_logger(__name__)
_TEXT = "text/plain; charset=utf-8"
_Response = tuple[int, str, bytes]


class _Server(ThreadingHTTPServer):
    health: HealthServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status, content_type, body = self.server.health.respond(self.path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes hit every few seconds; their access lines go to debug, not stderr."""
        _log.debug("http request", client=self.client_address[0], request=format % args)


class HealthServer:
    """Serves `/metrics`, `/healthz` and `/readyz`; the runner calls `beat` and `set_ready`.

    `clock` must be monotonic (wall-clock jumps would fake a wedged loop); tests inject one.
    IPv4 only, like the stdlib server it wraps.
    """

    def __init__(
        self,
        metrics: BotMetrics,
        host: str = "127.0.0.1",
        port: int = 9100,
        liveness_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._host, self._port = host, port
        self._timeout = liveness_timeout_s
        self._clock = clock
        self._last_beat = clock()
        self._starting = True  # until the first beat: alive, not ready
        self._readiness = (False, "starting")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HealthServer:
        """Bind and serve; a busy port is a `ConfigError` naming the address."""
        if self._server is not None:
            raise RuntimeError("health server already started")
        try:
            server = _Server((self._host, self._port), _Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve health on {self._host}:{self._port}: {exc}") from exc
        server.health = self
        self._server, self._last_beat = server, self._clock()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="otcmm-health"
        )
        self._thread.daemon = True
        self._thread.start()
        _log.info("health server started", url=self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def beat(self) -> None:
        """Record that the bot loop is alive; call each tick and while idle. The first beat
        ends the start-up: from then on liveness needs a beat every `liveness_timeout_s`."""
        self._last_beat = self._clock()
        self._starting = False

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Declare readiness; the reason for not being ready is shown by `/readyz`."""
        self._readiness = (ready, "ok" if ready else reason or "not ready")

    @property
    def port(self) -> int:
        """The bound port once started (meaningful with port 0), else the configured one."""
        return self._port if self._server is None else int(self._server.server_address[1])

    @property
    def bound(self) -> str:
        """The address actually listened on, as `host:port` (a wildcard host stays a wildcard)."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """Where a local client reaches the server: a wildcard host maps to loopback."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        return f"http://{host}:{self.port}"

    def respond(self, path: str) -> _Response:
        """Status, content type and body for a GET of `path`; called from server threads."""
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self._metrics.render()
        if route == "/healthz":
            return self._liveness()
        if route == "/readyz":
            ready, reason = self._readiness
            return (200 if ready else 503), _TEXT, reason.encode()
        return 404, _TEXT, b"not found"

    def _liveness(self) -> _Response:
        if self._starting:
            return 200, _TEXT, b"starting"
        silent_s = self._clock() - self._last_beat
        if silent_s <= self._timeout:
            return 200, _TEXT, b"ok"
        return 503, _TEXT, f"no heartbeat for {silent_s:.0f}s".encode()

    def __enter__(self) -> HealthServer:
        return self if self._server is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
