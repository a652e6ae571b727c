"""Quotes at the edges (issue 12, items 6-9): dust, rounding when decimals differ, the exact
cost of a take, and Avellaneda-Stoikov parameters that always give finite quotes."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.api import DustQuote, LiveOffer, Quote, Snapshot, StrategyConfigError
from strategies.money import PRICE_TOLERANCE, Token, fit_ask, fit_bid, offer_price, take_cost
from strategies.registry import build_strategy
from strategies.testing import make_snapshot

OTHER = "0x00000000000000000000000000000000000000b2"
TOL = PRICE_TOLERANCE


def pair(base_decimals: int, quote_decimals: int) -> tuple[Token, Token]:
    return Token("0xb", "BASE", base_decimals), Token("0xq", "QUOTE", quote_decimals)


def snapshot(
    base: Token, quote: Token, price: Decimal | None, b: int, q: int, **kw: Any
) -> Snapshot:
    return make_snapshot(
        reference_price=price,
        base=base,
        quote=quote,
        balances={base.address: b, quote.address: q},
        **kw,
    )


def within(q: Quote, intended: Fraction) -> bool:
    """On the maker's side of ``intended`` and at most the tolerance away from it."""
    if q.side == "ask":
        return intended <= q.price <= intended * (1 + TOL)
    return intended * (1 - TOL) <= q.price <= intended


def spread_quotes(
    name: str, params: dict[str, Any], snap: Snapshot
) -> tuple[list[Quote], list[Quote]]:
    quotes = build_strategy(name, params).decide(snap).quotes
    return [q for q in quotes if q.side == "bid"], [q for q in quotes if q.side == "ask"]


# ---------------------------------------------------------------- item 6: dust


BND, EURT = pair(2, 2)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fixed_spread", {"spread_bps": 40, "size": 100_000, "levels": 2}),
        (
            "avellaneda_stoikov",
            {"gamma": 0.1, "sigma": 0.02, "k": 4, "horizon_seconds": 600, "size": 100_000},
        ),
    ],
)
def test_a_leftover_below_the_minimum_size_is_not_quoted(name: str, params: dict[str, Any]) -> None:
    snap = snapshot(BND, EURT, Decimal("100.37"), 1, 0)
    assert spread_quotes(name, params, snap) == ([], [])  # main posted an ask of 0.01 BND
    snap = snapshot(BND, EURT, Decimal("100.37"), 100_000 + 9_999, 0)
    _, asks = spread_quotes(name, params, snap)
    assert [a.pay_amt for a in asks] == [100_000]  # the 9_999 left over is under a tenth
    snap = snapshot(BND, EURT, Decimal("100.37"), 0, 10**6)  # 10 000 EURT buy ~99.6 BND
    assert spread_quotes(name, {**params, "min_size": 100_000}, snap) == ([], [])


@pytest.mark.parametrize("name", ["fixed_spread", "avellaneda_stoikov"])
def test_min_size_above_size_is_refused(name: str) -> None:
    params: dict[str, Any] = {"size": 10, "min_size": 11}
    params |= {"spread_bps": 40} if name == "fixed_spread" else {}
    params |= {} if name == "fixed_spread" else {"gamma": 0.1, "sigma": 0.1, "k": 1}
    params |= {} if name == "fixed_spread" else {"horizon_seconds": 60}
    with pytest.raises(StrategyConfigError, match="min_size must not exceed size"):
        build_strategy(name, params)


# ---------------------------------------------------------------- item 7: rounding


WEI18, UNIT0 = pair(18, 0)


def test_a_tiny_ask_is_not_posted_at_ten_times_the_price() -> None:
    snap = snapshot(WEI18, UNIT0, Decimal("100.37"), 10**20, 10**6)
    bids, asks = spread_quotes("fixed_spread", {"spread_bps": 40, "size": 10**15}, snap)
    assert asks == [] and bids == []  # main: an ask of 0.001 base for 1 unit, price 1000


