"""Price feeds: the reference price a strategy quotes around.

Strategies are pure, so every source of a price (a fixed number, a replayed file, an HTTP API, a
simulation, the market's own book) lives here at the I/O edge and hands the bot a
:class:`PriceReading`. A feed that cannot tell the price *now* raises :class:`FeedError` rather
than guess; the bot then tries the next feed of a :class:`FallbackFeed` or stops quoting.
Every price is a ``Decimal`` parsed from text as written, never routed through a float, and
passes the one shared parser (`bots.feeds.pricefile.positive_price`): finite, positive and sane
(1e-30 .. 1e31), so a source answering ``1e999999`` is a `FeedError`, not a price.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
import requests

from bots.chain.redact import redact_url
from bots.errors import ChainError, OtcmmError
from bots.feeds.pricefile import PriceFileError, positive_price, read_price_rows, unix_seconds
from strategies.api import LiveOffer
from strategies.money import Token, offer_price

Clock = Callable[[], float]
BookSource = Callable[[], tuple[Sequence[LiveOffer], Sequence[LiveOffer]]]
"""Returns ``(bids, asks)``: bids pay quote for base, asks pay base for quote."""

_YEAR_S = 365 * 24 * 3600


class FeedError(OtcmmError):
    """No usable price right now; the one-line message starts with the feed's name (exit 1)."""


@dataclass(frozen=True, slots=True)
class PriceReading:
    """A price (quote per whole base token) and when it was true, so stale ones can be refused."""

    price: Decimal
    observed_at: float
    source: str


class PriceFeed(Protocol):
    name: str

    def read(self) -> PriceReading:
        """The current price; raises :class:`FeedError` when there is none."""
        ...


class StaticFeed:
    """A fixed price that is always fresh: for pegged pairs, tests and dry runs."""

    def __init__(self, price: Decimal, clock: Clock = time.time) -> None:
        self.name = "static"
        self._price = positive_price(price)
        self._clock = clock

    def read(self) -> PriceReading:
        return PriceReading(self._price, self._clock(), self.name)


class CsvFeed:
    """Replays ``timestamp,price`` rows in file order, one per read, for demos and backtests.

    Readings carry the read time, since a replayed row stands for "the price now". The whole file
    is checked up front (timestamps valid and never going back), so a bad row stops the bot at
    start-up rather than hours into a run. A first row of words is a header.
    """

    def __init__(self, path: Path, *, loop: bool = False, clock: Clock = time.time) -> None:
        self.name = f"csv:{path}"
        self._prices = _load_csv(path)
        self._loop = loop
        self._clock = clock
        self._next = 0

    def read(self) -> PriceReading:
        if self._next == len(self._prices):
            if not self._loop:
                raise FeedError(f"{self.name}: exhausted after {len(self._prices)} rows")
            self._next = 0
        self._next += 1
        return PriceReading(self._prices[self._next - 1], self._clock(), self.name)


def _load_csv(path: Path) -> list[Decimal]:
    try:
        return [row.price for row in read_price_rows(path)]
    except PriceFileError as exc:
        raise FeedError(str(exc)) from None


def _walk(document: object, path: str) -> object:
    """Follow a dotted path such as ``data.0.price``: numbers index arrays, names objects."""
    node = document
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ValueError(f"no {part!r} in {'.'.join(parts[:depth]) or 'the response'}")
    return node


def _network_problem(exc: requests.RequestException) -> str:
    """Why a request failed, from the OS error underneath: ``str(exc)`` repeats the full URL."""
    cause: BaseException | None = exc
    for _ in range(10):  # bounded: exception chains can loop
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.strerror:
            return f"{type(exc).__name__}: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


