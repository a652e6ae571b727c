"""Avellaneda-Stoikov market making: an inventory-aware reservation price and optimal spread.

    r     = s - q * gamma * sigma^2 * tau
    delta = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)

with ``s`` the reference price, ``q`` the base inventory over target in whole tokens and
``tau`` the seconds left in the current horizon window (chain time modulo ``horizon_seconds``).
The bid sits at ``r - delta/2`` and the ask at ``r + delta/2``, but never closer to (or across)
the reference than ``min_edge_bps``: with a large inventory the model would otherwise bid above
the fair price, which on an escrow book just hands arbitrageurs the difference. The model is
float maths; its outputs become exact prices once, and :mod:`strategies.money` rounds amounts.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies._ladder import ask_ladder, bid_ladder
from strategies.api import NO_REFERENCE, Decision, Snapshot, Strategy
from strategies.money import bps


class AvellanedaStoikovParams(BaseModel):
    """Params of :class:`AvellanedaStoikov`; prices are quote per base in whole tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gamma: float = Field(gt=0, description="Risk aversion.")
    sigma: float = Field(ge=0, description="Price volatility per sqrt(second), quote per base.")
    k: float = Field(gt=0, description="Order-arrival decay: higher k means a denser book.")
    horizon_seconds: int = Field(gt=0, description="Length of the inventory horizon window.")
    size: int = Field(gt=0, description="Base units per side.")
    target_base_inventory: int = Field(default=0, ge=0, description="Base units held at q = 0.")
    max_base_inventory: int | None = Field(
        default=None, gt=0, description="No bids once base holdings reach this (base units)."
    )
    min_edge_bps: int = Field(
        default=1,
        ge=1,
        lt=10_000,
        description="Keep each quote at least this far from the reference on its own side.",
    )


class AvellanedaStoikov(Strategy[AvellanedaStoikovParams]):
    """One bid and one ask at the Avellaneda-Stoikov optimal quotes."""

    name: ClassVar[str] = "avellaneda_stoikov"
    Params: ClassVar[type[BaseModel]] = AvellanedaStoikovParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        p = self.params
        holdings = snapshot.available(snapshot.base)
        q = float(snapshot.base.whole(holdings - p.target_base_inventory))
        reservation, delta = self.quotes(float(snapshot.reference_price), q, snapshot.timestamp)
        ref = Fraction(snapshot.reference_price)
        edge = bps(p.min_edge_bps)
        bid = min(_exact(reservation - delta / 2), ref * (1 - edge))
        ask = max(_exact(reservation + delta / 2), ref * (1 + edge))
        room = None if p.max_base_inventory is None else max(0, p.max_base_inventory - holdings)
        base, quote = snapshot.base, snapshot.quote
        bids = bid_ladder(base, quote, [bid], p.size, snapshot.available(quote), room)
        asks = ask_ladder(base, quote, [ask], p.size, holdings)
        return Decision(quotes=tuple(bids + asks), reason=f"r={reservation:.6g} delta={delta:.6g}")

    def quotes(self, mid: float, q: float, timestamp: int) -> tuple[float, float]:
        """Reservation price and full optimal spread for inventory ``q`` at chain ``timestamp``."""
        p = self.params
        tau = p.horizon_seconds - timestamp % p.horizon_seconds
        risk = p.gamma * p.sigma**2 * tau
        reservation = mid - q * risk
        delta = risk + (2 / p.gamma) * float(np.log1p(p.gamma / p.k))
        return reservation, delta


def _exact(price: float) -> Fraction:
    """A model price as an exact fraction, via its shortest decimal repr (stable and readable)."""
    return Fraction(Decimal(repr(price)))
