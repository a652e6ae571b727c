"""Money vocabulary: tokens, integer base-unit amounts and exact prices.

Amounts that reach a transaction are always ``int`` base units. Prices are quote per base in
whole-token units, given as ``Decimal`` (config, feeds) or ``Fraction`` (exact results). Every
conversion from a price to an amount rounds explicitly, in the direction that keeps the maker
from trading at a worse price than it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

Price = Decimal | Fraction


@dataclass(frozen=True, slots=True)
class Token:
    """An ERC-20 token as the strategies see it: where it lives and how to scale it."""

    address: str
    symbol: str
    decimals: int

    @property
    def one(self) -> int:
        """Base units in one whole token."""
        return int(10**self.decimals)

    def units(self, whole: Price | int) -> int:
        """Whole tokens to base units, rounded down (never claims more than there is)."""
        return floor_div(Fraction(whole) * self.one)

    def whole(self, units: int) -> Fraction:
        """Base units to an exact number of whole tokens."""
        return Fraction(units, self.one)


def floor_div(value: Fraction) -> int:
    """Round an exact rational down to an int."""
    return value.numerator // value.denominator


def ceil_div(value: Fraction) -> int:
    """Round an exact rational up to an int."""
    return -((-value.numerator) // value.denominator)


def quote_units(base: Token, quote: Token, size_base_units: int, price: Price) -> Fraction:
    """Exact (unrounded) quote base units worth ``size_base_units`` of base at ``price``."""
    return Fraction(size_base_units) * Fraction(price) * quote.one / base.one


def ask_amounts(base: Token, quote: Token, size_base_units: int, price: Price) -> tuple[int, int]:
    """Offer amounts ``(pay_base, buy_quote)`` to sell ``size_base_units`` at ``price``.

    ``buy_quote`` rounds up, so the offer's rate is never below ``price``: the maker never sells
    cheaper than it meant to.
    """
    return size_base_units, ceil_div(quote_units(base, quote, size_base_units, price))


def bid_amounts(base: Token, quote: Token, size_base_units: int, price: Price) -> tuple[int, int]:
    """Offer amounts ``(pay_quote, buy_base)`` to buy ``size_base_units`` at ``price``.

    ``pay_quote`` rounds down, so the maker never pays more than ``price`` per base. A result of
    ``pay_quote == 0`` means the size is dust at this price; callers must drop such offers.
    """
    return floor_div(quote_units(base, quote, size_base_units, price)), size_base_units


def max_base_for_quote(base: Token, quote: Token, quote_budget: int, price: Price) -> int:
    """Largest base size whose quote value at ``price`` fits in ``quote_budget`` (rounded down)."""
    if Fraction(price) <= 0:
        raise ValueError("price must be positive")
    return floor_div(Fraction(quote_budget) * base.one / (Fraction(price) * quote.one))


def offer_price(base: Token, quote: Token, base_units: int, quote_units_: int) -> Fraction:
    """Exact price (quote per base, whole tokens) of an offer trading these two amounts."""
    if base_units <= 0:
        raise ValueError("base amount must be positive")
    return Fraction(quote_units_, base_units) * base.one / quote.one


def take_cost(pay_amt: int, buy_amt: int, quantity: int) -> int:
    """What a taker pays for ``quantity`` of an offer's pay token: ``ceil(q * buy / pay)``.

    Mirrors ``OtcMarket.buy``, which prices every fill at the offer's original rate.
    """
    return ceil_div(Fraction(quantity * buy_amt, pay_amt))


def bps(value: int | Decimal) -> Fraction:
    """Basis points as an exact fraction (``25`` -> ``1/400``)."""
    return Fraction(value) / 10_000
