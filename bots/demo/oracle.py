"""A local reference-price service for the demo: one seeded random walk, served as JSON.

All demo bots read the same price over HTTP (`feed.kind = "http"`), as production bots would
read a shared market-data service, so the makers quote around one reference and the final
report marks every bot's P&L to that same price.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bots.errors import ConfigError
from bots.feeds.sources import GbmFeed


class PriceOracle:
    """Advances a seeded GBM every `step_s` seconds; GET / returns {"price", "timestamp"}."""

    def __init__(
        self,
        start: Decimal,
        *,
        volatility: float,
        step_s: float,
        seed: int,
        drift: float = 0.0,
        port: int = 0,
    ) -> None:
        self._walk = GbmFeed(start, drift=drift, volatility=volatility, step_s=step_s, seed=seed)
        self.step_s = step_s
        self._lock = threading.Lock()
        self._price = self._walk.read().price
        self._at = time.time()
        self._stop = threading.Event()
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        except OSError as exc:
            raise ConfigError(f"cannot serve prices on 127.0.0.1:{port}: {exc.strerror}") from None
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._advance, daemon=True),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def price(self) -> Decimal:
        with self._lock:
            return self._price

    def start(self) -> PriceOracle:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PriceOracle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _advance(self) -> None:
        while not self._stop.wait(self.step_s):
            price = self._walk.read().price
            with self._lock:
                self._price, self._at = price, time.time()

    def _body(self) -> bytes:
        with self._lock:
            return json.dumps({"price": str(self._price), "timestamp": self._at}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        oracle = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = oracle._body()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the demo's screen is for the market, not for access logs

        return Handler
