"""Risk limits trim decisions; safety stops suspend new risk. Pure, no chain."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.tick.limits import RiskLimits
from bots.tick.risk import Conditions, guard
from strategies.api import Decision, Quote, Take
from strategies.testing import BASE, QUOTE, ask_offer, make_snapshot

OK = Conditions(feed_fresh=True, gas_price_wei=0, native_balance_wei=10**18)


def bids(*prices: str, size: int = BASE.one) -> list[Quote]:
    return [Quote.bid(BASE, QUOTE, size, Decimal(p)) for p in prices]


def asks(*prices: str, size: int = BASE.one) -> list[Quote]:
    return [Quote.ask(BASE, QUOTE, size, Decimal(p)) for p in prices]


def test_no_limits_and_good_conditions_pass_the_decision_through() -> None:
    decision = Decision(quotes=(*bids("1990"), *asks("2010")))
    guarded = guard(decision, make_snapshot(), RiskLimits(), OK)
    assert guarded.decision == decision
    assert guarded.stops == {} and guarded.may_send and guarded.may_add_risk


def test_max_open_offers_keeps_the_most_competitive_quotes_on_both_sides() -> None:
    decision = Decision(quotes=(*bids("1990", "1980", "1970"), *asks("2030", "2010", "2020")))
    guarded = guard(decision, make_snapshot(), RiskLimits(max_open_offers=4), OK)
    prices = sorted((q.side, q.price) for q in guarded.decision.quotes)
    assert prices == [("ask", 2010), ("ask", 2020), ("bid", 1980), ("bid", 1990)]
    assert guarded.notes


def test_base_inventory_cap_drops_the_outer_bids_first() -> None:
    snapshot = make_snapshot(base_balance=3 * BASE.one)
    decision = Decision(quotes=tuple(bids("1990", "1970", "1980")))
    guarded = guard(decision, snapshot, RiskLimits(max_base_inventory=5 * BASE.one), OK)
    assert [q.price for q in guarded.decision.quotes] == [1990, 1980]


def test_takes_that_would_breach_the_inventory_cap_are_dropped() -> None:
    offer = ask_offer(7, Decimal("1990"), 5 * BASE.one, owner="0x" + "b" * 40)
    snapshot = make_snapshot(base_balance=3 * BASE.one, asks=(offer,))
    takes = (Take(7, 2 * BASE.one, offer.buy_amt * 2 // 5), Take(7, BASE.one, offer.buy_amt // 5))
    guarded = guard(
        Decision(takes=takes), snapshot, RiskLimits(max_base_inventory=5 * BASE.one), OK
    )
    assert guarded.decision.takes == takes[:1]


def test_stale_feed_gas_cap_low_gas_money_and_unbacked_quotes_are_stops() -> None:
    decision = Decision(quotes=tuple(asks("2010", size=50 * BASE.one)))
    limits = RiskLimits(max_gas_price_wei=10, min_gas_balance_wei=100)
    bad = Conditions(feed_fresh=False, gas_price_wei=11, native_balance_wei=99)
    guarded = guard(decision, make_snapshot(base_balance=BASE.one), limits, bad)
    assert set(guarded.stops) == {"stale_feed", "gas_cap", "gas_balance", "gas_reserve", "balances"}
    assert not guarded.may_send and not guarded.may_add_risk
    assert "need 50000000000000000000" in guarded.stops["balances"]


def test_escrowed_funds_back_quotes_because_a_requote_releases_them() -> None:
    live = ask_offer(1, Decimal("2000"), 10 * BASE.one)
    snapshot = make_snapshot(
        base_balance=0, own_offers=(live,), escrowed={BASE.address: 10 * BASE.one}
    )
    guarded = guard(
        Decision(quotes=tuple(asks("2005", size=10 * BASE.one))), snapshot, RiskLimits(), OK
    )
    assert "balances" not in guarded.stops


prices = st.integers(min_value=1_500, max_value=2_500).map(Decimal)
sizes = st.integers(min_value=1, max_value=20).map(lambda n: n * BASE.one // 4)


@settings(max_examples=200, deadline=None)
@given(
    bid_quotes=st.lists(st.tuples(prices, sizes), max_size=12),
    ask_quotes=st.lists(st.tuples(prices, sizes), max_size=12),
    base_held=st.integers(min_value=0, max_value=10 * BASE.one),
    quote_held=st.integers(min_value=0, max_value=30_000 * QUOTE.one),
    base_cap=st.integers(min_value=1, max_value=15 * BASE.one),
    quote_cap=st.integers(min_value=1, max_value=60_000 * QUOTE.one),
    max_open=st.integers(min_value=0, max_value=10),
)
def test_guarded_quotes_never_exceed_inventory_or_offer_limits(
    bid_quotes: list[tuple[Decimal, int]],
    ask_quotes: list[tuple[Decimal, int]],
    base_held: int,
    quote_held: int,
    base_cap: int,
    quote_cap: int,
    max_open: int,
) -> None:
    quotes = [Quote.bid(BASE, QUOTE, s, p) for p, s in bid_quotes]
    quotes += [Quote.ask(BASE, QUOTE, s, p) for p, s in ask_quotes]
    snapshot = make_snapshot(base_balance=base_held, quote_balance=quote_held)
    limits = RiskLimits(
        max_base_inventory=base_cap, max_quote_inventory=quote_cap, max_open_offers=max_open
    )
    out = guard(Decision(quotes=tuple(quotes)), snapshot, limits, OK).decision.quotes
    assert len(out) <= max_open
    assert set(out) <= set(quotes)
    bought_base = sum(q.buy_amt for q in out if q.side == "bid")
    bought_quote = sum(q.buy_amt for q in out if q.side == "ask")
    assert not any(q.side == "bid" for q in out) or base_held + bought_base <= base_cap
    assert not any(q.side == "ask" for q in out) or quote_held + bought_quote <= quote_cap
