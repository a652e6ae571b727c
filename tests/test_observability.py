"""Logging, metrics and the health server, through their public surfaces (real HTTP included)."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bots.chain.keystore import Secret
from bots.errors import ConfigError
from bots.service.health import HealthServer
from bots.service.logs import configure_logging, get_logger
from bots.service.metrics import BotMetrics


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    """Each test configures logging itself; undo it so other test modules see the defaults."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


# --- logs -------------------------------------------------------------------------------------


def test_json_lines_carry_bound_context() -> None:
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    structlog.contextvars.bind_contextvars(bot="mm-1", tick=7)
    log = get_logger("bots.tick.runner")
    log.info("requote sent", tx_hash="0xabc")
    log.warning("feed stale", age_s=Decimal("12.5"))

    first, second = json_lines(buf)
    assert first["event"] == "requote sent"
    assert (first["bot"], first["tick"], first["tx_hash"]) == ("mm-1", 7, "0xabc")
    assert first["level"] == "info" and first["logger"] == "bots.tick.runner"
    assert first["timestamp"].endswith("Z")
    assert second["level"] == "warning" and second["age_s"] == "12.5"


def test_auto_is_json_off_a_tty_and_console_on_one() -> None:
    piped, tty = io.StringIO(), FakeTTY()
    configure_logging("auto", stream=piped)
    get_logger().info("hello", bot="mm-1")
    configure_logging("auto", stream=tty)
    get_logger().info("hello", bot="mm-1")

    assert json_lines(piped)[0]["event"] == "hello"
    assert "hello" in tty.getvalue() and "\x1b[" in tty.getvalue()  # colored for a human
    with pytest.raises(json.JSONDecodeError):
        json.loads(tty.getvalue())


def test_forced_console_renders_key_values_without_colors_off_a_tty() -> None:
    buf = io.StringIO()
    configure_logging("console", stream=buf)
    structlog.contextvars.bind_contextvars(bot="mm-1")
    get_logger().info("tick done", tick=3)

    line = buf.getvalue()
    assert "tick done" in line and "bot=mm-1" in line and "tick=3" in line
    assert "\x1b[" not in line


def test_level_filters_and_invalid_level_is_rejected() -> None:
    buf = io.StringIO()
    configure_logging("json", level="WARNING", stream=buf)
    get_logger().info("quiet")
    get_logger().error("loud")
    assert [line["event"] for line in json_lines(buf)] == ["loud"]
    with pytest.raises(ValueError, match="invalid log level 'verbose'"):
        configure_logging("json", level="verbose", stream=buf)


def test_exceptions_render_as_a_string_field() -> None:
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    try:
        raise RuntimeError("node went away")
    except RuntimeError:
        get_logger().exception("tick failed")

    (line,) = json_lines(buf)
    assert isinstance(line["exception"], str)
    assert "Traceback" in line["exception"] and "node went away" in line["exception"]


def test_stdlib_logging_is_routed_once_even_after_reconfiguring() -> None:
    buf = io.StringIO()
    configure_logging("json", stream=io.StringIO())
    configure_logging("json", stream=buf)
    structlog.contextvars.bind_contextvars(bot="mm-1")
    logging.getLogger("bots.chain.keystore").info("keystore %s", "unlocked")

    (line,) = json_lines(buf)
    assert line["event"] == "keystore unlocked"
    assert (line["logger"], line["level"], line["bot"]) == ("bots.chain.keystore", "info", "mm-1")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_and_url_credentials_never_reach_the_output(fmt: str) -> None:
    buf = io.StringIO()
    configure_logging(fmt, stream=buf)  # type: ignore[arg-type]
    get_logger().info(
        "unlocking",
        keystore_password="hunter2-pw",  # noqa: S106 - a fake secret that must be masked
        private_key="0xdeadbeefcafe",
        MNEMONIC="abandon ability able",
        key=Secret("secret-in-a-Secret"),
        rpc_url="https://alice:s3cr3t-pw@node.example:8545/rpc?apikey=k3y-123",
        config={"client_secret": "nested-secret", "ws_url": "wss://bob:nested-pw@ws/x"},
    )
    logging.getLogger("web3").warning("retrying", extra={"password": "stdlib-pw"})

    out = buf.getvalue()
    for leaked in (
        "hunter2",
        "deadbeef",
        "abandon",
        "secret-in",
        "s3cr3t",
        "k3y",
        "alice",
        "stdlib-pw",
    ):
        assert leaked not in out
    assert "nested-secret" not in out and "nested-pw" not in out and "bob" not in out
    assert "https://***@node.example:8545/rpc?***" in out
    if fmt == "json":
        line = json_lines(buf)[0]
        masked = "***"
        assert line["keystore_password"] == line["key"] == line["MNEMONIC"] == masked
        assert line["config"]["ws_url"] == "wss://***@ws/x"


def test_plain_urls_are_logged_unchanged() -> None:
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    get_logger().info("connected", rpc_url="http://127.0.0.1:8545")
    assert json_lines(buf)[0]["rpc_url"] == "http://127.0.0.1:8545"


# --- metrics ----------------------------------------------------------------------------------


def samples(metrics: BotMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: BotMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, frozenset(labels.items()))]


