"""market-maker-keeper style bands: keep what already sits in a band, top up what is thin.

Each band is a margin range around the reference price with a target amount range. Own offers
inside a band are kept unchanged (no churn, no gas); offers outside every band, dust, and the
excess over a band's ``max_amount`` are dropped; a band holding less than ``min_amount`` gets a
new offer at ``avg_margin`` for up to ``avg_amount``.

Because a :class:`~strategies.api.Decision` lists the *desired* offers, "keep" is expressed by
restating a live offer exactly: a quote with the offer's remaining amounts and
``keep_id=offer.id``. The reconciler matches it to the live offer and leaves it alone; any own
offer not restated is cancelled.

Amounts are base units of the offer's pay token: base for sell bands, quote for buy bands.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies.api import NO_REFERENCE, Decision, LiveOffer, Quote, Snapshot, Strategy
from strategies.money import MAX_UNITS, Token, fit_ask, fit_bid, max_base_for_quote, offer_price


class Band(BaseModel):
    """One band: margins are fractions of the reference price (0.01 = 1%)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_margin: Decimal = Field(ge=0, lt=1, description="Closest edge to the reference price.")
    avg_margin: Decimal = Field(ge=0, lt=1, description="Where new offers are placed.")
    max_margin: Decimal = Field(ge=0, lt=1, description="Farthest edge from the reference.")
    min_amount: int = Field(
        ge=0, lt=MAX_UNITS, description="Top up when the band holds less than this."
    )
    avg_amount: int = Field(gt=0, lt=MAX_UNITS, description="Top up to this amount.")
    max_amount: int = Field(gt=0, lt=MAX_UNITS, description="Drop offers beyond this amount.")
    dust_cutoff: int = Field(
        default=0, ge=0, lt=MAX_UNITS, description="Offers smaller than this are dropped."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if not self.min_margin <= self.avg_margin <= self.max_margin:
            raise ValueError("need min_margin <= avg_margin <= max_margin")
        if not self.min_amount <= self.avg_amount <= self.max_amount:
            raise ValueError("need min_amount <= avg_amount <= max_amount")
        return self

    def holds(self, margin: Fraction) -> bool:
        return Fraction(self.min_margin) <= margin <= Fraction(self.max_margin)


def _disjoint(bands: tuple[Band, ...]) -> tuple[Band, ...]:
    ordered = sorted(bands, key=lambda b: b.min_margin)
    for lower, upper in zip(ordered, ordered[1:], strict=False):
        if upper.min_margin <= lower.max_margin:
            raise ValueError("bands on one side must not overlap")
    return bands


class BandsParams(BaseModel):
    """Params of :class:`Bands`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buy_bands: tuple[Band, ...] = Field(default=(), description="Bid bands (quote amounts).")
    sell_bands: tuple[Band, ...] = Field(default=(), description="Ask bands (base amounts).")

    @model_validator(mode="after")
    def _no_overlap(self) -> BandsParams:
        _disjoint(self.buy_bands)
        _disjoint(self.sell_bands)
        return self


class Bands(Strategy[BandsParams]):
    """Keep in-band own offers, drop the rest, top up thin bands within the balance."""

    name: ClassVar[str] = "bands"
    Params: ClassVar[type[BaseModel]] = BandsParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        ref = Fraction(snapshot.reference_price)
        base, quote = snapshot.base, snapshot.quote
        asks = [o for o in snapshot.own_offers if o.pay_token == base.address]
        bids = [o for o in snapshot.own_offers if o.pay_token == quote.address]
        sells = _side("ask", self.params.sell_bands, asks, ref, snapshot)
        buys = _side("bid", self.params.buy_bands, bids, ref, snapshot)
        return Decision(quotes=tuple(buys + sells))


def _margin(side: Literal["bid", "ask"], offer: LiveOffer, ref: Fraction, s: Snapshot) -> Fraction:
    if side == "ask":
        return offer_price(s.base, s.quote, offer.pay_amt, offer.buy_amt) / ref - 1
    return 1 - offer_price(s.base, s.quote, offer.buy_amt, offer.pay_amt) / ref


def _side(
    side: Literal["bid", "ask"],
    bands: tuple[Band, ...],
    offers: list[LiveOffer],
    ref: Fraction,
    snapshot: Snapshot,
) -> list[Quote]:
    """Desired quotes for one side: kept offers first (they are already escrowed), then top-ups."""
    kept: dict[int, list[LiveOffer]] = {i: [] for i in range(len(bands))}
    for offer in sorted(offers, key=lambda o: o.id):
        margin = _margin(side, offer, ref, snapshot)
        for i, band in enumerate(bands):
            total = sum(o.remaining for o in kept[i])
            fits = total + offer.remaining <= band.max_amount
            if band.holds(margin) and fits and offer.remaining >= max(1, band.dust_cutoff):
                kept[i].append(offer)
                break
    pay_token = snapshot.base if side == "ask" else snapshot.quote
    budget = snapshot.available(pay_token) - sum(o.remaining for k in kept.values() for o in k)
    quotes = [_restate(side, o, snapshot) for k in kept.values() for o in k]
    for i, band in enumerate(bands):
        held = sum(o.remaining for o in kept[i])
        if held >= band.min_amount:
            continue
        amount = min(band.avg_amount - held, budget)
        new = _new_quote(side, band, amount, ref, snapshot.base, snapshot.quote)
        if new is not None:
            quotes.append(new)
            budget -= new.pay_amt
    return quotes


def _restate(side: Literal["bid", "ask"], offer: LiveOffer, s: Snapshot) -> Quote:
    return Quote(side, offer.remaining, offer.remaining_buy, s.base, s.quote, keep_id=offer.id)


def _new_quote(
    side: Literal["bid", "ask"], band: Band, amount: int, ref: Fraction, base: Token, quote: Token
) -> Quote | None:
    """A new offer paying at most ``amount`` at the band's ``avg_margin``, priced within
    :data:`~strategies.money.PRICE_TOLERANCE` of it; None if that is dust (below
    ``dust_cutoff``, or too small to be priced within the tolerance)."""
    if amount < max(1, band.dust_cutoff):
        return None
    margin = Fraction(band.avg_margin)
    if side == "ask":
        fitted = fit_ask(base, quote, amount, ref * (1 + margin))
        if fitted is None or fitted[0] < max(1, band.dust_cutoff):
            return None
        return Quote("ask", *fitted, base, quote)
    price = ref * (1 - margin)
    fitted = fit_bid(base, quote, max_base_for_quote(base, quote, amount, price), price)
    if fitted is None or fitted[0] < max(1, band.dust_cutoff):
        return None
    return Quote("bid", *fitted, base, quote)
