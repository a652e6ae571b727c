"""Avellaneda-Stoikov market making: an inventory-aware reservation price and optimal spread.

    r     = s - q * gamma * sigma^2 * tau
    delta = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)

with ``s`` the reference price, ``q`` the base inventory over target in whole tokens and
``tau`` the seconds left in the current horizon window (chain time modulo ``horizon_seconds``).
The bid sits at ``r - delta/2`` and the ask at ``r + delta/2``, but never closer to (or across)
the reference than ``min_edge_bps``: with a large inventory the model would otherwise bid above
the fair price, which on an escrow book just hands arbitrageurs the difference.

Only the model's two terms, ``gamma * sigma^2 * tau`` and ``(2 / gamma) * ln(1 + gamma / k)``,
are float maths; they become exact fractions once and everything else (the reservation price
with any inventory, the quotes) is exact, with :mod:`strategies.money` rounding the amounts.
The params are validated so that both terms, and ``delta`` at the full horizon, are finite and
no wider than the highest price an offer can carry: every accepted parameter set gives finite
quotes for every snapshot.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies._ladder import ask_ladder, bid_ladder, min_quote_size
from strategies.api import NO_REFERENCE, Decision, Snapshot, Strategy
from strategies.money import MAX_UNITS, bps


class AvellanedaStoikovParams(BaseModel):
    """Params of :class:`AvellanedaStoikov`; prices are quote per base in whole tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gamma: float = Field(gt=0, allow_inf_nan=False, description="Risk aversion.")
    sigma: float = Field(
        ge=0, allow_inf_nan=False, description="Price volatility per sqrt(second), quote per base."
    )
    k: float = Field(
        gt=0, allow_inf_nan=False, description="Order-arrival decay: higher k, denser book."
    )
    horizon_seconds: int = Field(gt=0, description="Length of the inventory horizon window.")
    size: int = Field(gt=0, lt=MAX_UNITS, description="Base units per side.")
    min_size: int | None = Field(
        default=None,
        gt=0,
        lt=MAX_UNITS,
        description="Smallest quote posted, base units; default: a tenth of size, rounded up.",
    )
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

    @model_validator(mode="after")
    def _finite_model(self) -> AvellanedaStoikovParams:
        if self.min_size is not None and self.min_size > self.size:
            raise ValueError("min_size must not exceed size")
        try:
            risk, depth = model_terms(self.gamma, self.sigma, self.k, self.horizon_seconds)
        except OverflowError as exc:
            raise ValueError(f"{exc} is not a finite number: choose realistic values") from None
        if risk + depth > WIDEST_SPREAD:
            raise ValueError(
                f"gamma, sigma, k and horizon_seconds give a spread of {risk + depth:.3g} at the"
                f" full horizon: no offer can carry a price above {WIDEST_SPREAD:.3g}"
            )
        return self


class AvellanedaStoikov(Strategy[AvellanedaStoikovParams]):
    """One bid and one ask at the Avellaneda-Stoikov optimal quotes."""

    name: ClassVar[str] = "avellaneda_stoikov"
    Params: ClassVar[type[BaseModel]] = AvellanedaStoikovParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        p = self.params
        holdings = snapshot.available(snapshot.base)
        q = snapshot.base.whole(holdings - p.target_base_inventory)
        ref = Fraction(snapshot.reference_price)
        reservation, delta = self.quotes(ref, q, snapshot.timestamp)
        edge = bps(p.min_edge_bps)
        bid = min(reservation - delta / 2, ref * (1 - edge))
        ask = max(reservation + delta / 2, ref * (1 + edge))
        room = None if p.max_base_inventory is None else max(0, p.max_base_inventory - holdings)
        base, quote = snapshot.base, snapshot.quote
        smallest = min_quote_size(p.size, p.min_size)
        bids = bid_ladder(base, quote, [bid], p.size, snapshot.available(quote), room, smallest)
        asks = ask_ladder(base, quote, [ask], p.size, holdings, smallest)
        reason = f"r={_show(reservation)} delta={_show(delta)}"
        return Decision(quotes=tuple(bids + asks), reason=reason)

    def quotes(
        self, mid: Fraction | float, q: Fraction | float, timestamp: int
    ) -> tuple[Fraction, Fraction]:
        """Reservation price and full optimal spread for inventory ``q`` (whole base tokens over
        target) at chain ``timestamp``; exact fractions, finite for every finite input."""
        p = self.params
        tau = p.horizon_seconds - timestamp % p.horizon_seconds
        risk, depth = model_terms(p.gamma, p.sigma, p.k, tau)
        exact_risk = _exact(risk)
        return Fraction(mid) - Fraction(q) * exact_risk, exact_risk + _exact(depth)


WIDEST_SPREAD = float(2**96 * 10**18)
"""~7.9e46 quote per base: the highest price an offer can carry (2^96 - 1 quote units for one
base unit of an 18-decimal token, quote with 0 decimals). A wider model spread is never quotable."""


def model_terms(gamma: float, sigma: float, k: float, tau: int) -> tuple[float, float]:
    """``(gamma * sigma^2 * tau, (2 / gamma) * ln(1 + gamma / k))``, the model's float terms.

    Raises ``OverflowError`` naming the term that is not a finite float. Both grow with ``tau``
    or not at all, so params that pass at ``tau = horizon_seconds`` pass at every tick.
    """
    try:
        risk = gamma * sigma**2 * tau
    except OverflowError:
        risk = math.inf
    if not math.isfinite(risk):
        raise OverflowError("gamma * sigma^2 * horizon_seconds")
    depth = (2 / gamma) * math.log1p(gamma / k)
    if not math.isfinite(depth):
        raise OverflowError("(2 / gamma) * ln(1 + gamma / k)")
    if not math.isfinite(risk + depth):
        raise OverflowError("the spread")
    return risk, depth


def _exact(value: float) -> Fraction:
    """A finite model float as an exact fraction, via its shortest decimal repr (stable)."""
    return Fraction(Decimal(repr(value)))


def _show(value: Fraction) -> str:
    """Six significant digits of any fraction (a float conversion could overflow)."""
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.6g}"
