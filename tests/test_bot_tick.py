"""`Bot.tick()` in process against real contracts on the session anvil: real signed requotes.

The bot is wired as `bots.service.process.build` wires it (a `RetryingHTTPProvider`, its own
`Transactor` with the gas cap, the feed behind a `FallbackFeed`), except that the price feed and
the clock belong to the test. Each test starts from the module's market, and `world` rolls the
chain back afterwards.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.chain.rpc import RetryingHTTPProvider
from bots.market.client import MAX_UINT
from bots.service.shutdown import cancel_all
from bots.tick.limits import RiskLimits
from bots.tick.reconcile import reconcile
from tests.chainfixtures import TwoAssetMarket, World
from tests.faultproxy import FaultPlan, FaultProxy
from tests.tickrig import (  # noqa: F401 - fresh_book is a fixture
    BND,
    FUNDS,
    GWEI,
    SIZE,
    SPREAD,
    BlindParams,
    BlindQuotes,
    BreakableSpread,
    best_ask,
    fresh_book,
    ladder,
    make_rig,
    metric_values,
    restore_base_fee,
    set_base_fee,
    take,
)

pytestmark = pytest.mark.chain


# --- quoting --------------------------------------------------------------------------------


def test_first_tick_places_the_ladder_in_one_transaction(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    nonce = rig.nonce()

    report = rig.tick()

    assert report.outcome == "quote" and report.stops == {}
    assert report.execution.errors == []
    assert len(report.plan.makes) == 4 and report.plan.cancels == ()
    assert rig.nonce() == nonce + 1
    offers = rig.own()
    assert sorted(o.id for o in offers) == sorted(report.execution.made)
    assert all(o.owner == book.world.addr("alice") for o in offers)
    assert rig.quoted() == ladder("100")


def test_second_tick_with_nothing_changed_sends_nothing(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    rig.tick()
    nonce, offers = rig.nonce(), rig.own()

    report = rig.tick()

    assert report.outcome == "noop"
    assert report.plan.is_empty and len(report.plan.keep) == 4
    assert not report.execution.sent_anything
    assert rig.nonce() == nonce
    assert rig.own() == offers


def test_price_move_beyond_tolerance_requotes_everything_in_one_transaction(
    book: TwoAssetMarket,
) -> None:
    rig = make_rig(book)
    old = set(rig.tick().execution.made)
    nonce = rig.nonce()
    rig.move("101")

    report = rig.tick()

    assert report.outcome == "quote" and report.execution.errors == []
    assert {offer_id for offer_id, _ in report.plan.cancels} == old
    assert len(report.plan.makes) == 4 and report.plan.keep == ()
    assert rig.nonce() == nonce + 1
    assert rig.quoted() == ladder("101")
    assert not old & {o.id for o in rig.own()}


def test_price_move_within_tolerance_keeps_the_offers(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    rig.tick()
    nonce, offers = rig.nonce(), rig.own()
    rig.move("100.03")  # 3 bps: inside the 5 bps price tolerance

    report = rig.tick()

    assert report.outcome == "noop" and report.plan.is_empty
    assert rig.nonce() == nonce and rig.own() == offers


# --- safety stops ---------------------------------------------------------------------------


def test_stale_feed_pulls_the_quotes_and_fresh_feed_resumes(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(feed_max_age_s=30))
    placed = set(rig.tick().execution.made)
    rig.clock.now += 31

    stale = rig.tick()

    assert stale.outcome == "safety_stop" and set(stale.stops) == {"stale_feed"}
    assert stale.plan.makes == ()
    assert set(stale.execution.cancelled) == placed
    assert rig.own() == []

    still = rig.tick()
    assert "stale_feed" in still.stops and not still.execution.sent_anything

    rig.move("100")
    resumed = rig.tick()
    assert resumed.outcome == "quote" and resumed.stops == {}
    assert rig.quoted() == ladder("100")


def test_stale_reading_from_a_bare_feed_also_pulls_the_quotes(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(feed_max_age_s=30), raw_feed=True)
    rig.tick()
    rig.clock.now += 31

    stale = rig.tick()

    assert "stale_feed" in stale.stops
    assert rig.own() == []


def test_gas_price_above_the_cap_sends_nothing_until_it_falls(
    book: TwoAssetMarket, world: World
) -> None:
    # the network's 1 wei base fee and the node's 1 gwei tip stay under a 2 gwei cap
    rig = make_rig(book, limits=RiskLimits(max_gas_price_wei=2 * GWEI))
    rig.tick()
    try:
        set_base_fee(world, 5 * GWEI)
        rig.move("101")  # the strategy now wants a requote; the cap must hold it back
        nonce, offers = rig.nonce(), rig.own()

        capped = rig.tick()

        assert capped.outcome == "safety_stop" and set(capped.stops) == {"gas_cap"}
        assert capped.plan.is_empty and len(capped.plan.keep) == 4
        assert not capped.execution.sent_anything
        assert rig.nonce() == nonce and rig.own() == offers

        restore_base_fee(world)
        resumed = rig.tick()

        assert resumed.outcome == "quote" and resumed.stops == {}
        assert resumed.execution.errors == []
        assert rig.nonce() == nonce + 1
        assert rig.quoted() == ladder("101")
    finally:
        restore_base_fee(world)


def test_base_fee_under_the_cap_but_max_fee_over_it_is_a_stop_not_an_error(
    book: TwoAssetMarket, world: World
) -> None:
    rig = make_rig(book, limits=RiskLimits(max_gas_price_wei=GWEI))
    try:
        set_base_fee(world, 6 * GWEI // 10)

        report = rig.tick()

        assert report.execution.errors == []
    finally:
        restore_base_fee(world)


def test_quotes_the_balances_cannot_back_stop_new_offers_until_topped_up(
    book: TwoAssetMarket, world: World
) -> None:
    world.fund(book.usd, {"carol": FUNDS}, book.market)  # quote money, but no BND to sell
    world.send("carol", book.bnd.functions.approve(book.market.address, MAX_UINT))
    rig = make_rig(book, "carol", BlindQuotes(BlindParams(size=SIZE)))
    nonce = rig.nonce()

    short = rig.tick()

    assert short.outcome == "safety_stop" and set(short.stops) == {"balances"}
    assert short.plan.makes == () and not short.execution.sent_anything
    assert rig.own() == [] and rig.nonce() == nonce

    world.fund(book.bnd, {"carol": SIZE})
    backed = rig.tick()

    assert backed.outcome == "quote" and backed.stops == {}
    assert len(backed.execution.made) == 2
    assert [side for side, _, _ in rig.quoted()] == ["ask", "bid"]


# --- failures and races ---------------------------------------------------------------------


def test_strategy_error_pulls_the_quotes_and_a_fixed_strategy_quotes_again(
    book: TwoAssetMarket,
) -> None:
    strategy = BreakableSpread(SPREAD)
    rig = make_rig(book, strategy=strategy)
    placed = set(rig.tick().execution.made)
    strategy.broken = True

    failed = rig.tick()

    assert failed.outcome == "strategy_error"
    assert failed.plan.makes == ()
    assert set(failed.execution.cancelled) == placed
    assert rig.own() == []

    strategy.broken = False
    repaired = rig.tick()
    assert repaired.outcome == "quote"
    assert rig.quoted() == ladder("100")


def test_foreign_partial_fill_requotes_only_the_filled_offer(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    rig.tick()
    filled = best_ask(rig)
    take(book, "bob", filled.id, 2 * BND)  # 40% of it: outside the 10% size tolerance
    nonce = rig.nonce()

    report = rig.tick()

    assert report.outcome == "quote" and report.execution.errors == []
    assert report.plan.cancels == ((filled.id, SIZE - 2 * BND),)
    assert [(q.side, q.pay_amt) for q in report.plan.makes] == [("ask", SIZE)]
    assert report.plan.makes[0].buy_amt == filled.buy_amt  # same price as the filled one
    assert len(report.plan.keep) == 3
    assert rig.nonce() == nonce + 1
    assert rig.quoted() == ladder("100")


def test_foreign_fill_within_size_tolerance_is_left_alone(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    rig.tick()
    take(book, "bob", best_ask(rig).id, SIZE // 20)  # 5%: inside the 10% size tolerance
    nonce = rig.nonce()

    report = rig.tick()

    assert report.outcome == "noop" and rig.nonce() == nonce


def test_fill_between_reconcile_and_execute_reverts_the_requote_without_raising(
    book: TwoAssetMarket,
) -> None:
    rig = make_rig(book)
    rig.tick()
    bot = rig.bot
    snapshot = bot.view.read(bot.ticks + 1).with_price(Decimal(101))
    plan = reconcile(bot.strategy.decide(snapshot).quotes, snapshot.own_offers, bot.tolerance)
    assert len(plan.cancels) == 4 and len(plan.makes) == 4
    raced = best_ask(rig)
    take(book, "bob", raced.id, BND)  # lands after the plan read the remaining amounts
    nonce = rig.nonce()

    execution = bot.executor.execute(plan, ())

    assert execution.made == [] and execution.cancelled == []
    assert len(execution.errors) == 1 and "UnexpectedRemaining" in execution.errors[0]
    assert rig.nonce() == nonce
    assert {o.id for o in rig.own()} == {o.id for o in snapshot.own_offers}

    rig.move("101")  # the next tick re-reads the chain and gets it right
    healed = rig.tick()
    assert healed.execution.errors == []
    assert rig.quoted() == ladder("101")


# --- observation ----------------------------------------------------------------------------


def test_metrics_count_ticks_and_live_offers_per_side(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(feed_max_age_s=30))
    rig.tick()
    rig.tick()

    values = metric_values(rig.bot.metrics)
    assert values["otcmm_ticks_total", frozenset()] == 2
    assert values["otcmm_live_offers", frozenset({("side", "bid")})] == 2
    assert values["otcmm_live_offers", frozenset({("side", "ask")})] == 2
    assert values["otcmm_decisions_total", frozenset({("outcome", "quote")})] == 1
    assert values["otcmm_decisions_total", frozenset({("outcome", "noop")})] == 1
    assert values["otcmm_rpc_calls_total", frozenset()] > 0

    rig.clock.now += 31
    rig.tick()

    values = metric_values(rig.bot.metrics)
    assert values["otcmm_ticks_total", frozenset()] == 3
    assert values["otcmm_live_offers", frozenset({("side", "bid")})] == 0
    assert values["otcmm_safety_stop", frozenset({("reason", "stale_feed")})] == 1


# --- shutdown -------------------------------------------------------------------------------


def test_shutdown_cancel_all_outlasts_a_node_broken_for_a_whole_retry_budget(
    book: TwoAssetMarket, fault_proxy: FaultProxy
) -> None:
    rig = make_rig(book, rpc_url=fault_proxy.url)
    provider = rig.bot.view.market.w3.provider
    assert isinstance(provider, RetryingHTTPProvider)
    provider.backoff_s = 0.001
    rig.tick()
    assert len(rig.own()) == 4
    fault_proxy.configure(FaultPlan.every("garbage", provider.retries + 1))

    left = cancel_all(rig.bot.view, rig.bot.executor, rig.bot.executor.market.transactor, 30)

    assert left.clean and rig.own() == []
    assert fault_proxy.injected == {"garbage": provider.retries + 1}  # one call ran out
