"""fixed_spread and avellaneda_stoikov: sides, spread, skew and limits."""

import math
from fractions import Fraction

import pytest

from strategies.api import Decision, Quote
from strategies.avellaneda_stoikov import AvellanedaStoikov, AvellanedaStoikovParams
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from strategies.testing import BASE, QUOTE, make_snapshot

REF = Fraction(2000)


def fixed(**kw: object) -> FixedSpread:
    values: dict[str, object] = {"spread_bps": 100, "size": BASE.one, "levels": 3}
    values.update(kw)
    return FixedSpread(FixedSpreadParams.model_validate(values))


def sides(decision: Decision) -> tuple[list[Quote], list[Quote]]:
    bids = [q for q in decision.quotes if q.side == "bid"]
    asks = [q for q in decision.quotes if q.side == "ask"]
    return bids, asks


def test_fixed_spread_quotes_bids_below_and_asks_above_reference() -> None:
    bids, asks = sides(fixed().decide(make_snapshot()))
    assert len(bids) == len(asks) == 3
    assert all(q.price < REF for q in bids)
    assert all(q.price > REF for q in asks)
    assert [q.price for q in bids] == sorted((q.price for q in bids), reverse=True)


def test_fixed_spread_honours_spread() -> None:
    bids, asks = sides(fixed().decide(make_snapshot()))
    best_bid, best_ask = max(q.price for q in bids), min(q.price for q in asks)
    assert best_ask - best_bid >= REF * Fraction(100, 10_000)
    assert best_bid <= REF * Fraction(9950, 10_000) and best_ask >= REF * Fraction(10050, 10_000)


def test_fixed_spread_skews_prices_down_when_long_base() -> None:
    strategy = fixed(target_base_inventory=5 * BASE.one, skew_range=5 * BASE.one, max_skew_bps=40)
    long_bids, long_asks = sides(strategy.decide(make_snapshot(base_balance=10 * BASE.one)))
    short_bids, short_asks = sides(strategy.decide(make_snapshot(base_balance=3 * BASE.one)))
    assert long_asks[0].price < short_asks[0].price
    assert long_bids[0].price < short_bids[0].price


def test_fixed_spread_skew_is_bounded() -> None:
    strategy = fixed(target_base_inventory=0, skew_range=1, max_skew_bps=40)
    assert strategy.skew(10**30) == Fraction(40, 10_000)


def test_fixed_spread_respects_balances_and_limits() -> None:
    snap = make_snapshot(base_balance=BASE.one * 3 // 2, quote_balance=2500 * QUOTE.one)
    bids, asks = sides(fixed().decide(snap))
    assert sum(q.pay_amt for q in asks) == BASE.one * 3 // 2
    assert sum(q.pay_amt for q in bids) <= 2500 * QUOTE.one
    capped = fixed(max_base_inventory=11 * BASE.one, max_quote_exposure=1000 * QUOTE.one)
    bids, _ = sides(capped.decide(make_snapshot()))
    assert sum(q.buy_amt for q in bids) <= BASE.one
    assert sum(q.pay_amt for q in bids) <= 1000 * QUOTE.one


def test_fixed_spread_counts_escrowed_balance_as_available() -> None:
    snap = make_snapshot(base_balance=0, escrowed={BASE.address: 2 * BASE.one})
    _, asks = sides(fixed().decide(snap))
    assert sum(q.pay_amt for q in asks) == 2 * BASE.one


def test_fixed_spread_rejects_spread_pushing_bids_below_zero() -> None:
    with pytest.raises(ValueError, match="price <= 0"):
        FixedSpreadParams(spread_bps=20_000, size=1)


def avellaneda(**kw: object) -> AvellanedaStoikov:
    values: dict[str, object] = {
        "gamma": 0.1,
        "sigma": 0.05,
        "k": 1.5,
        "horizon_seconds": 3600,
        "size": BASE.one,
        "target_base_inventory": 10 * BASE.one,
    }
    values.update(kw)
    return AvellanedaStoikov(AvellanedaStoikovParams.model_validate(values))


def test_avellaneda_stoikov_centres_on_reference_at_target_inventory() -> None:
    bids, asks = sides(avellaneda().decide(make_snapshot()))
    assert bids[0].price < REF < asks[0].price
    mid = (bids[0].price + asks[0].price) / 2
    assert abs(mid - REF) < Fraction(1, 1000)


def test_avellaneda_stoikov_reservation_moves_against_inventory() -> None:
    strategy = avellaneda()
    long_bids, long_asks = sides(strategy.decide(make_snapshot(base_balance=12 * BASE.one)))
    short_bids, short_asks = sides(strategy.decide(make_snapshot(base_balance=8 * BASE.one)))
    assert long_asks[0].price < short_asks[0].price
    assert long_bids[0].price < short_bids[0].price


def test_avellaneda_stoikov_spread_matches_formula() -> None:
    strategy = avellaneda()
    reservation, delta = strategy.quotes(2000.0, 0.0, 1_700_000_000)
    tau = 3600 - 1_700_000_000 % 3600
    expected = 0.1 * 0.05**2 * tau + 20 * math.log(1 + 0.1 / 1.5)
    assert reservation == 2000.0
    assert delta == pytest.approx(expected)


def test_avellaneda_stoikov_stops_bidding_at_max_inventory() -> None:
    strategy = avellaneda(max_base_inventory=10 * BASE.one)
    bids, asks = sides(strategy.decide(make_snapshot()))
    assert bids == [] and len(asks) == 1


def test_spread_strategies_pull_quotes_without_reference_price() -> None:
    for strategy in (fixed(), avellaneda()):
        decision = strategy.decide(make_snapshot(reference_price=None))
        assert decision.quotes == () and decision.takes == () and decision.reason


def test_fixed_spread_rejects_skew_that_would_cross_the_reference() -> None:
    with pytest.raises(ValueError, match="max_skew_bps must be below half"):
        FixedSpreadParams(spread_bps=100, size=1, max_skew_bps=50)
