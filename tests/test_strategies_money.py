"""Rounding directions of the money vocabulary: the maker never trades worse than its price."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from strategies.money import (
    Token,
    ask_amounts,
    bid_amounts,
    max_base_for_quote,
    offer_price,
    take_cost,
)

decimals = st.integers(min_value=0, max_value=24)
sizes = st.integers(min_value=1, max_value=10**30)
prices = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=6)


def tokens(d_base: int, d_quote: int) -> tuple[Token, Token]:
    return Token("0xb", "B", d_base), Token("0xq", "Q", d_quote)


@given(decimals, decimals, sizes, prices)
def test_ask_never_sells_below_its_price(db: int, dq: int, size: int, price: Decimal) -> None:
    base, quote = tokens(db, dq)
    pay, buy = ask_amounts(base, quote, size, price)
    assert pay == size
    assert offer_price(base, quote, pay, buy) >= Fraction(price)
    # ... and by less than one quote unit too much.
    assert offer_price(base, quote, pay, buy - 1) < Fraction(price)


@given(decimals, decimals, sizes, prices)
def test_bid_never_pays_above_its_price(db: int, dq: int, size: int, price: Decimal) -> None:
    base, quote = tokens(db, dq)
    pay, buy = bid_amounts(base, quote, size, price)
    assert buy == size
    assert offer_price(base, quote, buy, pay) <= Fraction(price)
    assert offer_price(base, quote, buy, pay + 1) > Fraction(price)


@given(decimals, decimals, st.integers(min_value=0, max_value=10**30), prices)
def test_max_base_for_quote_fits_budget(db: int, dq: int, budget: int, price: Decimal) -> None:
    base, quote = tokens(db, dq)
    size = max_base_for_quote(base, quote, budget, price)
    assert bid_amounts(base, quote, size, price)[0] <= budget
    assert Fraction(size + 1) * Fraction(price) * quote.one / base.one > budget


@given(
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=1, max_value=10**30),
)
def test_take_cost_is_ceiling_of_rate(pay: int, buy: int, quantity: int) -> None:
    cost = take_cost(pay, buy, quantity)
    assert cost * pay >= quantity * buy > (cost - 1) * pay


def test_token_units_round_down() -> None:
    usdc = Token("0xq", "USDC", 6)
    assert usdc.units(Decimal("1.2345679")) == 1_234_567
    assert usdc.whole(1_500_000) == Fraction(3, 2)
