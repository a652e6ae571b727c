"""Properties every built-in strategy must keep, on arbitrary snapshots."""

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.api import Snapshot, Strategy
from strategies.registry import build_strategy
from strategies.testing import BASE, ME, QUOTE, ask_offer, bid_offer, make_snapshot

OTHER = "0x00000000000000000000000000000000000000b2"
FLEET = "0x00000000000000000000000000000000000000f1"

one_band = {"min_margin": "0.005", "avg_margin": "0.01", "max_margin": "0.02"}
CONFIGS: dict[str, dict[str, Any]] = {
    "fixed_spread": {
        "spread_bps": 80,
        "levels": 4,
        "size": BASE.one,
        "target_base_inventory": 5 * BASE.one,
        "skew_range": 5 * BASE.one,
        "max_skew_bps": 30,
        "max_base_inventory": 20 * BASE.one,
        "max_quote_exposure": 30_000 * QUOTE.one,
    },
    "avellaneda_stoikov": {
        "gamma": 0.1,
        "sigma": 0.05,
        "k": 1.5,
        "horizon_seconds": 600,
        "size": BASE.one,
        "target_base_inventory": 5 * BASE.one,
        "max_base_inventory": 20 * BASE.one,
    },
    "bands": {
        "sell_bands": [
            {**one_band, "min_amount": 1, "avg_amount": BASE.one, "max_amount": 3 * BASE.one}
        ],
        "buy_bands": [{**one_band, "min_amount": 1, "avg_amount": 10**9, "max_amount": 10**10}],
    },
    "taker": {"edge_bps": 10, "budget_quote": 5000 * QUOTE.one, "budget_base": 2 * BASE.one},
    "noise": {"seed": 3, "probability": 0.7},
}
STRATEGIES: list[Strategy[Any]] = [build_strategy(n, p) for n, p in CONFIGS.items()]

owners = st.sampled_from([ME, OTHER, FLEET])
offer_prices = st.decimals(min_value=1500, max_value=2500, places=2)
offer_sizes = st.integers(min_value=1, max_value=5 * BASE.one)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    asks = [
        ask_offer(i, draw(offer_prices), draw(offer_sizes), owner=draw(owners))
        for i in range(draw(st.integers(0, 4)))
    ]
    bids = [
        bid_offer(100 + i, draw(offer_prices), draw(offer_sizes), owner=draw(owners))
        for i in range(draw(st.integers(0, 4)))
    ]
    own = tuple(o for o in asks + bids if o.owner == ME)
    escrowed: dict[str, int] = defaultdict(int)
    for offer in own:
        escrowed[offer.pay_token] += offer.remaining
    return make_snapshot(
        reference_price=draw(st.none() | st.decimals(min_value=1, max_value=10**6, places=4)),
        base_balance=draw(st.integers(0, 50 * BASE.one)),
        quote_balance=draw(st.integers(0, 10**11)),
        own_offers=own,
        asks=tuple(asks),
        bids=tuple(bids),
        escrowed=dict(escrowed),
        fleet=frozenset({FLEET}),
        tick=draw(st.integers(0, 10**6)),
        timestamp=draw(st.integers(0, 2 * 10**9)),
    )


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_decide_is_deterministic(snap: Snapshot) -> None:
    for strategy in STRATEGIES:
        assert strategy.decide(snap) == strategy.decide(snap)


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_quotes_fit_balances_and_are_positive_ints(snap: Snapshot) -> None:
    for strategy in STRATEGIES:
        quotes = strategy.decide(snap).quotes
        for q in quotes:
            assert type(q.pay_amt) is int and type(q.buy_amt) is int
            assert q.pay_amt > 0 and q.buy_amt > 0
        assert sum(q.pay_amt for q in quotes if q.side == "ask") <= snap.available(BASE)
        assert sum(q.pay_amt for q in quotes if q.side == "bid") <= snap.available(QUOTE)


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_quotes_sit_on_the_right_side_of_reference(snap: Snapshot) -> None:
    for strategy in STRATEGIES[:2]:
        for q in strategy.decide(snap).quotes:
            assert snap.reference_price is not None
            if q.side == "ask":
                assert q.price > snap.reference_price
            else:
                assert q.price < snap.reference_price


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_takes_fit_free_balance_and_skip_own_and_fleet(snap: Snapshot) -> None:
    offers = {o.id: o for o in snap.asks + snap.bids}
    for strategy in STRATEGIES:
        spent: dict[str, int] = defaultdict(int)
        for take in strategy.decide(snap).takes:
            offer = offers[take.offer_id]
            assert offer.owner not in (ME, FLEET)
            assert 0 < take.quantity <= offer.remaining
            assert take.expected_spend == -(-take.quantity * offer.buy_amt // offer.pay_amt)
            spent[offer.buy_token] += take.expected_spend
        assert all(spent[t] <= snap.balances.get(t, 0) for t in spent)


def test_reference_price_none_means_no_quotes_for_every_strategy() -> None:
    snap = make_snapshot(reference_price=None)
    assert all(s.decide(snap).quotes == () for s in STRATEGIES)
