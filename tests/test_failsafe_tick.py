"""Fail-safe ticks: quotes that cannot be built, gas money, balances, foreign transactions, the kill
switch, a slow node and the dead-man's switch never give inventory away (prices: see
`test_failsafe_price`).

Each test drives a real bot tick against real contracts on the session anvil (`tests.tickrig`)
with the failure the issue measured on the old code, and checks the chain afterwards.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

import pytest
from pydantic import BaseModel

from bots.chain.rpc import RetryingHTTPProvider, RpcUnreachable
from bots.chain.transactor import Transactor
from bots.errors import ForeignTransactionError, TxError
from bots.market.client import MAX_UINT
from bots.market.gas import cancel_all_gas
from bots.service.shutdown import cancel_all
from bots.tick.limits import RiskLimits
from bots.tick.pnl import KillSwitchTripped
from strategies.api import NO_REFERENCE, Decision, Quote, Snapshot, Strategy
from tests.chainfixtures import TwoAssetMarket, World
from tests.faultproxy import FaultPlan, FaultProxy
from tests.tickrig import (  # noqa: F401 - fresh_book is a fixture
    BND,
    FUNDS,
    GWEI,
    SIZE,
    Rig,
    asks_and_bids,
    best_ask,
    fresh_book,
    make_rig,
    restore_base_fee,
    set_base_fee,
    take,
)

pytestmark = pytest.mark.chain


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
