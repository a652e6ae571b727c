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


MAX_UNITS = 2**96
"""Sizes and amounts of strategy params stay below this: OtcMarket stores offer amounts as
uint96, so a size at or above 2**96 base units could never be offered."""
PRICE_TOLERANCE = Fraction(1, 10_000)
"""How far a quote's rounded price may sit from the price asked for: 1 bp of it, relative, and
only on the maker's side (an ask at most 1 bp above its price, a bid at most 1 bp below).

Integer amounts make a price granular: an offer of ``B`` base units for ``Q`` quote units moves
by a whole quote unit at a time, so rounding ``Q`` costs up to ``1/Q`` of the price. With few
quote decimals and small sizes that is far from the price (base 18 decimals, quote 0, price
100.37, size 0.001 token: 1 quote unit, an effective price of 1000). 1 bp is below every
spread and reconcile tolerance the bots use, so a quote that passes is priced as meant; one
that cannot pass is shrunk (:func:`fit_ask`, :func:`fit_bid`) or dropped.
"""


def fit_ask(
    base: Token, quote: Token, size: int, price: Price, tolerance: Fraction = PRICE_TOLERANCE
) -> tuple[int, int] | None:
    """Ask amounts ``(pay_base, buy_quote)`` selling at most ``size`` base units, priced in
    ``[price, price * (1 + tolerance)]``; ``None`` when no size this method tries fits.

    Tries ``size`` with the quote amount rounded up (:func:`ask_amounts`); if that lands too
    far above ``price``, keeps the quote amount one unit lower, ``Q = floor(size * x)``, and
    sells the largest base amount ``floor(Q / x)`` still worth at least ``Q`` (``x`` = quote
    units per base unit): a slightly smaller offer at almost exactly ``price``. Raises
    ``ValueError`` for a price <= 0 or a negative size.
    """
    x = _units_rate(base, quote, price, size)
    ceiling = x * (1 + tolerance)
    buy = ceil_div(size * x)
    if buy > 0 and buy <= size * ceiling:
        return size, buy
    buy = floor_div(size * x)
    pay = floor_div(buy / x) if buy > 0 else 0
    if pay > 0 and buy <= pay * ceiling:
        return pay, buy
    return None


def fit_bid(
    base: Token, quote: Token, size: int, price: Price, tolerance: Fraction = PRICE_TOLERANCE
) -> tuple[int, int] | None:
    """Bid amounts ``(pay_quote, buy_base)`` buying at most ``size`` base units, priced in
    ``[price * (1 - tolerance), price]``; ``None`` when no size this method tries fits.

    Tries ``size`` with the quote amount rounded down (:func:`bid_amounts`); if that lands too
    far below ``price``, pays the same ``Q = floor(size * x)`` for the smallest base amount
    ``ceil(Q / x)`` it is still worth. Raises ``ValueError`` for a price <= 0 or a negative size.
    """
    x = _units_rate(base, quote, price, size)
    floor_ = x * (1 - tolerance)
    pay = floor_div(size * x)
    if pay <= 0:
        return None
    if pay >= size * floor_:
        return pay, size
    buy = ceil_div(pay / x)
    return (pay, buy) if pay >= buy * floor_ else None


def _units_rate(base: Token, quote: Token, price: Price, size: int) -> Fraction:
    """Quote base units per base base unit at ``price`` (exact)."""
    if Fraction(price) <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    return Fraction(price) * quote.one / base.one


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