class HttpFeed:
    """Polls a JSON API (an exchange ticker, an oracle gateway) for the latest price.

    JSON numbers are parsed straight into ``Decimal``, so 0.1 never becomes 0.1000000000000000055.
    ``name`` and every message leave out the URL's query string and user info: API keys live
    there, and both end up in logs.
    """

    def __init__(
        self,
        url: str,
        field_path: str,
        *,
        timeout_s: float = 5.0,
        timestamp_path: str | None = None,
        clock: Clock = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.name = f"http:{redact_url(url)}"
        self._url = url
        self._field = field_path
        self._timestamp = timestamp_path
        self._timeout_s = timeout_s
        self._clock = clock
        self._session = session or requests.Session()

    def read(self) -> PriceReading:
        body = self._fetch()
        try:
            price = positive_price(_walk(body, self._field))
            if self._timestamp is None:
                return PriceReading(price, self._clock(), self.name)
            observed = unix_seconds(_walk(body, self._timestamp))
        except ValueError as exc:
            raise self._error(str(exc)) from None
        return PriceReading(price, observed, self.name)

    def _fetch(self) -> object:
        try:
            response = self._session.get(
                self._url, timeout=self._timeout_s, headers={"Accept": "application/json"}
            )
        except requests.Timeout:
            raise self._error(f"timed out after {self._timeout_s:g}s") from None
        except requests.RequestException as exc:
            raise self._error(_network_problem(exc)) from None
        if not 200 <= response.status_code < 300:
            raise self._error(f"HTTP status {response.status_code}")
        try:  # bytes, not .text: json detects UTF-8/16/32 itself, requests may guess wrong
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise self._error("response is not JSON") from None

    def _error(self, problem: str) -> FeedError:
        fields = self._field if self._timestamp is None else f"{self._field}, {self._timestamp}"
        return FeedError(f"{self.name} ({fields}): {problem}")


class GbmFeed:
    """A seeded geometric Brownian motion: a market that moves, for demos and soak tests.

    Each read is one step of ``step_s`` simulated seconds however much wall time passed, so a run
    is reproducible from its seed. The first read returns ``start``; prices keep 12 significant
    digits, so the float inside never leaks spurious precision into quotes.
    """

    def __init__(
        self,
        start: Decimal,
        *,
        drift: float = 0.0,
        volatility: float = 0.2,
        step_s: float = 5.0,
        seed: int = 0,
        clock: Clock = time.time,
    ) -> None:
        if start <= 0 or volatility < 0 or step_s <= 0:
            raise ValueError("GbmFeed needs start > 0, volatility >= 0 and step_s > 0")
        self.name = "gbm"
        dt = step_s / _YEAR_S
        self._log_mean = (drift - volatility**2 / 2) * dt
        self._log_std = volatility * math.sqrt(dt)
        self._price = float(start)
        self._rng = np.random.default_rng(seed)
        self._clock = clock

    def read(self) -> PriceReading:
        shock = float(self._rng.standard_normal())
        try:
            price = positive_price(f"{self._price:.12g}")
        except ValueError as exc:
            raise FeedError(f"{self.name}: simulation left the sane prices: {exc}") from None
        finally:
            self._price *= math.exp(self._log_mean + self._log_std * shock)
        return PriceReading(price, self._clock(), self.name)


class BookFeed:
    """The mid of the market's own book, for a pair no outside source prices (a new asset token).

    Prices come from each offer's original rate and stay exact until the final division. A crossed
    book still gives its mid: crossing is transient, and taking it is the strategies' decision.
    """

    def __init__(
        self, book: BookSource, base: Token, quote: Token, *, clock: Clock = time.time
    ) -> None:
        self.name = "book"
        self._book = book
        self._base = base
        self._quote = quote
        self._clock = clock

    def read(self) -> PriceReading:
        try:
            bids, asks = self._book()
        except ChainError as exc:  # let a fallback feed step in while the node is unreachable
            raise FeedError(f"{self.name}: {exc}") from None
        best_bid = max((self._price(offer, self._quote) for offer in bids), default=None)
        best_ask = min((self._price(offer, self._base) for offer in asks), default=None)
        if best_bid is None or best_ask is None:
            raise FeedError(f"{self.name}: no {'bids' if best_bid is None else 'asks'}")
        mid = (best_bid + best_ask) / 2
        with localcontext(prec=28):
            mid_price = Decimal(mid.numerator) / Decimal(mid.denominator)
        try:
            price = positive_price(mid_price)
        except ValueError as exc:
            raise FeedError(f"{self.name}: {exc}") from None
        return PriceReading(price, self._clock(), self.name)

    def _price(self, offer: LiveOffer, pays: Token) -> Fraction:
        """Quote per base of an offer that pays ``pays``; a wrong side is a wiring bug."""
        if offer.pay_token.lower() != pays.address.lower():
            raise ValueError(f"offer {offer.id:#x} does not pay {pays.symbol}: bids/asks swapped?")
        if pays == self._base:
            return offer_price(self._base, self._quote, offer.pay_amt, offer.buy_amt)
        return offer_price(self._base, self._quote, offer.buy_amt, offer.pay_amt)


class FallbackFeed:
    """Tries feeds in order, so that one outage or stale source need not pull every quote.

    A reading counts when it is at most `max_age_s` old and at most `max_skew_s` in the future
    (a source whose clock runs ahead would otherwise look fresh forever). Only
    :class:`FeedError` counts as a failure: any other exception is a bug and propagates instead
    of being papered over by the next feed.
    """

    def __init__(
        self,
        feeds: Sequence[PriceFeed],
        max_age_s: float,
        clock: Clock = time.time,
        *,
        max_skew_s: float = 5.0,
    ) -> None:
        if not feeds:
            raise ValueError("FallbackFeed needs at least one feed")
        self._feeds = tuple(feeds)
        self._max_age_s = max_age_s
        self._max_skew_s = max_skew_s
        self._clock = clock
        self.name = f"fallback({','.join(feed.name for feed in self._feeds)})"

    def read(self) -> PriceReading:
        failures: list[str] = []
        for feed in self._feeds:
            try:
                reading = feed.read()
            except FeedError as exc:
                failures.append(str(exc))
                continue
            age = self._clock() - reading.observed_at
            if -self._max_skew_s <= age <= self._max_age_s:
                return reading
            if age < 0:
                failures.append(
                    f"{feed.name}: {-age:.1f}s in the future (max {self._max_skew_s:g}s)"
                )
            else:
                failures.append(f"{feed.name}: stale, {age:.1f}s old (max {self._max_age_s:g}s)")
        raise FeedError(f"all price feeds failed: {'; '.join(failures)}")
