"""Take mispriced offers: buy asks below the reference and sell into bids above it."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from strategies.api import NO_REFERENCE, Decision, LiveOffer, Snapshot, Strategy, Take
from strategies.money import bps, floor_div, offer_price, take_cost


class TakerParams(BaseModel):
    """Params of :class:`Taker`; budgets are base units of the token spent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edge_bps: int = Field(ge=0, description="How far past the reference an offer must be.")
    budget_quote: int = Field(ge=0, description="Quote units spendable on asks per tick.")
    budget_base: int = Field(ge=0, description="Base units spendable on bids per tick.")


class Taker(Strategy[TakerParams]):
    """Takes the best mispriced foreign offers first, within per-tick budgets and free balance.

    Own and fleet offers are never taken (that would only pay gas to trade with ourselves).
    """

    name: ClassVar[str] = "taker"
    Params: ClassVar[type[BaseModel]] = TakerParams

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.reference_price is None:
            return NO_REFERENCE
        ref = Fraction(snapshot.reference_price)
        edge = bps(self.params.edge_bps)
        base, quote = snapshot.base, snapshot.quote
        asks = [
            (offer_price(base, quote, o.pay_amt, o.buy_amt), o)
            for o in snapshot.asks
            if snapshot.is_takable(o)
        ]
        bids = [
            (offer_price(base, quote, o.buy_amt, o.pay_amt), o)
            for o in snapshot.bids
            if snapshot.is_takable(o)
        ]
        cheap = sorted(((pr, o.id, o) for pr, o in asks if pr < ref * (1 - edge)))
        rich = sorted(((-pr, o.id, o) for pr, o in bids if pr > ref * (1 + edge)))
        budget_q = min(self.params.budget_quote, snapshot.free(quote))
        budget_b = min(self.params.budget_base, snapshot.free(base))
        takes = _fill([o for *_, o in cheap], budget_q) + _fill([o for *_, o in rich], budget_b)
        return Decision(takes=tuple(takes))


def _fill(offers: list[LiveOffer], budget: int) -> list[Take]:
    """Takes on ``offers`` in order, each as large as the remaining ``budget`` allows."""
    takes: list[Take] = []
    for offer in offers:
        quantity = min(offer.remaining, affordable(offer, budget))
        if quantity <= 0:
            continue
        spend = take_cost(offer.pay_amt, offer.buy_amt, quantity)
        takes.append(Take(offer.id, quantity, spend))
        budget -= spend
    return takes


def affordable(offer: LiveOffer, budget: int) -> int:
    """Largest quantity of ``offer`` whose ``ceil`` cost fits ``budget``: ``floor(B*pay/buy)``."""
    return floor_div(Fraction(budget * offer.pay_amt, offer.buy_amt))
