"""Symmetric ladder of bids and asks around the reference price, skewed against inventory."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies._ladder import ask_ladder, bid_ladder, clamp, min_quote_size
from strategies.api import NO_REFERENCE, Decision, Snapshot, Strategy
from strategies.money import MAX_UNITS, bps


class FixedSpreadParams(BaseModel):
    """Params of :class:`FixedSpread`. Amounts are base units; spreads are basis points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spread_bps: int = Field(gt=0, description="Full spread between best bid and best ask.")
    levels: int = Field(default=1, ge=1, le=50, description="Quotes per side.")
    level_spacing_bps: int = Field(default=10, ge=0, description="Extra distance per level.")
    size: int = Field(gt=0, lt=MAX_UNITS, description="Base units per level.")
    min_size: int | None = Field(
        default=None,
        gt=0,
        lt=MAX_UNITS,
        description="Smallest quote posted, base units (a leftover below it is dust and stays"
        " unquoted); default: a tenth of size, rounded up.",
    )
    target_base_inventory: int = Field(
        default=0, ge=0, description="Base holdings (free + escrowed) the skew steers towards."
    )
    skew_range: int = Field(
        default=1, gt=0, description="Base units of imbalance at which the skew saturates."
    )
    max_skew_bps: int = Field(
        default=0,
        ge=0,
        description="Largest shift of both prices; 0 disables skew; below spread_bps / 2 so a"
        " skewed bid stays under the reference and a skewed ask above it.",
    )
    max_base_inventory: int | None = Field(
        default=None, gt=0, description="Stop bidding once base holdings would exceed this."
    )
    max_quote_exposure: int | None = Field(
        default=None, gt=0, description="Cap on the quote units all bids together may escrow."
    )

    @model_validator(mode="after")
    def _bids_stay_positive(self) -> FixedSpreadParams:
        if self.min_size is not None and self.min_size > self.size:
            raise ValueError("min_size must not exceed size")
        widest = self.spread_bps / 2 + (self.levels - 1) * self.level_spacing_bps
        if widest + self.max_skew_bps >= 10_000:
            raise ValueError("spread, levels and skew would push the deepest bid to price <= 0")
        if 2 * self.max_skew_bps >= self.spread_bps:
            raise ValueError("max_skew_bps must be below half of spread_bps (quotes would cross)")
        return self


class FixedSpread(Strategy[FixedSpreadParams]):
    """Quote ``levels`` bids and asks at a fixed distance from the reference price.

    When base holdings exceed the target, both prices shift down (sell more eagerly, buy less
    eagerly), and up when below; the shift is linear in the imbalance up to ``skew_range`` and
    capped at ``max_skew_bps``. Quotes never escrow more than free + escrowed balance, none is
    smaller than ``min_size``, each is priced within 1 bp of its level on the maker's side (or
    shrunk a little, or dropped), and levels that come out at one price are one offer.
    """

    name: ClassVar[str] = "fixed_spread"
    Params: ClassVar[type[BaseModel]] = FixedSpreadParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        p = self.params
        holdings = snapshot.available(snapshot.base)
        mid = Fraction(snapshot.reference_price) * (1 - self.skew(holdings))
        half = bps(p.spread_bps) / 2
        steps = [half + bps(p.level_spacing_bps) * i for i in range(p.levels)]
        smallest = min_quote_size(p.size, p.min_size)
        base, quote = snapshot.base, snapshot.quote
        asks = ask_ladder(base, quote, [mid * (1 + s) for s in steps], p.size, holdings, smallest)
        bids = bid_ladder(
            base,
            quote,
            [mid * (1 - s) for s in steps],
            p.size,
            self._quote_budget(snapshot),
            self._bid_room(holdings),
            smallest,
        )
        if not bids and not asks:  # say why, or an unfunded bot's silence is a mystery
            return Decision(
                reason=f"nothing to quote: too little {base.symbol} to sell and {quote.symbol} "
                f"to bid with for the smallest quote ({smallest} base units)"
            )
        return Decision(quotes=tuple(bids + asks))

    def skew(self, holdings: int) -> Fraction:
        """Fractional shift of both prices (positive = down) for ``holdings`` base units."""
        p = self.params
        imbalance = Fraction(holdings - p.target_base_inventory, p.skew_range)
        return clamp(imbalance, Fraction(1)) * bps(p.max_skew_bps)

    def _bid_room(self, holdings: int) -> int | None:
        cap = self.params.max_base_inventory
        return None if cap is None else max(0, cap - holdings)

    def _quote_budget(self, snapshot: Snapshot) -> int:
        budget = snapshot.available(snapshot.quote)
        cap = self.params.max_quote_exposure
        return budget if cap is None else min(budget, cap)
