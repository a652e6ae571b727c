"""Keeping a set of offers current from market events, without re-reading the chain.

Pure: the runner loads offers from the market's views at start (and whenever it wants to be
sure), then folds each block's `LogMake`/`LogTake`/`LogKill` into them, plus the dead-man's
switch's `LogDeadline`/`LogGuard` to keep each offer's `guarded` flag and `deadline` right. A
take reduces the remaining quantity; the price never changes, because the market keeps each
offer's rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from bots.market.events import MarketEvent, SwitchEvent, chain_order
from strategies.api import LiveOffer as Offer
from strategies.money import take_cost


def apply_events(
    offers: Mapping[int, Offer], events: Iterable[MarketEvent | SwitchEvent]
) -> dict[int, Offer]:
    """Offers by id after `events`, applied in chain order (`MarketClient.events` and
    `MarketClient.switch_events` may be passed merged in any order); the input mapping is not
    modified. Switch events are needed only when guarded offers may be involved: without them
    offers made by `requoteUntil` look unguarded."""
    book = dict(offers)
    for event in sorted(events, key=chain_order):
        if isinstance(event, SwitchEvent):
            _apply_switch(book, event)
        elif event.kind == "make":
            book[event.offer_id] = Offer(
                id=event.offer_id,
                owner=event.maker,
                pay_token=event.pay_token,
                buy_token=event.buy_token,
                pay_amt=event.pay_amt,
                buy_amt=event.buy_amt,
                remaining=event.pay_amt,
                remaining_buy=event.buy_amt,
                timestamp=event.timestamp,
            )
        elif event.kind == "kill":
            book.pop(event.offer_id, None)
        else:
            _apply_take(book, event)
    return book


def _apply_take(book: dict[int, Offer], event: MarketEvent) -> None:
    offer = book.get(event.offer_id)
    if offer is None:
        return  # made before the window this book was loaded from: the next full load fixes it
    remaining = offer.remaining - event.pay_amt
    if remaining <= 0:
        del book[event.offer_id]
        return
    remaining_buy = take_cost(offer.pay_amt, offer.buy_amt, remaining)
    book[event.offer_id] = replace(offer, remaining=remaining, remaining_buy=remaining_buy)


def _apply_switch(book: dict[int, Offer], event: SwitchEvent) -> None:
    """`guard`: the named offers (made just before, same transaction) become guarded; both
    kinds: every guarded offer of the maker now has the event's deadline."""
    for offer_id in event.offer_ids:
        offer = book.get(offer_id)
        if offer is not None:
            book[offer_id] = replace(offer, guarded=True)
    for offer_id, offer in list(book.items()):
        if offer.guarded and offer.owner == event.maker and offer.deadline != event.deadline:
            book[offer_id] = replace(offer, deadline=event.deadline)
