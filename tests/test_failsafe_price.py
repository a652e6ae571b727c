"""Fail-safe prices: absurd readings, jumps that must not be followed by themselves, and bugs in
the price path never leave quotes at a wrong price.

Real bot ticks against real contracts on the session anvil (`tests.tickrig`); the feed and the
clock belong to the test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.feeds.sources import PriceReading
from bots.tick.limits import RiskLimits
from tests.chainfixtures import TwoAssetMarket
from tests.tickrig import (  # noqa: F401 - fresh_book is a fixture
    FUNDS,
    Rig,
    asks_and_bids,
    fresh_book,
    make_rig,
    metric_values,
)

pytestmark = pytest.mark.chain


# --- absurd prices --------------------------------------------------------------------------


def test_a_price_outside_the_configured_band_is_refused_and_the_quotes_pulled(
    book: TwoAssetMarket,
) -> None:
    rig = make_rig(book, limits=RiskLimits(min_price=Decimal(50), max_price=Decimal(200)))
    rig.tick()
    rig.move("0.000000000000000000000000000001")

    report = rig.tick()

    assert report.outcome == "safety_stop" and "price_band" in report.stops
    assert rig.own() == []


def test_a_near_zero_first_price_never_posts_asks_below_the_best_bid(
    book: TwoAssetMarket,
) -> None:
    bob = make_rig(book, "bob")
    bob.tick()  # an honest maker quotes 99.5 / 100.5
    best_bid = max(asks_and_bids(bob)[1])
    rig = make_rig(book)  # no band configured, no price accepted yet
    rig.move("1e-30")

    report = rig.tick()

    assert report.execution.errors == []
    asks, _ = asks_and_bids(rig)
    assert all(price > best_bid for price in asks)  # nothing given away
    assert asks == []  # every ask would have crossed the book: post_only dropped them


@pytest.mark.parametrize("huge", ["1e308", "1e999999", "9" * 70])
def test_a_huge_price_does_not_crash_the_tick_and_pulls_the_quotes(
    book: TwoAssetMarket, huge: str
) -> None:
    """`1e999999` overflowed the guard's Decimal arithmetic before the quotes were pulled."""
    rig = make_rig(book)
    rig.tick()
    rig.move(huge)

    refused = rig.tick()

    assert refused.outcome == "safety_stop" and "not a sane price" in refused.stops["price_band"]
    assert rig.own() == []
    assert rig.bot.price_guard.last == Decimal(100)  # the anchor is not poisoned


def test_a_huge_first_price_quotes_nothing_the_market_cannot_store(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    rig.move("1e30")  # sane by the parser's bound, but 5 BND cost 5e36 USD units: > 2^96

    report = rig.tick()

    assert report.execution.errors == []
    assert report.plan.makes == ()  # amounts of 2^96 or more were dropped, not sent
    assert rig.own() == []


def test_a_tenfold_jump_is_never_followed_by_itself(book: TwoAssetMarket) -> None:
    """A source that jumps 10x and then repeats itself for minutes does not confirm itself:
    beyond max_price_jump_bps (5000) only an operator (--reset-price-anchor) moves the anchor."""
    rig = make_rig(book)
    rig.tick()
    for _ in range(10):
        rig.clock.now += 30
        rig.move("1000")
        report = rig.tick()
        assert "max_price_jump_bps 5000" in report.stops["price_jump"]
        assert rig.own() == []
    assert rig.bot.price_guard.last == Decimal(100)
    rig.move("100.2")  # the feed comes back near the anchor: followed at once
    assert rig.tick().stops == {} and len(rig.own()) == 4


def test_a_jump_is_followed_only_after_confirming_readings_spanning_confirm_s(
    book: TwoAssetMarket,
) -> None:
    """Three readings of the same source within a second used to confirm a jump; they must
    now also span price_confirm_s (30 s) of the bot's clock."""
    limits = RiskLimits(max_price_move_bps=500, price_confirmations=3, price_confirm_s=30)
    rig = make_rig(book, limits=limits)
    rig.tick()
    rig.move("130")

    quick = [rig.tick() for _ in range(5)]  # five readings, no time passed

    assert all("price_jump" in report.stops for report in quick)
    assert "5 of 3 confirming readings over 0 of 30 s" in quick[-1].stops["price_jump"]
    assert rig.own() == []
    rig.clock.now += 29
    rig.move("130")
    assert "price_jump" in rig.tick().stops
    rig.clock.now += 1
    rig.move("130")
    confirmed = rig.tick()
    assert confirmed.stops == {} and confirmed.outcome == "quote"
    asks, bids = asks_and_bids(rig)
    assert min(asks) > 130 > max(bids)


def test_a_jump_that_does_not_repeat_is_never_followed(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(max_price_move_bps=500, price_confirmations=2))
    rig.tick()
    for price in ("1000", "10", "1000", "10"):  # a flapping source never confirms itself
        rig.move(price)
        assert "price_jump" in rig.tick().stops
    rig.move("100.1")
    assert rig.tick().stops == {}


def test_a_feed_walking_in_small_steps_is_not_followed_past_the_drift_limit(
    book: TwoAssetMarket,
) -> None:
    """The red team's walk: 4% down every 1.2 s, each step under max_price_move_bps (5%), took
    the bot's quotes from 104 to 29.5 in 40 s with no stop. Now the steps add up against the
    price of the window's start (max_price_drift_bps 2000 over 300 s): the bot stops quoting
    once the walk has gone 20%, and follows a level only once it stops walking and confirms."""
    rig = make_rig(book)
    rig.tick()
    price, lowest_quoted = Decimal(100), Decimal(100)
    for _ in range(10):  # to 100 * 0.96**10 = 66.5 (further on it becomes a jump stop)
        rig.clock.now += 1.2
        price *= Decimal("0.96")
        rig.move(str(price))
        report = rig.tick()
        asks, _ = asks_and_bids(rig)
        if asks:
            lowest_quoted = min(lowest_quoted, Decimal(min(asks).numerator) / min(asks).denominator)
    assert "max_price_drift_bps 2000" in report.stops["price_jump"]
    assert rig.own() == [] and lowest_quoted > 80  # never quoted the walk past 20%
    for _ in range(3):  # the feed settles where the walk ended: confirmed over 30 s
        rig.clock.now += 15
        rig.move(str(price))
        report = rig.tick()
    assert report.stops == {} and rig.bot.price_guard.last == price


def test_a_reading_from_the_future_is_stale(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(max_feed_skew_s=5))
    rig.tick()
    rig.feed.observed_at = rig.clock.now + 3600  # a source clock an hour ahead

    report = rig.tick()

    assert "stale_feed" in report.stops
    assert rig.own() == []


def test_a_bug_in_the_price_path_pulls_the_quotes_and_fails_the_tick(
    book: TwoAssetMarket,
) -> None:
    """A feed plug-in (or the guard, or the P&L) raising something that is not an OtcmmError
    used to end the tick with the old quotes standing."""
    rig = make_rig(book, raw_feed=True)
    rig.tick()
    assert len(rig.own()) == 4

    def broken() -> PriceReading:
        raise ZeroDivisionError("feed plug-in bug")

    rig.feed.read = broken  # type: ignore[method-assign]

    with pytest.raises(ZeroDivisionError):
        rig.tick()

    assert rig.own() == []
    assert metric_values(rig.bot.metrics)[("otcmm_tick_errors_total", frozenset())] == 1  # type: ignore[arg-type]
