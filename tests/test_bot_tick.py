"""`Bot.tick()` in process against real contracts on the session anvil: real signed requotes.

The bot is wired as `bots.service.process.build` wires it (a `RetryingHTTPProvider`, its own
`Transactor` with the gas cap, the feed behind a `FallbackFeed`), except that the price feed and
the clock belong to the test. Each test starts from the module's market, and `world` rolls the
chain back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from web3 import Web3

from bots.chain.rpc import RetryingHTTPProvider, connect
from bots.chain.transactor import Transactor
from bots.feeds.sources import FallbackFeed, PriceFeed, PriceReading
from bots.market.client import MAX_UINT, MarketClient
from bots.market.tokens import load_token
from bots.service.metrics import BotMetrics
from bots.service.process import cancel_all
from bots.tick.executor import Executor
from bots.tick.limits import RiskLimits
from bots.tick.reconcile import Tolerance, reconcile
from bots.tick.runner import Bot, TickReport
from bots.tick.snapshot import ChainView
from strategies.api import NO_REFERENCE, Decision, LiveOffer, Quote, Snapshot, Strategy
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from strategies.money import offer_price
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market
from tests.faultproxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.chain

FUNDS = 10**12
BND = 100  # base units per whole BND (2 decimals)
SIZE = 5 * BND
SPREAD = FixedSpreadParams(spread_bps=100, levels=2, level_spacing_bps=50, size=SIZE)
GWEI = 10**9


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    """BND (2 decimals) against USD (6 decimals); alice and bob hold and approved both."""
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, TwoAssetMarket, ("alice", "bob"), FUNDS, usd_decimals=6
        )


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class ManualFeed:
    """A price source whose price and observation time the test sets."""

    name = "manual"

    def __init__(self, price: Decimal, observed_at: float) -> None:
        self.price = price
        self.observed_at = observed_at

    def read(self) -> PriceReading:
        return PriceReading(self.price, self.observed_at, self.name)


class BreakableSpread(FixedSpread):
    """fixed_spread until `broken` is set, then a plug-in that raises."""

    broken = False

    def decide(self, snapshot: Snapshot) -> Decision:
        if self.broken:
            raise RuntimeError("plug-in bug")
        return super().decide(snapshot)


class BlindParams(BaseModel):
    size: int


class BlindQuotes(Strategy[BlindParams]):
    """One bid and one ask 1% around the price, whatever the balances (a careless plug-in)."""

    name: ClassVar[str] = "blind"
    Params: ClassVar[type[BaseModel]] = BlindParams

    def decide(self, snapshot: Snapshot) -> Decision:
        price = snapshot.reference_price
        if price is None:
            return NO_REFERENCE
        size = self.params.size
        base, quote = snapshot.base, snapshot.quote
        return Decision(
            quotes=(
                Quote.bid(base, quote, size, price * Decimal("0.99")),
                Quote.ask(base, quote, size, price * Decimal("1.01")),
            )
        )


@dataclass
class Rig:
    """A bot trading on the module's market for one named account, and handles on its inputs."""

    book: TwoAssetMarket
    bot: Bot
    feed: ManualFeed
    clock: ManualClock
    owner: str

    def tick(self) -> TickReport:
        return self.bot.tick()

    def move(self, price: str) -> None:
        """A fresh reading at `price`."""
        self.feed.price, self.feed.observed_at = Decimal(price), self.clock.now

    def nonce(self) -> int:
        return int(
            self.book.world.w3.eth.get_transaction_count(Web3.to_checksum_address(self.owner))
        )

    def own(self) -> list[LiveOffer]:
        return self.bot.view.market.owner_offers(self.owner)

    def quoted(self) -> list[tuple[str, Fraction, int]]:
        """Own offers as sorted `(side, price, base size)`, prices at their original rate."""
        base, quote = self.bot.view.base, self.bot.view.quote
        out = []
        for o in self.own():
            if o.pay_token == base.address:
                out.append(("ask", offer_price(base, quote, o.pay_amt, o.buy_amt), o.remaining))
            else:
                out.append(("bid", offer_price(base, quote, o.buy_amt, o.pay_amt), o.remaining_buy))
        return sorted(out)