def test_metrics_count_what_the_runner_reports() -> None:
    m = BotMetrics(clock=lambda: 1_700_000_000.0)
    for ok in (True, False, True):
        m.tick_started()
        m.tick_finished(0.2, ok=ok)
    m.decision("quote")
    m.decision("quote")
    m.decision("noop")
    m.tx_sent("requote")
    m.tx_mined("requote", 120_000)
    m.tx_sent("requote")
    m.tx_mined("requote", 80_000)
    m.tx_failed("requote", "UnexpectedRemaining")
    m.set_book(bids=3, asks=2)
    m.set_inventory("WETH", Decimal("1.25"))
    m.set_mark_to_market(Decimal("5000.5"))
    m.set_reference_price(Decimal("2000"))
    m.rpc_call()

    assert value(m, "otcmm_ticks_total") == 3
    assert value(m, "otcmm_tick_errors_total") == 1
    assert value(m, "otcmm_tick_duration_seconds_count") == 3
    assert value(m, "otcmm_last_tick_timestamp_seconds") == 1_700_000_000.0
    assert value(m, "otcmm_decisions_total", outcome="quote") == 2
    assert value(m, "otcmm_decisions_total", outcome="safety_stop") == 0
    assert value(m, "otcmm_tx_sent_total", label="requote") == 2
    assert value(m, "otcmm_tx_failed_total", label="requote", reason="UnexpectedRemaining") == 1
    assert value(m, "otcmm_tx_gas_used_total", label="requote") == 200_000
    assert value(m, "otcmm_live_offers", side="bid") == 3
    assert value(m, "otcmm_live_offers", side="ask") == 2
    assert value(m, "otcmm_inventory", token="WETH") == 1.25  # noqa: S106 - a label
    assert value(m, "otcmm_mark_to_market_quote") == 5000.5
    assert value(m, "otcmm_reference_price") == 2000
    assert value(m, "otcmm_rpc_calls_total") == 1


def test_safety_stops_cover_every_known_reason() -> None:
    m = BotMetrics()
    m.set_safety_stops({"gas_cap": True})
    m.set_safety_stops({"stale_feed": True, "new_reason": True})

    assert value(m, "otcmm_safety_stop", reason="stale_feed") == 1
    assert value(m, "otcmm_safety_stop", reason="gas_cap") == 0
    assert value(m, "otcmm_safety_stop", reason="balances") == 0
    assert value(m, "otcmm_safety_stop", reason="gas_balance") == 0
    assert value(m, "otcmm_safety_stop", reason="new_reason") == 1


def test_missing_reference_price_is_nan_and_registries_are_independent() -> None:
    a, b = BotMetrics(), BotMetrics()
    a.set_reference_price(Decimal("3"))
    a.set_reference_price(None)
    a.rpc_call()

    assert value(a, "otcmm_reference_price") != value(a, "otcmm_reference_price")  # NaN
    assert value(b, "otcmm_rpc_calls_total") == 0


# --- health server ----------------------------------------------------------------------------


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test server
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read().decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[HealthServer]:
    metrics = BotMetrics()
    metrics.tick_started()
    with HealthServer(metrics, host="127.0.0.1", port=0, liveness_timeout_s=30, clock=clock) as hs:
        yield hs


def test_healthz_stays_alive_during_a_long_start_up_while_readyz_does_not(
    server: HealthServer, clock: FakeClock
) -> None:
    """Settling a previous run's transactions can outlast the liveness timeout; the kubelet
    must not kill a bot for starting (it would only start again), but must not route to it."""
    clock.now += 600  # no beat yet: the loop has not started
    assert get(f"{server.url}/healthz")[::2] == (200, "starting")
    assert get(f"{server.url}/readyz")[::2] == (503, "starting")
    server.beat()  # the first tick: from now on silence counts
    assert get(f"{server.url}/healthz")[::2] == (200, "ok")
    clock.now += 31
    assert get(f"{server.url}/healthz")[0] == 503


def test_healthz_fails_when_the_loop_stops_beating(server: HealthServer, clock: FakeClock) -> None:
    server.beat()
    assert get(f"{server.url}/healthz")[::2] == (200, "ok")
    clock.now += 30
    assert get(f"{server.url}/healthz")[0] == 200
    clock.now += 1
    status, _, body = get(f"{server.url}/healthz")
    assert (status, body) == (503, "no heartbeat for 31s")
    server.beat()
    assert get(f"{server.url}/healthz")[0] == 200


def test_readyz_follows_the_declared_state(server: HealthServer) -> None:
    assert get(f"{server.url}/readyz")[::2] == (503, "starting")
    server.set_ready(True)
    assert get(f"{server.url}/readyz")[::2] == (200, "ok")
    server.set_ready(False, "shutting down")
    assert get(f"{server.url}/readyz")[::2] == (503, "shutting down")


def test_metrics_endpoint_serves_the_exposition_format(server: HealthServer) -> None:
    status, content_type, body = get(f"{server.url}/metrics")
    assert (status, content_type) == (200, CONTENT_TYPE_LATEST)
    assert "otcmm_ticks_total 1.0" in body.splitlines()


def test_unknown_paths_are_404(server: HealthServer) -> None:
    assert get(f"{server.url}/nope")[0] == 404
    assert get(f"{server.url}/healthz?verbose=1")[0] == 200


def test_stop_frees_the_port_and_a_busy_port_is_a_config_error() -> None:
    first = HealthServer(BotMetrics(), host="127.0.0.1", port=0).start()
    port = first.port
    assert port != 0
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
        HealthServer(BotMetrics(), host="127.0.0.1", port=port).start()
    first.stop()
    first.stop()
    with pytest.raises(urllib.error.URLError):
        get(f"http://127.0.0.1:{port}/healthz")
    with HealthServer(BotMetrics(), host="127.0.0.1", port=port) as again:
        assert get(f"{again.url}/healthz")[0] == 200


def test_wildcard_host_is_reached_through_loopback() -> None:
    hs = HealthServer(BotMetrics(), port=0)
    assert hs.url == "http://127.0.0.1:0"
