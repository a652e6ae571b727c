"""What a bot's log says when nothing goes through, when it has nothing to do, and when ticks
overrun: real ticks on the session anvil, logs captured as the JSON a container ships."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.schedulers.background import BackgroundScheduler

from bots.service.logs import configure_logging
from bots.tick import report
from bots.tick.reconcile import reconcile
from bots.tick.report import TickReport, observe
from bots.tick.risk import Guarded
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market
from tests.procs import poll
from tests.tickrig import BND, FUNDS, best_ask, make_rig, take


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    """alice and bob hold and approved both tokens; carol holds none (an unfunded bot)."""
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, TwoAssetMarket, ("alice", "bob"), FUNDS, usd_decimals=6
        )


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    yield buf
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.chain
def test_a_reverted_requote_is_a_warning_that_says_it_failed(
    book: TwoAssetMarket, logs: io.StringIO
) -> None:
    rig = make_rig(book)
    rig.tick()
    bot = rig.bot
    snapshot = bot.view.read(bot.ticks + 1).with_price(Decimal(101))
    decision = bot.strategy.decide(snapshot)
    plan = reconcile(decision.quotes, snapshot.own_offers, bot.tolerance)
    take(book, "bob", best_ask(rig).id, BND)  # a fill after the plan read the amounts
    execution = bot.executor.execute(plan, ())
    assert execution.all_failed

    observe(
        TickReport(2, "quote", plan, execution), snapshot, Guarded(decision, {}), bot.metrics, None
    )

    first, tick = [line for line in lines(logs) if line["event"] == "tick"]
    assert first["result"] == "sent"
    assert tick["level"] == "warning" and tick["result"] == "failed"
    assert (tick["made"], tick["cancelled"], tick["failed"]) == (0, 0, 1)


@pytest.mark.chain
def test_a_tick_that_went_through_says_sent(book: TwoAssetMarket, logs: io.StringIO) -> None:
    make_rig(book).tick()
    (tick,) = [line for line in lines(logs) if line["event"] == "tick"]
    assert tick["level"] == "info" and tick["result"] == "sent" and tick["made"] == 4


@pytest.mark.chain
def test_an_unfunded_bot_warns_once_with_its_balances_and_the_strategys_reason(
    book: TwoAssetMarket, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "_idle_ticks", {})
    rig = make_rig(book, who="carol")
    for _ in range(report.IDLE_TICKS - 1):
        assert rig.tick().outcome == "noop"
    assert not [line for line in lines(logs) if line["event"].startswith("idle")]

    for _ in range(2 * report.IDLE_TICKS):
        rig.tick()

    idle = [line for line in lines(logs) if line["event"].startswith("idle")]
    assert len(idle) == 1, idle
    assert idle[0]["level"] == "warning"
    assert idle[0]["balances"] == {"BND": "0.00", "USD": "0.000000"}
    assert idle[0]["reason"].startswith("nothing to quote: too little BND to sell")
    assert not [line for line in lines(logs) if line["event"] == "tick"]  # nothing else said


def test_overrunning_ticks_are_counted_not_logged(logs: io.StringIO) -> None:
    """APScheduler's "skipped: maximum number of running instances reached" warning came once
    per overrun tick and drowned the log; the service counts them instead."""
    release, skipped = threading.Event(), threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.add_job(release.wait, "interval", seconds=0.05, max_instances=1)
    scheduler.add_listener(lambda _event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        poll(skipped.is_set, "a skipped run", timeout_s=30)
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    assert "maximum number of running instances" not in logs.getvalue()
    assert "skipped" not in logs.getvalue()
