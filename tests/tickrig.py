"""A bot wired in process the way `bots.service.process.build` wires it, for tick tests.

The price feed and the clock belong to the test; everything else is real: a
`RetryingHTTPProvider`, the bot's own `Transactor` with the gas cap, real signed requotes on the
session anvil.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from web3 import Web3

from bots.chain.rpc import RetryingHTTPProvider, connect
from bots.chain.transactor import Transactor
from bots.feeds.sources import FallbackFeed, PriceFeed, PriceReading
from bots.market.client import MarketClient
from bots.market.tokens import load_token
from bots.service.metrics import BotMetrics
from bots.tick.executor import Executor
from bots.tick.limits import RiskLimits
from bots.tick.reconcile import Tolerance
from bots.tick.runner import Bot, TickReport
from bots.tick.snapshot import ChainView
from strategies.api import NO_REFERENCE, Decision, LiveOffer, Quote, Snapshot, Strategy
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from strategies.money import offer_price
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market

FUNDS = 10**12
BND = 100  # base units per whole BND (2 decimals)
SIZE = 5 * BND
SPREAD = FixedSpreadParams(spread_bps=100, levels=2, level_spacing_bps=50, size=SIZE)
GWEI = 10**9


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
    decimals: tuple[int | None, int | None] = (None, None),
) -> Rig:
    """Wire a bot the way `bots.service.process.build` does, with the test's feed and clock
    (and node: `rpc_url`, by default the session's anvil; `decimals` as configured for tokens
    without `decimals()`)."""
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
    base = load_token(market, book.bnd.address, decimals[0])
    quote = load_token(market, book.usd.address, decimals[1])
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


def restore_base_fee(world: World) -> None:
    """Back to the network's base fee: anvil keeps its base fee across evm_revert."""
    set_base_fee(world, world.chain.params.base_fee)


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


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    """The tick tests' market, deployed once per module that imports this fixture: BND (2
    decimals) against USD (6 decimals); alice and bob hold and approved both."""
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
