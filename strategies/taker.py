"""Take mispriced offers: buy asks below the reference and sell into bids above it."""

from __future__ import annotations

from collections.abc import Callable
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

    Offers are ranked by their rate, but each take is judged by what it really costs: the
    market charges ``ceil(quantity * buy_amt / pay_amt)``, so a small fill pays up to one unit
    more than the rate. A take is sent only if that exact cost still beats the reference by
    ``edge_bps``; when the whole fill would not, the largest smaller fill that does is taken
    (one unit of the spent token less, for as much as it buys), else the offer is skipped.
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
        cheap_below, rich_above = ref * (1 - edge), ref * (1 + edge)
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
        cheap = sorted(((pr, o.id, o) for pr, o in asks if pr < cheap_below))
        rich = sorted(((-pr, o.id, o) for pr, o in bids if pr > rich_above))

        def buys_cheap(quantity: int, cost: int) -> bool:  # base bought, quote paid
            return offer_price(base, quote, quantity, cost) < cheap_below

        def sells_rich(quantity: int, cost: int) -> bool:  # quote received, base paid
            return offer_price(base, quote, cost, quantity) > rich_above

        budget_q = min(self.params.budget_quote, snapshot.free(quote))
        budget_b = min(self.params.budget_base, snapshot.free(base))
        takes = _fill([o for *_, o in cheap], budget_q, buys_cheap)
        takes += _fill([o for *_, o in rich], budget_b, sells_rich)
        return Decision(takes=tuple(takes))


def _fill(offers: list[LiveOffer], budget: int, worth: Callable[[int, int], bool]) -> list[Take]:
    """Takes on ``offers`` in order, each as large as the remaining ``budget`` allows and
    ``worth(quantity, exact_cost)`` accepts; the budget is charged the exact cost."""
    takes: list[Take] = []
    for offer in offers:
        take = best_take(offer, min(offer.remaining, affordable(offer, budget)), worth)
        if take is not None:
            takes.append(take)
            budget -= take.expected_spend
    return takes


def best_take(offer: LiveOffer, quantity: int, worth: Callable[[int, int], bool]) -> Take | None:
    """A take of at most ``quantity`` whose exact cost ``worth(quantity, cost)`` accepts.

    Tries ``quantity``; if its rounded-up cost is not worth it, spends one unit less and takes
    the most that still buys (``floor((cost - 1) * pay / buy)``), where rounding costs almost
    nothing. None when neither is worth it or the quantity is 0.
    """
    if quantity <= 0:
        return None
    cost = take_cost(offer.pay_amt, offer.buy_amt, quantity)
    if worth(quantity, cost):
        return Take(offer.id, quantity, cost)
    smaller = min(quantity, floor_div(Fraction((cost - 1) * offer.pay_amt, offer.buy_amt)))
    if smaller <= 0:
        return None
    cost = take_cost(offer.pay_amt, offer.buy_amt, smaller)
    return Take(offer.id, smaller, cost) if worth(smaller, cost) else None


def affordable(offer: LiveOffer, budget: int) -> int:
    """Largest quantity of ``offer`` whose ``ceil`` cost fits ``budget``: ``floor(B*pay/buy)``."""
    return floor_div(Fraction(budget * offer.pay_amt, offer.buy_amt))
