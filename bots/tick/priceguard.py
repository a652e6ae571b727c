"""The price guard: a reference price must be sane before a strategy may quote around it.

A feed can be wrong without failing: an API answering `1e-30` or `1e999999`, a decimal point
that moved, a source that jumped 10x. Quoting around such a price gives the inventory away, so
each reading passes these checks before the strategy sees it (all pure, no I/O):

- **sane**: the shared parser of the feeds (`bots.feeds.pricefile.positive_price`: finite,
  1e-30 .. 1e31, at most 60 digits), else refused as `price_band`;
- **band**: outside `[min_price, max_price]` (quote per whole base token) it is refused;
- **jump**: a move of more than `max_jump_bps` (`risk.max_price_jump_bps`) from the anchor
  (the last accepted price) is never followed by itself: it stays a `price_jump` stop until the
  feed comes back near the anchor or an operator restarts the bot with `--reset-price-anchor`;
- **move**: a move of more than `max_move_bps` (and at most `max_jump_bps`) is followed only
  once `confirmations` consecutive readings agree on the new level (each within `max_move_bps`
  of the first reading of the move) *and* they span at least `confirm_s` seconds, so a source
  repeating one wrong number a few times in a row does not confirm itself. Until then the bot
  has no reference price: the strategy quotes nothing and the offers are pulled;
- **drift**: steps each under `max_move_bps` add up: a feed walking 4% a second would carry
  the anchor anywhere. So a reading more than `max_drift_bps` from the price the bot accepted
  `drift_window_s` ago (the oldest accepted price still in that window) is a move too: it needs
  the same confirmation, which a walk never gives (its readings do not agree on a level); once
  the price settles, it confirms and becomes the new base of the window.

Comparisons are exact (`Fraction`): nothing overflows, whatever the reading. The anchor is
given at construction (the service loads it from the state directory, see
`bots.service.anchor`); with none, the first sane in-band reading becomes the anchor and the
check says so (`PriceCheck.first`), so the runner can log it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from bots.feeds.pricefile import positive_price


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """What the guard made of a reading: the price to use (None: none) and why not, if so.

    `first`: the price was accepted as the anchor with nothing to compare it to.
    """

    price: Decimal | None
    stop: str | None = None
    reason: str = ""
    first: bool = False


class PriceGuard:
    """Stateful across ticks: remembers the anchor and a move being confirmed."""

    def __init__(
        self,
        *,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        max_move_bps: int | None = None,
        max_jump_bps: int | None = None,
        confirmations: int = 3,
        confirm_s: float = 0.0,
        anchor: Decimal | None = None,
        max_drift_bps: int | None = None,
        drift_window_s: float = 300.0,
    ) -> None:
        """`confirm_s` and `drift_window_s` in seconds of the clock the caller passes to
        `check`. Raises `ValueError` for fewer than 1 confirmation or a negative `confirm_s`
        or `drift_window_s`."""
        if confirmations < 1 or not confirm_s >= 0 or not drift_window_s >= 0:
            raise ValueError("confirmations must be >= 1, confirm_s and drift_window_s >= 0")
        self.max_drift_bps = max_drift_bps
        self.drift_window_s = drift_window_s
        self._accepted: deque[tuple[float, Decimal]] = deque()  # (time, price) in the window
        self.min_price = min_price
        self.max_price = max_price
        self.max_move_bps = max_move_bps
        self.max_jump_bps = max_jump_bps
        self.confirmations = confirmations
        self.confirm_s = confirm_s
        self.last: Decimal | None = anchor
        self._candidate: Decimal | None = None
        self._seen = 0
        self._since = 0.0

    def check(self, price: Decimal, now: float) -> PriceCheck:
        """Accept or refuse `price` (quote per whole base) read at `now` (seconds); updates the
        guard's memory. Never raises for any `Decimal`."""
        try:
            price = positive_price(price)
        except ValueError as exc:
            return PriceCheck(None, "price_band", str(exc))
        band = self._outside_band(price)
        if band:
            return PriceCheck(None, "price_band", band)
        last, move = self.last, self.max_move_bps
        if last is None:
            return self._accept(price, now, first=True)
        jump = self.max_jump_bps
        if jump is not None and not _near(price, last, jump):
            self._candidate, self._seen = None, 0
            return PriceCheck(
                None,
                "price_jump",
                f"{price} is more than risk.max_price_jump_bps {jump} bps from the anchor "
                f"{last}: never followed by itself; restart with --reset-price-anchor to accept "
                "the feed's price",
            )
        base, drift = self._window_base(now), self.max_drift_bps
        if drift is not None and move is not None:
            drift = max(drift, move)  # a step a tick may take, the window may too
        if drift is not None and base is not None and not _near(price, base, drift):
            why = (
                f"more than risk.max_price_drift_bps {drift} bps from {base}, the price "
                f"{self.drift_window_s:g} s ago (a walk is not followed by itself)"
            )
            return self._confirm(price, move if move is not None else drift, now, why)
        if move is not None and _near(price, last, move):
            return self._accept(price, now)
        if move is None:
            return self._accept(price, now)
        return self._confirm(price, move, now, f"more than {move} bps from the anchor {last}")

    def _confirm(self, price: Decimal, move: int, now: float, why: str) -> PriceCheck:
        if self._candidate is None or not _near(price, self._candidate, move):
            self._candidate, self._seen, self._since = price, 0, now
        self._seen += 1
        spanned = now - self._since
        if self._seen >= self.confirmations and spanned >= self.confirm_s:
            self._accepted.clear()  # a confirmed level is the new base of the window
            return self._accept(price, now)
        return PriceCheck(
            None,
            "price_jump",
            f"{price} is {why}; "
            f"{self._seen} of {self.confirmations} confirming readings over {spanned:.0f} of "
            f"{self.confirm_s:g} s",
        )

    def _accept(self, price: Decimal, now: float, *, first: bool = False) -> PriceCheck:
        self.last, self._candidate, self._seen = price, None, 0
        self._accepted.append((now, price))
        return PriceCheck(price, first=first)

    def _window_base(self, now: float) -> Decimal | None:
        """The oldest price accepted within the last `drift_window_s` (None: none yet)."""
        window = self._accepted
        while len(window) > 1 and window[1][0] <= now - self.drift_window_s:
            window.popleft()  # keep one older entry: the price in force at the window's start
        return window[0][1] if window else None

    def _outside_band(self, price: Decimal) -> str:
        if self.min_price is not None and price < self.min_price:
            return f"{price} is below risk.min_price {self.min_price}"
        if self.max_price is not None and price > self.max_price:
            return f"{price} is above risk.max_price {self.max_price}"
        return ""


def _near(price: Decimal, anchor: Decimal, max_move_bps: int) -> bool:
    """Whether `price` is within `max_move_bps` of `anchor` (exact: `Fraction`, no overflow)."""
    exact = Fraction(anchor)
    return abs(Fraction(price) - exact) * 10_000 <= exact * max_move_bps
