"""Price feeds: each source, the fallback chain, and config validation. No network: HTTP feeds
talk to a local server on an ephemeral port."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bots.errors import ChainError, ConfigError, OtcmmError
from bots.feeds.sources import (
    BookFeed,
    CsvFeed,
    FallbackFeed,
    FeedError,
    GbmFeed,
    HttpFeed,
    PriceFeed,
    PriceReading,
    StaticFeed,
)
from bots.feeds.spec import BookSpec, HttpSpec, StaticSpec, build_feed, feed_from_spec
from strategies.api import LiveOffer
from strategies.money import Token
from strategies.testing import BASE, QUOTE, ask_offer, bid_offer

NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


def no_book() -> tuple[list[LiveOffer], list[LiveOffer]]:
    raise AssertionError("the book is not read by this feed")


# --- static ---------------------------------------------------------------------------------


def test_static_feed_is_always_fresh() -> None:
    times = iter([1.0, 2.0])
    feed = StaticFeed(Decimal("1.25"), clock=lambda: next(times))
    assert feed.read() == PriceReading(Decimal("1.25"), 1.0, "static")
    assert feed.read().observed_at == 2.0


def test_static_feed_refuses_a_non_positive_price() -> None:
    with pytest.raises(ValueError):
        StaticFeed(Decimal(0))


def test_feed_error_is_an_otcmm_error_with_exit_code_1() -> None:
    assert issubclass(FeedError, OtcmmError)
    assert FeedError.exit_code == 1


# --- csv ------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def prices(feed: PriceFeed, count: int) -> list[Decimal]:
    return [feed.read().price for _ in range(count)]


def test_csv_feed_replays_rows_in_file_order_with_read_time(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,price\n100,1.5\n101,0.1\n\n102,2\n")
    feed = CsvFeed(path, clock=clock)
    first = feed.read()
    assert first == PriceReading(Decimal("1.5"), NOW, f"csv:{path}")
    assert prices(feed, 2) == [Decimal("0.1"), Decimal("2")]


def test_csv_feed_keeps_decimals_exact(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path, "1,0.1\n2,0.30000000000000000001\n"))
    first, second = prices(feed, 2)
    assert first == Decimal("0.1") and str(first) == "0.1"
    assert second == Decimal("0.30000000000000000001")


def test_csv_feed_without_loop_raises_when_exhausted(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path, "1,1\n2,2\n"))
    prices(feed, 2)
    with pytest.raises(FeedError, match="exhausted after 2 rows"):
        feed.read()


def test_csv_feed_with_loop_starts_over(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path, "1,1\n2,2\n"), loop=True)
    assert prices(feed, 5) == [Decimal(n) for n in (1, 2, 1, 2, 1)]


def test_csv_feed_accepts_iso_timestamps(tmp_path: Path) -> None:
    text = (
        "time,close\n2024-01-01T00:00:00Z,3\n2024-01-01 00:00:05,4\n2024-01-01T01:00:10+01:00,5\n"
    )
    feed = CsvFeed(write(tmp_path, text))
    assert prices(feed, 3) == [Decimal(3), Decimal(4), Decimal(5)]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("timestamp,price\n1,1\n2,abc\n", 3, "not a number"),
        ("1,1\n2,0\n", 2, "not a positive price"),
        ("1,1\n2,-3\n", 2, "not a positive price"),
        ("1,NaN\n", 1, "not a number"),
        ("1,1\nyesterday,2\n", 2, "not a timestamp"),
        ("1,1\n2,2,3\n", 2, "expected 2 columns"),
        ("5,1\n4,2\n", 2, "earlier than the row before"),
        ("2024-01-01,x\n", 1, "not a number"),
    ],
)
def test_csv_feed_names_the_line_of_a_bad_row(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FeedError, match=problem) as caught:
        CsvFeed(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "timestamp,price\n"])
def test_csv_feed_refuses_a_file_without_prices(tmp_path: Path, text: str) -> None:
    with pytest.raises(FeedError, match="no price rows"):
        CsvFeed(write(tmp_path, text))


def test_csv_feed_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="cannot read: No such file or directory"):
        CsvFeed(tmp_path / "missing.csv")


# --- http -----------------------------------------------------------------------------------


@dataclass
class Route:
    status: int = 200
    body: str = ""
    slow: bool = False


@dataclass
class Server:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def serve(
        self, path: str, body: Any = None, *, status: int = 200, raw: str | None = None
    ) -> str:
        self.routes[path] = Route(status, raw if raw is not None else json.dumps(body))
        return self.url + path


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    state = Server("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = state.routes.get(self.path.split("?")[0], Route(404, "{}"))
            if route.slow:
                state.release.wait(timeout=10)
            payload = route.body.encode()
            self.send_response(route.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_http_feed_reads_a_nested_field_exactly(server: Server) -> None:
    url = server.url + "/nested"
    server.routes["/nested"] = Route(body='{"bitcoin": {"usd": 65000.123456789012345678}}')
    reading = HttpFeed(url, "bitcoin.usd", clock=clock).read()
    assert reading == PriceReading(Decimal("65000.123456789012345678"), NOW, f"http:{url}")


def test_http_feed_indexes_lists_and_reads_string_prices(server: Server) -> None:
    url = server.serve("/list", {"data": [{"price": "1"}, {"price": "0.1"}]})
    assert HttpFeed(url, "data.1.price").read().price == Decimal("0.1")


def test_http_feed_reads_integer_prices(server: Server) -> None:
    url = server.serve("/int", {"price": 2000})
    assert HttpFeed(url, "price").read().price == Decimal(2000)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("data.price", "no 'price' in data"),
        ("data.5.price", "no '5' in data"),
        ("nope", "no 'nope' in the response"),
        ("data.0.price.x", "no 'x' in data.0.price"),
    ],
)
def test_http_feed_names_a_missing_field(server: Server, path: str, problem: str) -> None:
    url = server.serve("/missing", {"data": [{"price": "1"}]})
    with pytest.raises(FeedError) as caught:
        HttpFeed(url, path).read()
    assert str(caught.value) == f"http:{url} ({path}): {problem}"


@pytest.mark.parametrize(
    "value",
    [0, -1, "abc", None, True, [1], {"a": 1}, "NaN", "Infinity", "1_000", "\uff11\uff10\uff10"],
)  # Python's Decimal reads the last two as 1000 and 100 (underscores, full-width digits)
def test_http_feed_refuses_a_value_that_is_no_price(server: Server, value: object) -> None:
    url = server.serve("/bad-value", {"price": value})
    with pytest.raises(FeedError, match=r"\(price\): not a (positive price|number)"):
        HttpFeed(url, "price").read()


def test_http_feed_refuses_a_non_2xx_status(server: Server) -> None:
    url = server.serve("/down", {"price": "1"}, status=503)
    with pytest.raises(FeedError, match=r"\(price\): HTTP status 503$"):
        HttpFeed(url, "price").read()


def test_http_feed_refuses_a_body_that_is_not_json(server: Server) -> None:
    url = server.serve("/html", raw="<html>rate limited</html>")
    with pytest.raises(FeedError, match="response is not JSON"):
        HttpFeed(url, "price").read()


def test_http_feed_times_out(server: Server) -> None:
    server.routes["/slow"] = Route(body='{"price": "1"}', slow=True)
    with pytest.raises(FeedError, match=r"timed out after 0.2s$"):
        HttpFeed(server.url + "/slow", "price", timeout_s=0.2).read()


def test_http_feed_keeps_query_string_secrets_out_of_names_and_errors(server: Server) -> None:
    key_text = "s3cr3t-api-key"
    url = server.serve("/private", {"price": "1"}, status=401)
    feed = HttpFeed(f"{url}?apikey={key_text}&pair=ETHUSD", "price")
    with pytest.raises(FeedError) as caught:
        feed.read()
    assert feed.name == f"http:{url}?***"
    assert key_text not in str(caught.value)
    assert key_text not in repr(HttpSpec(kind="http", url=f"{url}?apikey={key_text}", field="p"))


def test_http_feed_connection_errors_name_the_cause_not_the_query(unused_port: int) -> None:
    key_text = "s3cr3t-api-key"
    feed = HttpFeed(f"http://user:{key_text}@127.0.0.1:{unused_port}/p?key={key_text}", "price")
    with pytest.raises(FeedError) as caught:
        feed.read()
    message = str(caught.value)
    assert (
        message
        == f"http:http://***@127.0.0.1:{unused_port}/p?*** (price): ConnectionError: "
        + ("Connection refused")
    )
    assert key_text not in message


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.5, 1_700_000_000.5),
        (1_700_000_000_250, 1_700_000_000.25),
        ("1700000000", 1_700_000_000.0),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
    ],
)
def test_http_feed_takes_observed_at_from_the_source(
    server: Server, stamp: object, seconds: float
) -> None:
    url = server.serve("/stamped", {"result": {"p": "3", "ts": stamp}})
    reading = HttpFeed(url, "result.p", timestamp_path="result.ts", clock=clock).read()
    assert reading.observed_at == pytest.approx(seconds)


def test_http_feed_refuses_a_bad_source_timestamp(server: Server) -> None:
    url = server.serve("/bad-stamp", {"p": "3", "ts": "soon"})
    with pytest.raises(FeedError, match=r"\(p, ts\): not a timestamp"):
        HttpFeed(url, "p", timestamp_path="ts").read()


# --- gbm ------------------------------------------------------------------------------------


def test_gbm_feed_starts_at_start_and_is_deterministic_for_a_seed() -> None:
    first = prices(GbmFeed(Decimal(100), seed=7), 50)
    assert first[0] == Decimal(100)
    assert prices(GbmFeed(Decimal(100), seed=7), 50) == first
    assert prices(GbmFeed(Decimal(100), seed=8), 50) != first


def test_gbm_feed_gives_positive_decimals_with_12_significant_digits() -> None:
    feed = GbmFeed(Decimal("0.5"), volatility=3.0, step_s=3600, clock=clock)
    for _ in range(500):
        reading = feed.read()
        assert isinstance(reading.price, Decimal)
        assert reading.price > 0
        assert len(reading.price.as_tuple().digits) <= 12
        assert reading.observed_at == NOW


def test_gbm_feed_log_returns_have_the_configured_volatility() -> None:
    sigma, step_s = 0.3, 5.0
    series = [
        float(p) for p in prices(GbmFeed(Decimal(100), volatility=sigma, step_s=step_s), 2001)
    ]
    returns = [math.log(b / a) for a, b in zip(series, series[1:], strict=False)]
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    expected = sigma * math.sqrt(step_s / (365 * 24 * 3600))
    assert abs(std - expected) < 0.2 * expected


# --- book -----------------------------------------------------------------------------------


def book_feed(
    bids: list[LiveOffer], asks: list[LiveOffer], base: Token = BASE, quote: Token = QUOTE
) -> BookFeed:
    return BookFeed(lambda: (bids, asks), base, quote, clock=clock)


def test_book_feed_gives_the_mid_of_best_bid_and_ask() -> None:
    bids = [bid_offer(1, Decimal("1998"), BASE.one), bid_offer(2, Decimal("1999"), BASE.one)]
    asks = [ask_offer(3, Decimal("2002"), BASE.one), ask_offer(4, Decimal("2001"), BASE.one)]
    assert book_feed(bids, asks).read() == PriceReading(Decimal("2000"), NOW, "book")


def test_book_feed_scales_by_each_tokens_decimals() -> None:
    asset = Token("0x00000000000000000000000000000000000a55e7", "ASSET", 2)
    euro = Token("0x0000000000000000000000000000000000000e42", "EURT", 18)
    bids = [bid_offer(1, Decimal("12.25"), 300, base=asset, quote=euro)]
    asks = [ask_offer(2, Decimal("12.75"), 150, base=asset, quote=euro)]
    assert book_feed(bids, asks, asset, euro).read().price == Decimal("12.5")


def test_book_feed_keeps_28_digits_of_an_inexact_mid() -> None:
    base = Token("0x00000000000000000000000000000000000000b1", "B", 0)
    quote = Token("0x00000000000000000000000000000000000000a1", "Q", 0)
    ask = LiveOffer(1, "0x1", base.address, quote.address, 3, 1, 3, 1)  # 1/3 quote per base
    bid = LiveOffer(2, "0x2", quote.address, base.address, 1, 3, 1, 3)
    price = book_feed([bid], [ask], base, quote).read().price
    assert price == Decimal("0.3333333333333333333333333333")


def test_book_feed_gives_the_mid_of_a_crossed_book() -> None:
    bids = [bid_offer(1, Decimal("2010"), BASE.one)]
    asks = [ask_offer(2, Decimal("2000"), BASE.one)]
    assert book_feed(bids, asks).read().price == Decimal("2005")


@pytest.mark.parametrize(("missing", "side"), [("bids", 0), ("asks", 1)])
def test_book_feed_needs_both_sides(missing: str, side: int) -> None:
    sides = [[bid_offer(1, Decimal("1999"), BASE.one)], [ask_offer(2, Decimal("2001"), BASE.one)]]
    sides[side] = []
    with pytest.raises(FeedError, match=f"^book: no {missing}$"):
        book_feed(sides[0], sides[1]).read()


def test_book_feed_refuses_swapped_sides() -> None:
    bids = [ask_offer(1, Decimal("1999"), BASE.one)]
    with pytest.raises(ValueError, match="swapped"):
        book_feed(bids, [ask_offer(2, Decimal("2001"), BASE.one)]).read()


def test_book_feed_turns_a_chain_error_into_a_feed_error() -> None:
    def unreachable() -> tuple[list[LiveOffer], list[LiveOffer]]:
        raise ChainError("node unreachable")

    with pytest.raises(FeedError, match="^book: node unreachable$"):
        BookFeed(unreachable, BASE, QUOTE).read()


# --- fallback -------------------------------------------------------------------------------


class Scripted:
    """A feed that returns a reading of the given age, or fails with the given error."""

    def __init__(self, name: str, age_s: float = 0.0, error: Exception | None = None) -> None:
        self.name = name
        self.age_s = age_s
        self.error = error
        self.reads = 0

    def read(self) -> PriceReading:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return PriceReading(Decimal(1), NOW - self.age_s, self.name)


def test_fallback_feed_returns_the_first_good_reading() -> None:
    feeds = [Scripted("a", error=FeedError("a: down")), Scripted("b"), Scripted("c")]
    fallback = FallbackFeed(feeds, max_age_s=30, clock=clock)
    assert fallback.name == "fallback(a,b,c)"
    assert fallback.read().source == "b"
    assert feeds[2].reads == 0


def test_fallback_feed_skips_a_stale_reading() -> None:
    fallback = FallbackFeed([Scripted("old", age_s=31), Scripted("new", age_s=30)], 30, clock)
    assert fallback.read().source == "new"


def test_fallback_feed_lists_every_failure_on_one_line() -> None:
    feeds = [Scripted("a", error=FeedError("a: timed out")), Scripted("b", age_s=90)]
    with pytest.raises(FeedError) as caught:
        FallbackFeed(feeds, 30, clock).read()
    assert str(caught.value) == (
        "all price feeds failed: a: timed out; b: stale, 90.0s old (max 30s)"
    )


def test_fallback_feed_lets_a_bug_propagate() -> None:
    feeds = [Scripted("a", error=ZeroDivisionError()), Scripted("b")]
    with pytest.raises(ZeroDivisionError):
        FallbackFeed(feeds, 30, clock).read()


# --- build_feed -----------------------------------------------------------------------------


def build(spec: dict[str, Any]) -> PriceFeed:
    return build_feed(spec, base=BASE, quote=QUOTE, book=no_book, clock=clock)


def test_build_feed_builds_every_kind(tmp_path: Path, server: Server) -> None:
    csv_path = write(tmp_path, "1,3\n")
    url = server.serve("/built", {"data": {"price": "4", "ts": 5}})
    specs: list[dict[str, Any]] = [
        {"kind": "static", "price": "1.25"},
        {"kind": "csv", "path": str(csv_path), "loop": True},
        {"kind": "http", "url": url, "field": "data.price", "timestamp_field": "data.ts"},
        {"kind": "gbm", "start": "100", "volatility": 0.3, "drift": 0, "step_s": 5, "seed": 7},
    ]
    readings = [build(spec).read() for spec in specs]
    assert [r.price for r in readings] == [Decimal("1.25"), 3, 4, 100]
    assert readings[2].observed_at == 5
    book = build_feed({"kind": "book"}, base=BASE, quote=QUOTE, book=lambda: ([], []))
    assert isinstance(book, BookFeed)


@pytest.mark.parametrize(("written", "price"), [(1.25, "1.25"), (0.1, "0.1"), (7, "7")])
def test_build_feed_reads_a_toml_number_as_written(written: object, price: str) -> None:
    reading = build({"kind": "static", "price": written}).read()
    assert str(reading.price) == price


@pytest.mark.parametrize(
    ("spec", "lines"),
    [
        ({"kind": "static", "price": "0"}, ["feed.price: Input should be greater than 0"]),
        ({"kind": "static", "price": "abc"}, ['feed.price: must be a number, such as "1.25"']),
        ({"kind": "static", "price": True}, ['feed.price: must be a number, such as "1.25"']),
        ({"kind": "static"}, ["feed.price: Field required"]),
        (
            {"kind": "csv", "path": "p.csv", "loop": "sometimes"},
            ["feed.loop: Input should be a valid boolean, unable to interpret input"],
        ),
        (
            {"kind": "http", "url": "ftp://host/x", "field": "", "colour": 1},
            [
                "feed.url: must be an http:// or https:// URL",
                "feed.field: String should have at least 1 character",
                "feed.colour: Extra inputs are not permitted",
            ],
        ),
        (
            {"kind": "gbm", "start": 1, "volatility": -1},
            ["feed.volatility: Input should be greater than or equal to 0"],
        ),
        (
            {"kind": "oracle"},
            [
                "feed.kind: Input tag 'oracle' found using 'kind' does not match any of the "
                "expected tags: 'static', 'csv', 'http', 'gbm', 'book'"
            ],
        ),
        ({}, ["feed.kind: Field required"]),
    ],
)
def test_build_feed_reports_one_line_per_problem(spec: dict[str, Any], lines: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        build(spec)
    assert str(caught.value).split("\n") == lines


def test_build_feed_reports_a_bad_csv_file_as_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "1,x\n")
    with pytest.raises(ConfigError, match=f"^{path}:1: not a number"):
        build({"kind": "csv", "path": str(path)})


def test_feed_specs_round_trip_through_model_dump(server: Server) -> None:
    url = server.serve("/dumped", {"p": "9"})
    spec = HttpSpec(kind="http", url=url, field="p")
    assert build(spec.model_dump()).read().price == 9
    assert StaticSpec.model_validate({"kind": "static", "price": 2.5}).price == Decimal("2.5")
    feed = feed_from_spec(BookSpec(kind="book"), base=BASE, quote=QUOTE, book=lambda: ([], []))
    assert feed.name == "book"