def test_every_level_keeps_its_own_price_when_quote_units_are_coarse() -> None:
    params = {"spread_bps": 40, "size": 10**18, "levels": 3, "level_spacing_bps": 10}
    snap = snapshot(WEI18, UNIT0, Decimal("100.37"), 10 * 10**18, 10**6)
    bids, asks = spread_quotes("fixed_spread", params, snap)
    ref = Fraction("100.37")
    steps = [Fraction(20 + 10 * i, 10_000) for i in range(3)]
    assert [within(a, ref * (1 + s)) for a, s in zip(asks, steps, strict=True)] == [True] * 3
    assert [within(b, ref * (1 - s)) for b, s in zip(bids, steps, strict=True)] == [True] * 3
    assert len({b.price for b in bids}) == 3 and len({a.price for a in asks}) == 3  # main: 2, 1


def test_levels_at_one_price_are_one_offer() -> None:
    params = {"spread_bps": 40, "size": 10**18, "levels": 3, "level_spacing_bps": 0}
    snap = snapshot(WEI18, UNIT0, Decimal("100.37"), 10 * 10**18, 10**6)
    bids, asks = spread_quotes("fixed_spread", params, snap)
    assert len(asks) == 1 and len(bids) == 1
    assert asks[0].pay_amt > 2 * 10**18 and bids[0].buy_amt > 2 * 10**18


def test_quote_ask_and_bid_refuse_what_cannot_be_priced_and_keep_the_old_rounding_on_request() -> (
    None
):
    with pytest.raises(DustQuote, match="cannot be priced within 1 bp"):
        Quote.ask(WEI18, UNIT0, 10**15, Decimal("100.37"))
    with pytest.raises(DustQuote):
        Quote.bid(WEI18, UNIT0, 10**15, Decimal("100.37"))
    legacy = Quote.ask(WEI18, UNIT0, 10**15, Decimal("100.37"), tolerance=None)
    assert (legacy.pay_amt, legacy.buy_amt) == (10**15, 1)
    resized = Quote.ask(WEI18, UNIT0, 10**16, Decimal("100.37"))  # 2 units would be 99% off
    assert resized.buy_amt == 1 and resized.pay_amt < 10**16 and within(resized, Fraction("100.37"))


decimals = st.integers(min_value=0, max_value=18)
# mantissa x 10^exponent: prices from 10^-12 to about 10^18, with up to 6 significant digits
prices = st.builds(
    lambda m, e: Decimal(m).scaleb(e),
    st.integers(min_value=1, max_value=999_999),
    st.integers(min_value=-17, max_value=12),
)
any_size = st.one_of(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=1, max_value=2**96 - 1),
    st.builds(lambda m, e: m * 10**e, st.integers(1, 999), st.integers(0, 25)),
)


