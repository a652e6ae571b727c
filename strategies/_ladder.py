"""Turning price ladders into quotes that fit a budget, shared by the spread-style strategies.

Every level is priced within :data:`~strategies.money.PRICE_TOLERANCE` of its intended price,
on the maker's side (:func:`~strategies.money.fit_ask`, :func:`~strategies.money.fit_bid`): a
level that cannot be is shrunk a little or dropped, never posted far from its price. Levels
with the same intended price become one level, and quotes whose rounded prices come out equal
are merged into one offer (the sum of both; the price is unchanged), so a ladder never posts two
offers at one price. A level smaller than ``min_size`` base units is dust and is not posted.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from strategies.api import Quote
from strategies.money import Token, fit_ask, fit_bid, max_base_for_quote


def ask_ladder(
    base: Token,
    quote: Token,
    prices: Iterable[Fraction],
    size: int,
    budget_base: int,
    min_size: int = 1,
) -> list[Quote]:
    """One ask of ``size`` per price, best first, until ``budget_base`` base units run out.

    The last level is cut to what is left, so the asks never escrow more base than the budget;
    a level cut below ``min_size`` ends the ladder.
    """
    quotes: list[Quote] = []
    left = budget_base
    for price, wanted in _levels(prices, size):
        level = min(wanted, left)
        if level < max(1, min_size) or price <= 0:
            break
        fitted = fit_ask(base, quote, level, price)
        if fitted is None or fitted[0] < min_size:
            continue  # rounding cannot price this level: deeper ones may still fit
        quotes.append(Quote("ask", *fitted, base, quote))
        left -= fitted[0]
    return merge_equal_prices(quotes)


def bid_ladder(
    base: Token,
    quote: Token,
    prices: Iterable[Fraction],
    size: int,
    budget_quote: int,
    budget_base: int | None = None,
    min_size: int = 1,
) -> list[Quote]:
    """One bid of ``size`` base per price, best first, until ``budget_quote`` runs out.

    ``budget_base`` optionally caps the base all bids together may buy (an inventory limit).

    A level that does not fit is shrunk to the largest base size the rest of the budget pays for
    (rounded down); one shrunk below ``min_size`` base units ends the ladder.
    """
    quotes: list[Quote] = []
    left = budget_quote
    base_left = budget_base
    for price, wanted in _levels(prices, size):
        if price <= 0 or left <= 0:
            break
        level = min(wanted, max_base_for_quote(base, quote, left, price))
        if base_left is not None:
            level = min(level, base_left)
        if level < max(1, min_size):
            break
        fitted = fit_bid(base, quote, level, price)
        if fitted is None or fitted[1] < min_size:
            continue
        pay, buy = fitted
        quotes.append(Quote("bid", pay, buy, base, quote))
        left -= pay
        if base_left is not None:
            base_left -= buy
    return merge_equal_prices(quotes)


def _levels(prices: Iterable[Fraction], size: int) -> list[tuple[Fraction, int]]:
    """``(price, size)`` per level, consecutive equal prices joined into one bigger level."""
    levels: list[tuple[Fraction, int]] = []
    for price in prices:
        if levels and levels[-1][0] == price:
            levels[-1] = (price, levels[-1][1] + size)
        else:
            levels.append((price, size))
    return levels


def merge_equal_prices(quotes: list[Quote]) -> list[Quote]:
    """``quotes`` with neighbours of one side and one exact price merged into one offer.

    Summing ``pay`` and ``buy`` of two offers at one rate keeps that rate exactly, so the merged
    offer is as close to every intended price as the parts were. Restated live offers
    (``keep_id``) are never merged.
    """
    merged: list[Quote] = []
    for q in quotes:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.side == q.side
            and last.keep_id is None
            and q.keep_id is None
            and last.price == q.price
        ):
            merged[-1] = Quote(
                q.side, last.pay_amt + q.pay_amt, last.buy_amt + q.buy_amt, q.base, q.quote
            )
        else:
            merged.append(q)
    return merged


DEFAULT_MIN_SIZE_DIVISOR = 10


def min_quote_size(size: int, min_size: int | None) -> int:
    """The smallest quote a strategy posts, in base units: ``min_size`` when set, else a tenth
    of ``size`` rounded up (so a leftover of a few base units is never posted as a quote)."""
    return min_size if min_size is not None else -(-size // DEFAULT_MIN_SIZE_DIVISOR)


def clamp(value: Fraction, bound: Fraction) -> Fraction:
    """``value`` limited to ``[-bound, bound]``."""
    return max(-bound, min(bound, value))
