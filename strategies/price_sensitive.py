"""A seeded taker whose orders arrive less often the farther a price is from the reference.

Avellaneda and Stoikov (2008, "High-frequency trading in a limit order book") model the market
orders that reach a quote at distance ``delta`` from the mid as a Poisson process of intensity
``lambda(delta) = A * exp(-k * delta)``. This strategy is that model, one tick at a time:

- at most one order a tick (a block holds one transaction per account): one uniform draw ``u``
  makes a buy when ``u < A``, a sell when ``A <= u < 2A``, else no order (so ``A <= 0.5``);
- the order's reservation distance ``D`` (bps of the reference) is exponential with rate
  ``k_per_bp``, ``P(D > delta) = exp(-k * delta)``: the chance per tick that an order arrives
  that accepts a price ``delta`` bps away is exactly ``A * exp(-k * delta)`` on each side;
- the order takes the best foreign offer of its side if its exact cost is within ``D`` of the
  reference (a buy pays at most ``ref * (1 + D)`` per base token, a sell gets at least
  ``ref * (1 - D)``), for up to its size (uniform in ``[min_size, max_size]`` base units) and
  what its free balance pays for. An offer farther away is left alone: the price matters,
  unlike `strategies.noise`, which takes any affordable offer whatever its price.

Randomness comes only from ``params.seed`` and ``snapshot.tick``, as in `strategies.noise`.
"""

from __future__ import annotations

import hashlib
import math
import random
from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies.api import NO_REFERENCE, Decision, Snapshot, Strategy, Take
from strategies.money import MAX_UNITS, offer_price
from strategies.taker import affordable, best_take

MAX_DISTANCE_BPS = 10_000  # a reservation distance is capped at 100% of the reference


class PriceSensitiveParams(BaseModel):
    """Params of :class:`PriceSensitive`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(description="Seed; with the tick it fixes every random choice.")
    intensity: float = Field(
        default=0.2,
        ge=0,
        le=0.5,
        description="A: orders per tick on each side that accept the reference itself.",
    )
    k_per_bp: float = Field(
        default=0.1,
        gt=0,
        le=100,
        description="k: decay of the intensity per bp of distance (0.1: 1/e at 10 bps).",
    )
    min_size: int = Field(default=1, gt=0, lt=MAX_UNITS, description="Smallest order, base units.")
    max_size: int = Field(gt=0, lt=MAX_UNITS, description="Largest order, base units.")

    @model_validator(mode="after")
    def _ordered(self) -> PriceSensitiveParams:
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        return self


def draw_rng(seed: int, tick: int) -> random.Random:
    """A generator fixed by ``(seed, tick)``, independent of PYTHONHASHSEED and process."""
    digest = hashlib.sha256(f"otcmm-price-sensitive:{seed}:{tick}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - simulation, not crypto


def acceptance(intensity: float, k_per_bp: float, distance_bps: float) -> float:
    """``A * exp(-k * delta)``: the chance per tick that a buy (or a sell) order arrives that
    accepts a price ``distance_bps`` away from the reference, on the far side of it (a price
    better than the reference, a negative distance, is accepted by every order: ``A``)."""
    return intensity * math.exp(-k_per_bp * max(distance_bps, 0.0))


class PriceSensitive(Strategy[PriceSensitiveParams]):
    """At most one market order a tick, taking only what its reservation price accepts."""

    name: ClassVar[str] = "price_sensitive"
    Params: ClassVar[type[BaseModel]] = PriceSensitiveParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        p = self.params
        rng = draw_rng(p.seed, snapshot.tick)
        u = rng.random()
        side: Literal["buy", "sell"] | None = (
            "buy" if u < p.intensity else "sell" if u < 2 * p.intensity else None
        )
        # Draw the distance and size whatever happens, so one tick's draws never shift another's.
        distance = min(rng.expovariate(p.k_per_bp), MAX_DISTANCE_BPS)
        size = rng.randint(p.min_size, p.max_size)
        if side is None:
            return Decision(reason="no order this tick")
        ref = Fraction(snapshot.reference_price)
        reach = bps_fraction(distance)
        limit = ref * (1 + reach) if side == "buy" else ref * (1 - reach)
        take = self._take(snapshot, side, limit, size)
        if take is None:
            return Decision(reason=f"{side} order: nothing within {distance:.1f} bps")
        return Decision(takes=(take,), reason=f"{side} order within {distance:.1f} bps")

    @staticmethod
    def _take(
        snapshot: Snapshot, side: Literal["buy", "sell"], limit: Fraction, size: int
    ) -> Take | None:
        """The take of one order on the best offer of its side, or None if its reservation
        price does not reach it (judged by the exact, rounded-up cost)."""
        base, quote = snapshot.base, snapshot.quote
        if side == "buy":  # lift the cheapest ask: its pay token is base, bought with quote
            asks = [o for o in snapshot.asks if snapshot.is_takable(o)]
            if not asks:
                return None
            offer = min(asks, key=lambda o: (offer_price(base, quote, o.pay_amt, o.buy_amt), o.id))
            cap = min(size, offer.remaining, affordable(offer, snapshot.free(quote)))
            return best_take(
                offer, cap, lambda qty, cost: offer_price(base, quote, qty, cost) <= limit
            )
        # hit the richest bid: its pay token is quote, bought with the order's base
        bids = [o for o in snapshot.bids if snapshot.is_takable(o)]
        if not bids:
            return None
        offer = min(bids, key=lambda o: (-offer_price(base, quote, o.buy_amt, o.pay_amt), o.id))
        cap = min(offer.remaining, affordable(offer, min(size, snapshot.free(base))))
        return best_take(offer, cap, lambda qty, cost: offer_price(base, quote, cost, qty) >= limit)


def bps_fraction(distance_bps: float) -> Fraction:
    """``distance_bps`` as an exact fraction of 1 (the float draw, made exact once)."""
    return Fraction(distance_bps) / 10_000
