"""Turning price ladders into quotes that fit a budget, shared by the spread-style strategies."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from strategies.api import Quote
from strategies.money import Token, bid_amounts, max_base_for_quote


def ask_ladder(
    base: Token, quote: Token, prices: Iterable[Fraction], size: int, budget_base: int
) -> list[Quote]:
    """One ask of ``size`` per price, best first, until ``budget_base`` base units run out.

    The last level is cut to what is left, so the asks never escrow more base than the budget.
    """
    quotes: list[Quote] = []
    left = budget_base
    for price in prices:
        level = min(size, left)
        if level <= 0 or price <= 0:
            break
        quotes.append(Quote.ask(base, quote, level, price))
        left -= level
    return quotes


def bid_ladder(
    base: Token,
    quote: Token,
    prices: Iterable[Fraction],
    size: int,
    budget_quote: int,
    budget_base: int | None = None,
) -> list[Quote]:
    """One bid of ``size`` base per price, best first, until ``budget_quote`` runs out.

    ``budget_base`` optionally caps the base all bids together may buy (an inventory limit).

    A level that does not fit is shrunk to the largest base size the rest of the budget pays for
    (rounded down), and levels that round to dust are dropped.
    """
    quotes: list[Quote] = []
    left = budget_quote
    base_left = budget_base
    for price in prices:
        if price <= 0 or left <= 0:
            break
        level = min(size, max_base_for_quote(base, quote, left, price))
        if base_left is not None:
            level = min(level, base_left)
            base_left -= level
        pay, buy = bid_amounts(base, quote, level, price)
        if pay <= 0 or buy <= 0:
            break
        quotes.append(Quote("bid", pay, buy, base, quote))
        left -= pay
    return quotes


def clamp(value: Fraction, bound: Fraction) -> Fraction:
    """``value`` limited to ``[-bound, bound]``."""
    return max(-bound, min(bound, value))
