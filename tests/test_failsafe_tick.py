"""Fail-safe ticks: absurd prices, jumps, clocks, gas money and balances never give inventory away.

Each test drives a real bot tick against real contracts on the session anvil (`tests.tickrig`)
with the failure the issue measured on the old code, and checks the chain afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

import pytest
from pydantic import BaseModel

from bots.chain.rpc import RetryingHTTPProvider, RpcUnreachable
from bots.chain.transactor import Transactor
from bots.errors import ForeignTransactionError, TxError
from bots.feeds.sources import PriceReading
from bots.market.client import MAX_UINT
from bots.market.gas import cancel_all_gas
from bots.service.shutdown import Leftovers, cancel_all
from bots.tick.limits import RiskLimits
from bots.tick.pnl import KillSwitchTripped
from strategies.api import NO_REFERENCE, Decision, Quote, Snapshot, Strategy
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from strategies.money import offer_price
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market
from tests.faultproxy import FaultPlan, FaultProxy
from tests.tickrig import (
    BND,
    FUNDS,
    GWEI,
    SIZE,
    Rig,
    best_ask,
    make_rig,
    metric_values,
    restore_base_fee,
    set_base_fee,
    take,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    """BND (2 decimals) against USD (6 decimals); alice and bob hold and approved both."""
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, TwoAssetMarket, ("alice", "bob"), FUNDS, usd_decimals=6
        )


def asks_and_bids(rig: Rig) -> tuple[list[Fraction], list[Fraction]]:
    """Prices of the rig's own asks and bids (quote per whole base, at each offer's rate)."""
    base, quote = rig.bot.view.base, rig.bot.view.quote
    asks, bids = [], []
    for offer in rig.own():
        if offer.pay_token == base.address:
            asks.append(offer_price(base, quote, offer.pay_amt, offer.buy_amt))
        else:
            bids.append(offer_price(base, quote, offer.buy_amt, offer.pay_amt))
    return asks, bids


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


def test_a_reading_from_the_future_is_stale(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(max_feed_skew_s=5))
    rig.tick()
    rig.feed.observed_at = rig.clock.now + 3600  # a source clock an hour ahead

    report = rig.tick()

    assert "stale_feed" in report.stops
    assert rig.own() == []


# --- a strategy that cannot build its quotes ------------------------------------------------


class ExplodingParams(BaseModel):
    size: int


class UnencodableQuotes(Strategy[ExplodingParams]):
    """Quotes whose amounts are no integers once `broken` (a careless plug-in's arithmetic)."""

    name: ClassVar[str] = "unencodable"
    Params: ClassVar[type[BaseModel]] = ExplodingParams
    broken = False

    def decide(self, snapshot: Snapshot) -> Decision:
        price = snapshot.reference_price
        if price is None:
            return NO_REFERENCE
        ask = Quote.ask(snapshot.base, snapshot.quote, self.params.size, price * Decimal("1.01"))
        if self.broken:
            object.__setattr__(ask, "buy_amt", Decimal("10100.5"))  # not base units
        return Decision(quotes=(ask,))


def test_a_quote_that_cannot_be_built_pulls_the_quotes(book: TwoAssetMarket) -> None:
    strategy = UnencodableQuotes(ExplodingParams(size=SIZE))
    rig = make_rig(book, strategy=strategy, limits=RiskLimits(post_only=False))
    rig.tick()
    assert len(rig.own()) == 1
    strategy.broken = True
    rig.move("101")

    report = rig.tick()

    assert report.outcome == "quote_error"
    assert rig.own() == []


# --- balances and gas money -----------------------------------------------------------------


class OneAskOneMore(Strategy[ExplodingParams]):
    """An ask of `size`, then a second one of `size` once the first is live."""

    name: ClassVar[str] = "two_asks"
    Params: ClassVar[type[BaseModel]] = ExplodingParams

    def decide(self, snapshot: Snapshot) -> Decision:
        price = snapshot.reference_price
        if price is None:
            return NO_REFERENCE
        base, quote, size = snapshot.base, snapshot.quote, self.params.size
        first = Quote.ask(base, quote, size, price * Decimal("1.01"))
        if not snapshot.own_offers:
            return Decision(quotes=(first,))
        second = Quote.ask(base, quote, 12, price * Decimal("1.02"))
        return Decision(quotes=(Quote.ask(base, quote, size - 9, price * Decimal("1.01")), second))


def test_a_kept_offer_keeps_its_escrow_so_new_makes_fit_the_free_balance(
    book: TwoAssetMarket, world: World
) -> None:
    world.fund(book.usd, {"carol": FUNDS}, book.market)
    world.fund(book.bnd, {"carol": 107}, book.market)  # 100 escrowed below, 7 left free
    rig = make_rig(book, "carol", OneAskOneMore(ExplodingParams(size=100)))
    rig.tick()
    nonce = rig.nonce()

    # wants the live ask (100, kept: 91 is within the size tolerance) plus a new ask of 12:
    # 91 + 12 <= 107 held, but only 7 are free while the kept offer still escrows 100
    report = rig.tick()

    assert report.execution.errors == []  # no ERC20InsufficientBalance revert
    assert report.plan.makes == () and rig.nonce() == nonce


def test_low_gas_money_keeps_enough_to_cancel_everything(
    book: TwoAssetMarket, world: World
) -> None:
    world.fund(book.usd, {"carol": FUNDS}, book.market)
    world.fund(book.bnd, {"carol": FUNDS}, book.market)
    carol = world.addr("carol")
    drain = world.w3.eth.get_balance(carol) - 4 * 10**15  # leave her 0.004 ETH
    world.tx["carol"].send_value(world.addr("deployer"), drain)
    rig = make_rig(book, "carol")
    try:
        for step in range(30):
            set_base_fee(world, GWEI)
            rig.move(str(100 + step))  # a new price every tick: a requote every tick
            report = rig.tick()
            assert report.execution.errors == [], report.execution.errors
            if "gas_reserve" in report.stops:
                break
        assert "gas_reserve" in report.stops
        set_base_fee(world, GWEI)
        reserve = cancel_all_gas(len(rig.own())) * 2 * GWEI
        assert world.w3.eth.get_balance(carol) >= reserve

        left = cancel_all(rig.bot.view, rig.bot.executor, rig.bot.executor.market.transactor, 30)

        assert left.clean and rig.own() == []
    finally:
        restore_base_fee(world)


def test_contract_calls_get_a_gas_margin_over_the_estimate(book: TwoAssetMarket) -> None:
    rig = make_rig(book)
    market = rig.bot.executor.market
    call = book.bnd.functions.approve(book.market.address, 12345)
    estimate = book.world.w3.eth.estimate_gas(
        {"from": rig.owner, "to": book.bnd.address, "data": call._encode_transaction_data()}
    )

    receipt = market.transactor.transact(call)

    sent = book.world.w3.eth.get_transaction(receipt["transactionHash"])
    assert sent["gas"] >= estimate * 5 // 4 > estimate


# --- the account and the kill switch --------------------------------------------------------


def test_a_transaction_this_bot_did_not_sign_stops_it(book: TwoAssetMarket, world: World) -> None:
    rig = make_rig(book)
    rig.bot.executor.market.transactor.nonces.strict = True
    rig.tick()
    other = Transactor(world.w3, world.accounts["alice"])  # same key, another process
    other.transact(book.bnd.functions.approve(book.market.address, MAX_UINT))

    with pytest.raises(ForeignTransactionError, match="another process or wallet"):
        rig.tick()


def test_the_kill_switch_trips_when_the_loss_passes_the_limit(book: TwoAssetMarket) -> None:
    limits = RiskLimits(max_loss=Decimal(100), max_price_move_bps=5_000)
    rig = make_rig(book, limits=limits)
    rig.tick()
    bids = [o for o in rig.own() if o.pay_token == book.usd.address]
    best = max(bids, key=lambda o: Fraction(o.pay_amt, o.buy_amt))
    take(book, "bob", best.id, best.remaining)  # alice buys 5 BND at 99.50
    rig.move("90")
    rig.tick()  # 5 x (90 - 99.5) = -47.5: within the limit

    rig.move("70")  # 5 x (70 - 99.5) = -147.5
    with pytest.raises(KillSwitchTripped, match="below -max_loss 100"):
        rig.tick()


# --- a slow node ----------------------------------------------------------------------------


def test_a_slow_node_costs_the_tick_its_budget_not_more(
    book: TwoAssetMarket, fault_proxy: FaultProxy
) -> None:
    """Every answer comes 2 s late; a tick with a 0.5 s budget gives up inside that budget
    (it does not wait out the 10 s per-request timeout and five retries)."""
    rig = make_rig(book, rpc_url=fault_proxy.url)
    provider = rig.bot.view.market.w3.provider
    assert isinstance(provider, RetryingHTTPProvider) and provider.timeout_s == 10
    fault_proxy.configure(FaultPlan(rates={"delay": 1.0}, delay_s=2.0))
    before = sum(fault_proxy.received.values())

    with provider.budget(0.5), pytest.raises(RpcUnreachable) as raised:
        rig.tick()

    assert "no answer within 0.5s" in str(raised.value)
    assert "no retry fits in the tick's time budget" in str(raised.value)
    assert sum(fault_proxy.received.values()) == before + 1  # one attempt, not six


# --- the dead-man's switch ------------------------------------------------------------------


def advance(world: World, seconds: int) -> int:
    """Move the chain's clock forward and mine a block; its timestamp."""
    world.chain.rpc("evm_increaseTime", [seconds])
    world.chain.rpc("evm_mine")
    return int(world.w3.eth.get_block("latest")["timestamp"])


def test_a_bots_offers_are_guarded_by_the_switch_for_offer_ttl_s(book: TwoAssetMarket) -> None:
    rig = make_rig(book, limits=RiskLimits(offer_ttl_s=300))

    report = rig.tick()

    made_at = int(book.world.w3.eth.get_block("latest")["timestamp"])
    offers = rig.own()
    assert len(offers) == 4 and all(o.guarded for o in offers)
    assert report.execution.refreshed == offers[0].deadline
    assert made_at <= offers[0].deadline <= made_at + 300


def test_offers_of_a_bot_that_stopped_ticking_cannot_be_taken(
    book: TwoAssetMarket, world: World
) -> None:
    rig = make_rig(book, limits=RiskLimits(offer_ttl_s=300))
    rig.tick()
    ask = best_ask(rig)
    advance(world, 301)  # the bot is dead: nobody refreshes its switch

    with pytest.raises(TxError, match="OfferExpired"):
        take(book, "bob", ask.id, BND)
    assert rig.own() and not rig.own()[0].takable_at(advance(world, 1))


def test_the_switch_is_refreshed_at_half_life_without_a_requote(
    book: TwoAssetMarket, world: World
) -> None:
    rig = make_rig(book, limits=RiskLimits(offer_ttl_s=300))
    rig.tick()
    before, nonce = rig.own(), rig.nonce()
    now = advance(world, 151)
    rig.clock.now += 151
    rig.move("100")

    report = rig.tick()

    assert report.outcome == "noop" and report.plan.is_empty
    assert rig.nonce() == nonce + 1  # one setDeadline, no requote
    after = rig.own()
    assert [o.id for o in after] == [o.id for o in before]
    assert after[0].deadline >= now + 299


def test_offers_made_without_the_switch_are_replaced_by_guarded_ones(
    book: TwoAssetMarket,
) -> None:
    rig = make_rig(book, limits=RiskLimits(offer_ttl_s=0))
    rig.tick()
    assert not any(o.guarded for o in rig.own())
    guarded = make_rig(book, limits=RiskLimits(offer_ttl_s=300))

    report = guarded.tick()

    assert len(report.plan.cancels) == 4 and len(report.plan.makes) == 4
    assert len(guarded.own()) == 4 and all(o.guarded for o in guarded.own())


def test_in_a_safety_stop_the_switch_is_left_to_run_out(book: TwoAssetMarket, world: World) -> None:
    # the network's 1 wei base fee and the node's 1 gwei tip stay under a 2 gwei cap
    rig = make_rig(book, limits=RiskLimits(offer_ttl_s=300, max_gas_price_wei=2 * GWEI))
    rig.tick()
    nonce = rig.nonce()
    try:
        set_base_fee(world, 5 * GWEI)  # nothing may be sent
        advance(world, 200)
        rig.clock.now += 200
        rig.move("100")

        report = rig.tick()

        assert "gas_cap" in report.stops and report.execution.refreshed is None
        assert rig.nonce() == nonce
    finally:
        restore_base_fee(world)


# --- shutdown under a gas-fee spike ---------------------------------------------------------


def test_shutdown_halves_cancel_batches_when_a_fee_spike_leaves_too_little_gas_money(
    book: TwoAssetMarket, world: World
) -> None:
    """Eight offers, then the base fee jumps: the gas money covers a cancel or two at the new
    max fee, not one transaction cancelling all eight. Every cancel used to fail with
    "insufficient funds" until the shutdown gave up; now batches halve until they fit."""
    world.fund(book.usd, {"dave": FUNDS}, book.market)
    world.fund(book.bnd, {"dave": FUNDS}, book.market)
    wide = FixedSpreadParams(spread_bps=100, levels=4, level_spacing_bps=50, size=SIZE)
    rig = make_rig(book, "dave", strategy=FixedSpread(wide))
    rig.tick()
    assert len(rig.own()) == 8
    spike = 200 * GWEI
    dave = world.addr("dave")
    keep = 8 * 60_000 * spike  # ~8 single cancels at the spiked fee, not a batch's max fee
    world.tx["dave"].send_value(world.addr("deployer"), world.w3.eth.get_balance(dave) - keep)
    try:
        set_base_fee(world, spike)
        executor = rig.bot.executor
        transactor = executor.market.transactor
        assert "insufficient funds" in " ".join(executor.cancel_all(rig.own()).errors).lower()

        left = cancel_all(rig.bot.view, executor, transactor, 20, sleep=lambda _s: None)

        assert left.clean and rig.own() == []
    finally:
        restore_base_fee(world)


def test_a_shutdown_against_a_hanging_node_ends_by_its_timeout_and_names_the_last_offers(
    book: TwoAssetMarket, fault_proxy: FaultProxy
) -> None:
    """The node stops answering (every answer 30 s late, past the 10 s per-attempt timeout).
    Every RPC call of the shutdown used to get 10 s and five retries however short
    shutdown_timeout_s was; now the shutdown's budget ends them, and since the bot never read
    its offers again it names the ones its last tick left live."""
    rig = make_rig(book, rpc_url=fault_proxy.url)
    rig.tick()
    quoted = sorted(offer.id for offer in rig.own())
    assert len(quoted) == 4
    fault_proxy.configure(FaultPlan(rates={"delay": 1.0}, delay_s=30.0))
    bot = rig.bot
    done: list[Leftovers] = []
    worker = threading.Thread(
        target=lambda: done.append(
            cancel_all(
                bot.view,
                bot.executor,
                bot.executor.market.transactor,
                1.0,
                last_known=bot.last_offer_ids,
            )
        )
    )

    worker.start()
    worker.join(timeout=20)  # generous: the bound is 1 s; unbounded it takes minutes

    assert not worker.is_alive(), "the shutdown outlived its timeout"
    (left,) = done
    assert left.offers is None and list(left.last_seen) == quoted
    assert all(hex(offer_id) in left.describe() for offer_id in quoted)


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
