"""The price guard: a reference price must be sane before a strategy may quote around it.

A feed can be wrong without failing: an API answering `1e-30` or `1e308`, a decimal point that
moved, a source that jumped 10x. Quoting around such a price gives the inventory away, so each
reading passes three checks before the strategy sees it (all pure, no I/O):

- **band**: outside `[min_price, max_price]` (quote per whole base token) it is refused;
- **clock**: a timestamp more than `max_feed_skew_s` in the future is refused like a stale one
  (a future time would otherwise count as fresh forever);
- **jump**: a move of more than `max_price_move_bps` from the last accepted price is followed only
  after `price_confirmations` consecutive readings agree on the new level (each within
  `max_price_move_bps` of the first reading of the jump). Until then the bot has no reference
  price: the strategy quotes nothing and the offers are pulled, since a real jump makes the old
  quotes stale too.

The last accepted price lives in memory only: after a restart the first reading inside the band
is accepted as is (the book cross check in `bots.tick.risk` still refuses quotes that cross it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """What the guard made of a reading: the price to use (None: none) and why not, if so."""

    price: Decimal | None
    stop: str | None = None
    reason: str = ""


class PriceGuard:
    """Stateful across ticks: remembers the last accepted price and a jump being confirmed."""

    def __init__(
        self,
        *,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        max_move_bps: int | None = None,
        confirmations: int = 3,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1")
        self.min_price = min_price
        self.max_price = max_price
        self.max_move_bps = max_move_bps
        self.confirmations = confirmations
        self.last: Decimal | None = None
        self._candidate: Decimal | None = None
        self._seen = 0

    def check(self, price: Decimal) -> PriceCheck:
        """Accept or refuse `price` (quote per whole base); updates the guard's memory."""
        band = self._outside_band(price)
        if band:
            return PriceCheck(None, "price_band", band)
        move = self.max_move_bps
        if self.last is None or move is None or _near(price, self.last, move):
            return self._accept(price)
        if self._candidate is None or not _near(price, self._candidate, move):
            self._candidate, self._seen = price, 0
        self._seen += 1
        if self._seen >= self.confirmations:
            return self._accept(price)
        return PriceCheck(
            None,
            "price_jump",
            f"{price} is more than {self.max_move_bps} bps from the last accepted {self.last}; "
            f"{self._seen} of {self.confirmations} confirming readings",
        )

    def _accept(self, price: Decimal) -> PriceCheck:
        self.last, self._candidate, self._seen = price, None, 0
        return PriceCheck(price)

    def _outside_band(self, price: Decimal) -> str:
        if self.min_price is not None and price < self.min_price:
            return f"{price} is below risk.min_price {self.min_price}"
        if self.max_price is not None and price > self.max_price:
            return f"{price} is above risk.max_price {self.max_price}"
        return ""


def _near(price: Decimal, anchor: Decimal, max_move_bps: int) -> bool:
    """Whether `price` is within `max_move_bps` of `anchor` (exact Decimal arithmetic)."""
    return abs(price - anchor) * 10_000 <= anchor * max_move_bps
