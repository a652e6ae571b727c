"""A seeded random taker that makes simulated markets trade.

Randomness comes only from ``params.seed`` and ``snapshot.tick``, so a replayed simulation
takes exactly the same offers.
"""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies.api import NO_REFERENCE, Decision, LiveOffer, Snapshot, Strategy, Take
from strategies.money import floor_div, take_cost
from strategies.taker import affordable


class NoiseParams(BaseModel):
    """Params of :class:`Noise`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(description="Seed; with the tick it fixes every random choice.")
    probability: float = Field(default=0.5, ge=0, le=1, description="Chance to trade per tick.")
    min_fraction: float = Field(default=0.1, gt=0, le=1, description="Smallest share taken.")
    max_fraction: float = Field(default=1.0, gt=0, le=1, description="Largest share taken.")

    @model_validator(mode="after")
    def _ordered(self) -> NoiseParams:
        if self.min_fraction > self.max_fraction:
            raise ValueError("min_fraction must not exceed max_fraction")
        return self


def tick_rng(seed: int, tick: int) -> random.Random:
    """A generator fixed by ``(seed, tick)``, independent of PYTHONHASHSEED and process."""
    digest = hashlib.sha256(f"otcmm-noise:{seed}:{tick}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - simulation, not crypto


class Noise(Strategy[NoiseParams]):
    """With ``probability``, take a random share of one random affordable foreign offer."""

    name: ClassVar[str] = "noise"
    Params: ClassVar[type[BaseModel]] = NoiseParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        p = self.params
        rng = tick_rng(p.seed, snapshot.tick)
        if rng.random() >= p.probability:
            return Decision(reason="no trade this tick")
        offers = sorted(
            (o for o in snapshot.bids + snapshot.asks if self._can_take(snapshot, o)),
            key=lambda o: o.id,
        )
        if not offers:
            return Decision(reason="nothing affordable")
        offer = rng.choice(offers)
        fraction = Fraction(rng.uniform(p.min_fraction, p.max_fraction))
        cap = min(offer.remaining, affordable(offer, snapshot.balances.get(offer.buy_token, 0)))
        quantity = max(1, floor_div(cap * fraction))
        return Decision(
            takes=(Take(offer.id, quantity, take_cost(offer.pay_amt, offer.buy_amt, quantity)),)
        )

    @staticmethod
    def _can_take(snapshot: Snapshot, offer: LiveOffer) -> bool:
        budget = snapshot.balances.get(offer.buy_token, 0)
        return snapshot.is_takable(offer) and min(offer.remaining, affordable(offer, budget)) > 0
