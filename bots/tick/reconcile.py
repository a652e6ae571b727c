"""Desired quotes versus live own offers: the fewest actions that turn one into the other.

Pure. A live offer whose rate is within `price_bps` of a desired quote in the same direction,
and whose remaining amount is within `size_bps` of the desired size, is kept: re-quoting for a
tiny move costs gas and queue position for nothing. Everything else becomes cancels and makes
that the executor sends as one conditional `requote` (each cancel carries the remaining amount
seen here, so a fill in between reverts the whole re-quote instead of over-selling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from strategies.api import LiveOffer, Quote


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a live offer may be from a desired quote and still be kept."""

    price_bps: int = 5
    size_bps: int = 1_000

    def __post_init__(self) -> None:
        if self.price_bps < 0 or self.size_bps < 0:
            raise ValueError("tolerances must be >= 0 basis points")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do: keep these offers, cancel `(id, expected_remaining)`, make these quotes."""

    keep: tuple[LiveOffer, ...]
    cancels: tuple[tuple[int, int], ...]
    makes: tuple[Quote, ...]

    @property
    def is_empty(self) -> bool:
        return not self.cancels and not self.makes


def reconcile(
    desired: Sequence[Quote], live: Sequence[LiveOffer], tolerance: Tolerance = Tolerance()
) -> Plan:
    """Match each desired quote to at most one live offer; cancel and make the rest.

    A live offer that restates a quote exactly (same tokens and amounts, untouched) is found by
    a dictionary lookup, so a tick that changes nothing costs O(quotes) however many offers the
    bot has; only the rest are matched by scanning within the tolerances.
    """
    unmatched = {offer.id: offer for offer in live}
    exact: dict[tuple[str, str, int, int], list[int]] = {}
    for offer in live:
        if offer.remaining == offer.pay_amt:
            key = (offer.pay_token, offer.buy_token, offer.pay_amt, offer.buy_amt)
            exact.setdefault(key, []).append(offer.id)
    keep: list[LiveOffer] = []
    makes: list[Quote] = []
    for quote in desired:
        match = _exact_match(quote, exact, unmatched) or _best_match(quote, unmatched, tolerance)
        if match is None:
            makes.append(quote)
        else:
            keep.append(unmatched.pop(match.id))
    cancels = tuple((offer.id, offer.remaining) for offer in unmatched.values())
    return Plan(keep=tuple(keep), cancels=cancels, makes=tuple(makes))


def _exact_match(
    quote: Quote, exact: dict[tuple[str, str, int, int], list[int]], live: dict[int, LiveOffer]
) -> LiveOffer | None:
    """The lowest-id live offer with exactly the quote's tokens and amounts, if still free: a
    zero price and size gap, the best score `_best_match` could give."""
    if quote.keep_id is not None:
        return None  # `_best_match` honours keep_id first
    key = (quote.pay_token, quote.buy_token, quote.pay_amt, quote.buy_amt)
    for offer_id in exact.get(key, ()):
        if offer_id in live:
            return live[offer_id]
    return None


def _best_match(quote: Quote, live: dict[int, LiveOffer], tolerance: Tolerance) -> LiveOffer | None:
    if quote.keep_id is not None and quote.keep_id in live:
        return live[quote.keep_id]
    best: tuple[Fraction, int] | None = None
    for offer in live.values():
        if offer.pay_token != quote.pay_token or offer.buy_token != quote.buy_token:
            continue
        price_gap = _relative_gap(
            Fraction(offer.buy_amt, offer.pay_amt), Fraction(quote.buy_amt, quote.pay_amt)
        )
        size_gap = _relative_gap(Fraction(offer.remaining), Fraction(quote.pay_amt))
        if price_gap * 10_000 > tolerance.price_bps or size_gap * 10_000 > tolerance.size_bps:
            continue
        score = (price_gap + size_gap, offer.id)
        if best is None or score < best:
            best = score
    return live[best[1]] if best is not None else None


def _relative_gap(actual: Fraction, wanted: Fraction) -> Fraction:
    return abs(actual - wanted) / wanted