def ladder(reference: str) -> list[tuple[str, Fraction, int]]:
    """What SPREAD quotes around `reference`: half spread 50 bps, then 50 bps more per level."""
    mid = Fraction(reference)
    asks = [("ask", mid * Fraction(10_000 + d, 10_000), SIZE) for d in (50, 100)]
    bids = [("bid", mid * Fraction(10_000 - d, 10_000), SIZE) for d in (50, 100)]
    return sorted(asks + bids)


def make_rig(
    book: TwoAssetMarket,
    who: str = "alice",
    strategy: Strategy[Any] | None = None,
    limits: RiskLimits | None = None,
    *,
    raw_feed: bool = False,
    rpc_url: str | None = None,
) -> Rig:
    """Wire a bot the way `bots.service.process.build` does, with the test's feed and clock
    (and node: `rpc_url`, by default the session's anvil)."""
    limits = limits or RiskLimits()
    metrics = BotMetrics()
    w3 = connect(rpc_url or book.world.chain.url)
    assert isinstance(w3.provider, RetryingHTTPProvider)
    w3.provider.on_request = lambda _method: metrics.rpc_call()
    account = book.world.accounts[who]
    transactor = Transactor(
        w3, account, receipt_timeout_s=30, gas_price_cap_wei=limits.max_gas_price_wei
    )
    market = MarketClient(w3, book.market.address, transactor)
    base, quote = load_token(market, book.bnd.address), load_token(market, book.usd.address)
    clock = ManualClock()
    source = ManualFeed(Decimal(100), clock.now)
    feed: PriceFeed = source
    if not raw_feed:
        feed = FallbackFeed([source], max_age_s=limits.feed_max_age_s, clock=clock)
    bot = Bot(
        view=ChainView(market, base, quote, account.address),
        strategy=strategy or FixedSpread(SPREAD),
        feed=feed,
        executor=Executor(market),
        limits=limits,
        tolerance=Tolerance(price_bps=5, size_bps=1_000),
        metrics=metrics,
        clock=clock,
    )
    return Rig(book, bot, source, clock, account.address)


def set_base_fee(world: World, wei: int) -> None:
    """Mine a block with base fee `wei`; later empty blocks start from it."""
    world.chain.rpc("anvil_setNextBlockBaseFeePerGas", [hex(wei)])
    world.chain.rpc("evm_mine")


def metric_values(metrics: BotMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def take(book: TwoAssetMarket, who: str, offer_id: int, quantity: int) -> None:
    book.world.send(who, book.market.functions.buy(offer_id, quantity))


def best_ask(rig: Rig) -> LiveOffer:
    base = rig.bot.view.base
    asks = [o for o in rig.own() if o.pay_token == base.address]
    return min(asks, key=lambda o: Fraction(o.buy_amt, o.pay_amt))


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
    rig = make_rig(book, limits=RiskLimits(max_gas_price_wei=GWEI))
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

        set_base_fee(world, 0)
        resumed = rig.tick()

        assert resumed.outcome == "quote" and resumed.stops == {}
        assert resumed.execution.errors == []
        assert rig.nonce() == nonce + 1
        assert rig.quoted() == ladder("101")
    finally:
        set_base_fee(world, 0)  # anvil keeps its base fee across evm_revert


def test_base_fee_under_the_cap_but_max_fee_over_it_is_a_stop_not_an_error(
    book: TwoAssetMarket, world: World
) -> None:
    rig = make_rig(book, limits=RiskLimits(max_gas_price_wei=GWEI))
    try:
        set_base_fee(world, 6 * GWEI // 10)

        report = rig.tick()

        assert report.execution.errors == []
    finally:
        set_base_fee(world, 0)


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

    left = cancel_all(cast(Any, SimpleNamespace(bot=rig.bot)), timeout_s=30)

    assert left == 0 and rig.own() == []
    assert fault_proxy.injected == {"garbage": provider.retries + 1}  # one call ran out