@settings(max_examples=600, deadline=None)
@given(decimals, decimals, any_size, prices)
def test_fitted_quotes_are_within_the_tolerance_on_the_makers_side_or_none(
    db: int, dq: int, size: int, price: Decimal
) -> None:
    base, quote = pair(db, dq)
    intended = Fraction(price)
    ask = fit_ask(base, quote, size, price)
    if ask is not None:
        pay, buy = ask
        assert 0 < pay <= size and buy > 0
        assert intended <= offer_price(base, quote, pay, buy) <= intended * (1 + TOL)
    bid = fit_bid(base, quote, size, price)
    if bid is not None:
        pay, buy = bid
        assert 0 < buy <= size and pay > 0
        assert intended * (1 - TOL) <= offer_price(base, quote, buy, pay) <= intended
    # A size whose plain rounding is already close enough is never cut.
    value = Fraction(size) * intended * quote.one / base.one
    if value >= 1 / TOL:
        assert ask == (size, -(-value.numerator // value.denominator))
        assert bid == (value.numerator // value.denominator, size)


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Token, Token, Decimal, dict[str, int], int, int]:
    """A fixed_spread set-up; half the time its size is worth 1 to 10^15 quote units, so the
    ladders are often non-empty (sizes worth a fraction of a quote unit are dust, rightly)."""
    base, quote = pair(draw(decimals), draw(decimals))
    price = draw(prices)
    size = draw(any_size)
    if draw(st.booleans()):
        worth = Fraction(draw(st.integers(1, 10**15))) * base.one / (Fraction(price) * quote.one)
        size = max(1, -(-worth.numerator // worth.denominator))
        size = min(size, 2**96 - 1)  # a size no offer could hold is refused by the params
    levels = draw(st.integers(1, 6))
    params = {
        "spread_bps": draw(st.integers(1, 400)),
        "size": size,
        "levels": levels,
        "level_spacing_bps": draw(st.integers(0, 40)),
    }
    value = Fraction(size) * Fraction(price) * quote.one / base.one
    eighths = st.integers(0, 16)  # of all levels' worth: none, some of them, all, twice that
    base_held = draw(eighths.map(lambda e: levels * size * e // 8) | st.integers(0, 2**100))
    quote_held = draw(eighths.map(lambda e: int(levels * value * e / 8)) | st.integers(0, 2**100))
    return base, quote, price, params, base_held, quote_held


@settings(max_examples=400, deadline=None)
@given(ladders())
def test_fixed_spread_quotes_sit_at_their_level_prices_whatever_the_decimals(
    ladder: tuple[Token, Token, Decimal, dict[str, int], int, int],
) -> None:
    base, quote, price, params, base_held, quote_held = ladder
    snap = snapshot(base, quote, price, base_held, quote_held)
    bids, asks = spread_quotes("fixed_spread", params, snap)
    ref, spread, spacing = Fraction(price), params["spread_bps"], params["level_spacing_bps"]
    levels = params["levels"]
    steps = [Fraction(spread, 20_000) + Fraction(spacing, 10_000) * i for i in range(levels)]
    steps = [
        Fraction(spread, 20_000) + Fraction(spacing * i, 10_000) for i in range(params["levels"])
    ]
    for a in asks:
        assert any(within(a, ref * (1 + s)) for s in steps), (a, a.price)
    for b in bids:
        assert any(within(b, ref * (1 - s)) for s in steps), (b, b.price)
    assert len({a.price for a in asks}) == len(asks) and len({b.price for b in bids}) == len(bids)
    assert sum(a.pay_amt for a in asks) <= base_held
    assert sum(b.pay_amt for b in bids) <= quote_held


# ---------------------------------------------------------------- item 8: taker cost


def ask_of(pay: int, buy: int, remaining: int, base: Token, quote: Token) -> LiveOffer:
    cost = -(-remaining * buy // pay)
    return LiveOffer(7, OTHER, base.address, quote.address, pay, buy, remaining, cost)


def test_a_small_fill_is_not_taken_when_its_rounded_cost_loses_the_edge() -> None:
    # 99 units for one whole base token: 1% under the reference, but 0.001 token costs 1 unit
    offer = ask_of(10**18, 99, 10**15, WEI18, UNIT0)
    snap = snapshot(WEI18, UNIT0, Decimal(100), 0, 10**6, asks=(offer,))
    taker = build_strategy("taker", {"edge_bps": 10, "budget_quote": 10**6, "budget_base": 0})
    assert taker.decide(snap).takes == ()  # main took it: price 1000 for a 1% edge
    whole = ask_of(10**18, 99, 10**18 + 10**15, WEI18, UNIT0)
    snap = snapshot(WEI18, UNIT0, Decimal(100), 0, 10**6, asks=(whole,))
    (take,) = taker.decide(snap).takes  # the whole rest would cost 100 (99.099 rounded up)
    assert take.expected_spend == 99 and take.quantity == 10**18
    assert offer_price(WEI18, UNIT0, take.quantity, take.expected_spend) < Fraction(9990, 100)


def test_a_small_bid_is_not_hit_when_the_base_it_costs_rounds_up() -> None:
    # a bid paying 101 units per token with 1 unit left: selling into it costs 10^16 wei+ of base
    offer = LiveOffer(8, OTHER, UNIT0.address, WEI18.address, 101, 10**18, 1, 9_900_990_099_009_901)
    snap = snapshot(WEI18, UNIT0, Decimal(100), 10**18, 0, bids=(offer,))
    taker = build_strategy("taker", {"edge_bps": 10, "budget_quote": 0, "budget_base": 10**18})
    (take,) = taker.decide(snap).takes
    assert offer_price(WEI18, UNIT0, take.expected_spend, take.quantity) > Fraction(1001, 10)
    tiny = LiveOffer(9, OTHER, UNIT0.address, WEI18.address, 101, 10, 1, 1)
    snap = snapshot(pair(1, 0)[0], UNIT0, Decimal(100), 10, 0, bids=(tiny,))
    assert taker.decide(snap).takes == ()  # 1 unit for 0.1 token: 10, not 101


@settings(max_examples=400, deadline=None)
@given(
    decimals,
    decimals,
    prices,
    st.lists(st.tuples(st.booleans(), any_size, any_size, st.integers(1, 2**96 - 1)), max_size=5),
    st.integers(0, 30),
    st.integers(0, 2**96),
    st.integers(0, 2**96),
)
def test_every_take_beats_the_edge_at_its_exact_cost_and_fits_the_budget(
    db: int,
    dq: int,
    price: Decimal,
    offers: list[tuple[bool, int, int, int]],
    edge: int,
    budget_q: int,
    budget_b: int,
) -> None:
    base, quote = pair(db, dq)
    asks, bids = [], []
    for i, (is_ask, pay, buy, remaining) in enumerate(offers):
        remaining = min(remaining, pay)
        cost = take_cost(pay, buy, remaining)
        if is_ask:
            asks.append(LiveOffer(i, OTHER, base.address, quote.address, pay, buy, remaining, cost))
        else:
            bids.append(LiveOffer(i, OTHER, quote.address, base.address, pay, buy, remaining, cost))
    snap = snapshot(base, quote, price, budget_b, budget_q, asks=tuple(asks), bids=tuple(bids))
    params = {"edge_bps": edge, "budget_quote": budget_q, "budget_base": budget_b}
    takes = build_strategy("taker", params).decide(snap).takes
    ref, by_id, margin = Fraction(price), {o.id: o for o in asks + bids}, Fraction(edge, 10_000)
    spent = {base.address: 0, quote.address: 0}
    for t in takes:
        o = by_id[t.offer_id]
        assert 0 < t.quantity <= o.remaining
        assert t.expected_spend == take_cost(o.pay_amt, o.buy_amt, t.quantity)
        spent[o.buy_token] += t.expected_spend
        if o.pay_token == base.address:  # bought base below the reference
            assert offer_price(base, quote, t.quantity, t.expected_spend) < ref * (1 - margin)
        else:  # sold base above it
            assert offer_price(base, quote, t.expected_spend, t.quantity) > ref * (1 + margin)
    assert spent[quote.address] <= budget_q and spent[base.address] <= budget_b


# ---------------------------------------------------------------- item 9: finite A-S quotes


AS = {"gamma": 0.1, "sigma": 0.02, "k": 4.0, "horizon_seconds": 600, "size": 10**18}
AS |= {"target_base_inventory": 10 * 10**18}


@pytest.mark.parametrize(
    "change",
    [
        {"k": 1e-320},
        {"gamma": 5e-324},
        {"gamma": 1e200},
        {"sigma": 1e100},
        {"sigma": 1e160},
        {"gamma": math.inf},
        {"sigma": math.nan},
        {"k": math.inf},
        {"horizon_seconds": 10**400},
    ],
)
def test_avellaneda_stoikov_refuses_params_without_finite_quotes(change: dict[str, Any]) -> None:
    with pytest.raises(StrategyConfigError) as info:
        build_strategy("avellaneda_stoikov", {**AS, **change})
    assert "\n" not in str(info.value)


# every float, wide positive ones and the plausible range
floats = st.floats() | st.floats(min_value=1e-12, max_value=1e12) | st.floats(1e-3, 10)


@settings(max_examples=400, deadline=None)
@given(
    floats,
    floats,
    floats,
    st.integers(1, 10**12),
    st.integers(0, 20 * 10**18) | st.integers(0, 2**200),
    st.integers(0, 2**30),
    prices,
)
def test_every_accepted_avellaneda_stoikov_param_set_gives_finite_quotes(
    gamma: float, sigma: float, k: float, horizon: int, held: int, ts: int, price: Decimal
) -> None:
    params = {**AS, "gamma": gamma, "sigma": sigma, "k": k, "horizon_seconds": horizon}
    try:
        strategy = build_strategy("avellaneda_stoikov", params)
    except StrategyConfigError:
        return
    base, quote = pair(18, 6)
    snap = snapshot(base, quote, price, held, 2**200, timestamp=ts)
    decision = strategy.decide(snap)  # never raises: no NaN, no infinity
    for q in decision.quotes:
        assert q.pay_amt > 0 and q.buy_amt > 0
    reservation, delta = strategy.quotes(Fraction(price), Fraction(held, 10**18), ts)
    assert isinstance(reservation, Fraction) and isinstance(delta, Fraction) and delta >= 0
