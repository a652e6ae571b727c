"""Risk limits and safety stops between a strategy's wishes and the chain. Pure.

A strategy can be buggy or a third-party plug-in; the runner never trusts it with more than the
config allows. Limits *trim* a decision: too many quotes, inventory caps, amounts the market
cannot hold (2^96 base units or more), quotes that would cross the best opposite offer
(`post_only`), makes the free balance cannot pay for once the plan is known. Safety stops *halt*
new risk for a tick (stale or refused price, gas price above the cap, balances that cannot back
the quotes, gas money below the floor or the reserve for cancelling everything, a journal that
cannot be written): the bot keeps
running, still pulls offers it no longer wants, and resumes by itself once the cause clears.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bots.market.gas import TAKE, cancel_all_gas, requote_gas
from bots.tick.limits import RiskLimits
from strategies.api import Decision, LiveOffer, Quote, Snapshot, Take
from strategies.money import offer_price

STOP_REASONS = (
    "stale_feed",
    "price_band",
    "price_jump",
    "gas_cap",
    "balances",
    "gas_balance",
    "gas_reserve",
    "journal",
)
AMOUNT_LIMIT = 2**96  # the market stores amounts as uint96 and reverts at or above this
RESERVE_NUM, RESERVE_DEN = 3, 2  # the gas reserve covers 1.5x the cancel-everything bound


@dataclass(frozen=True, slots=True)
class Conditions:
    """Facts from outside the snapshot that decide the safety stops.

    `gas_price_wei` is the most a transaction can pay per gas now (EIP-1559 max fee);
    `price_stop` is `(reason, why)` when the price guard refused the feed's reading;
    `external` holds `(reason, why)` stops raised outside the tick (the service's `journal`
    stop when the journal of signed transactions cannot be written): no makes or takes.
    """

    feed_fresh: bool
    gas_price_wei: int
    native_balance_wei: int
    price_stop: tuple[str, str] | None = None
    external: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Guarded:
    """The decision to carry out, the safety stops in force and why quotes were dropped."""

    decision: Decision
    stops: dict[str, str]
    notes: tuple[str, ...] = ()

    @property
    def may_send(self) -> bool:
        """False when no transaction at all may be sent (the gas price is above the cap)."""
        return "gas_cap" not in self.stops

    @property
    def may_add_risk(self) -> bool:
        """False when new offers and takes are suspended; cancels still go out."""
        return not self.stops


def guard(
    decision: Decision, snapshot: Snapshot, limits: RiskLimits, conditions: Conditions
) -> Guarded:
    """Apply limits, then work out which safety stops are in force for this tick."""
    notes: list[str] = []
    quotes = _storable(decision.quotes, notes)
    if limits.post_only:
        quotes = _not_crossing(quotes, snapshot, notes)
    quotes = _cap_open_offers(quotes, limits.max_open_offers, notes)
    quotes = _cap_inventory(quotes, snapshot, limits, notes)
    takes = _cap_take_inventory(decision.takes, snapshot, limits, notes)
    trimmed = dataclasses.replace(decision, quotes=tuple(quotes), takes=tuple(takes))
    return Guarded(trimmed, _stops(trimmed, snapshot, limits, conditions), tuple(notes))


def _stops(
    decision: Decision, snapshot: Snapshot, limits: RiskLimits, conditions: Conditions
) -> dict[str, str]:
    stops: dict[str, str] = {}
    if not conditions.feed_fresh:
        stops["stale_feed"] = f"no price fresher than {limits.feed_max_age_s:g}s"
    if conditions.price_stop is not None:
        reason, why = conditions.price_stop
        stops[reason] = why
    for reason, why in conditions.external:
        stops[reason] = why
    cap = limits.max_gas_price_wei
    if cap is not None and conditions.gas_price_wei > cap:
        stops["gas_cap"] = f"gas price {conditions.gas_price_wei} wei above the cap of {cap}"
    if conditions.native_balance_wei < limits.min_gas_balance_wei:
        stops["gas_balance"] = (
            f"gas money {conditions.native_balance_wei} wei below {limits.min_gas_balance_wei}"
        )
    reserve = _reserve_shortfall(decision, snapshot, limits, conditions)
    if reserve:
        stops["gas_reserve"] = reserve
    short = _unbacked(decision, snapshot)
    if short:
        stops["balances"] = "; ".join(
            f"need {need} of {token}, have {have}" for token, (need, have) in short.items()
        )
    return stops


def _unbacked(decision: Decision, snapshot: Snapshot) -> dict[str, tuple[int, int]]:
    """Tokens whose free plus escrowed balance cannot cover all quotes and takes at once."""
    need: defaultdict[str, int] = defaultdict(int)
    for quote in decision.quotes:
        need[quote.pay_token] += quote.pay_amt
    offers = _offers_by_id(snapshot)
    for take in decision.takes:
        offer = offers.get(take.offer_id)
        if offer is not None:
            need[offer.buy_token] += take.expected_spend
    have = {
        token: snapshot.balances.get(token, 0) + snapshot.escrowed.get(token, 0) for token in need
    }
    return {token: (amount, have[token]) for token, amount in need.items() if amount > have[token]}


def _reserve_shortfall(
    decision: Decision, snapshot: Snapshot, limits: RiskLimits, conditions: Conditions
) -> str:
    """Why this tick's sends would leave too little gas money to cancel every offer, or ""."""
    price = conditions.gas_price_wei
    if not limits.gas_reserve or price == 0:
        return ""
    own, wanted = len(snapshot.own_offers), len(decision.quotes)
    spend = (requote_gas(own, wanted) + len(decision.takes) * TAKE) * price
    after = max(own, wanted)
    reserve = cancel_all_gas(after) * price * RESERVE_NUM // RESERVE_DEN
    if conditions.native_balance_wei >= spend + reserve:
        return ""
    return (
        f"gas money {conditions.native_balance_wei} wei is below this tick's {spend} wei plus "
        f"the {reserve} wei reserved to cancel {after} offer(s) at {price} wei/gas"
    )


def plan_shortfall(
    makes: Sequence[Quote], cancels: Sequence[tuple[int, int]], snapshot: Snapshot
) -> dict[str, tuple[int, int]]:
    """Tokens the plan's makes need more of than the free balance plus what its cancels release.

    This is the exact test the market applies to a `requote` (escrow is netted per token), so a
    plan that passes it cannot revert for want of balance; kept offers keep their escrow.
    """
    released: defaultdict[str, int] = defaultdict(int)
    remaining = {offer.id: offer for offer in snapshot.own_offers}
    for offer_id, amount in cancels:
        offer = remaining.get(offer_id)
        if offer is not None:
            released[offer.pay_token] += amount
    need: defaultdict[str, int] = defaultdict(int)
    for quote in makes:
        need[quote.pay_token] += quote.pay_amt
    have = {token: snapshot.balances.get(token, 0) + released[token] for token in need}
    return {token: (amount, have[token]) for token, amount in need.items() if amount > have[token]}


def _storable(quotes: Iterable[Quote], notes: list[str]) -> list[Quote]:
    """Quotes whose amounts the market can store (below 2^96 base units)."""
    quotes = list(quotes)
    kept = [q for q in quotes if q.pay_amt < AMOUNT_LIMIT and q.buy_amt < AMOUNT_LIMIT]
    if len(kept) < len(quotes):
        notes.append(f"dropped {len(quotes) - len(kept)} quote(s) with amounts of 2^96 or more")
    return kept


def _not_crossing(quotes: list[Quote], snapshot: Snapshot, notes: list[str]) -> list[Quote]:
    """Drop quotes at or through the best opposite offer of someone else: a maker quote that
    crosses is either a give-away (a wrong price) or a take, which strategies ask for as such."""
    base, quote, own = snapshot.base, snapshot.quote, snapshot.own_address
    best_bid = max(
        (offer_price(base, quote, o.buy_amt, o.pay_amt) for o in snapshot.bids if o.owner != own),
        default=None,
    )
    best_ask = min(
        (offer_price(base, quote, o.pay_amt, o.buy_amt) for o in snapshot.asks if o.owner != own),
        default=None,
    )
    kept = [
        q
        for q in quotes
        if not (q.side == "bid" and best_ask is not None and q.price >= best_ask)
        and not (q.side == "ask" and best_bid is not None and q.price <= best_bid)
    ]
    if len(kept) < len(quotes):
        notes.append(f"post_only: dropped {len(quotes) - len(kept)} quote(s) crossing the book")
    return kept


def _cap_open_offers(quotes: Iterable[Quote], limit: int, notes: list[str]) -> list[Quote]:
    """Keep the `limit` most competitive quotes, alternating sides so both stay quoted."""
    quotes = list(quotes)
    if len(quotes) <= limit:
        return quotes
    bids = sorted((q for q in quotes if q.side == "bid"), key=lambda q: -q.price)
    asks = sorted((q for q in quotes if q.side == "ask"), key=lambda q: q.price)
    kept: list[Quote] = []
    for index in range(max(len(bids), len(asks))):
        kept.extend(side[index] for side in (bids, asks) if index < len(side))
    notes.append(f"max_open_offers: kept {limit} of {len(quotes)} quotes")
    return kept[:limit]


def _cap_inventory(
    quotes: list[Quote], snapshot: Snapshot, limits: RiskLimits, notes: list[str]
) -> list[Quote]:
    """Drop the least competitive quotes that could, if all filled, breach an inventory cap."""
    kept: list[Quote] = []
    for side, token, cap in (
        ("bid", snapshot.base, limits.max_base_inventory),
        ("ask", snapshot.quote, limits.max_quote_inventory),
    ):
        ordered = sorted(
            (q for q in quotes if q.side == side),
            key=lambda q: -q.price if q.side == "bid" else q.price,
        )
        within = _within_cap(ordered, snapshot.available(token), cap)
        if len(within) < len(ordered):
            dropped = len(ordered) - len(within)
            notes.append(f"max inventory of {token.symbol}: dropped {dropped} {side}(s)")
        kept.extend(within)
    return kept


def _within_cap(ordered: list[Quote], holdings: int, cap: int | None) -> list[Quote]:
    if cap is None:
        return ordered
    kept: list[Quote] = []
    for quote in ordered:
        holdings += quote.buy_amt
        if holdings > cap:
            break
        kept.append(quote)
    return kept


def _cap_take_inventory(
    takes: Iterable[Take], snapshot: Snapshot, limits: RiskLimits, notes: list[str]
) -> list[Take]:
    caps = {
        snapshot.base.address: limits.max_base_inventory,
        snapshot.quote.address: limits.max_quote_inventory,
    }
    holdings = {t.address: snapshot.available(t) for t in (snapshot.base, snapshot.quote)}
    offers = _offers_by_id(snapshot)
    kept: list[Take] = []
    for take in takes:
        offer = offers.get(take.offer_id)
        if offer is None:
            notes.append(f"take of unknown offer {take.offer_id} dropped")
            continue
        cap = caps.get(offer.pay_token)
        bought = holdings.get(offer.pay_token, 0) + take.quantity
        if cap is not None and bought > cap:
            notes.append(f"take of offer {take.offer_id} dropped: inventory cap")
            continue
        holdings[offer.pay_token] = bought
        kept.append(take)
    return kept


def _offers_by_id(snapshot: Snapshot) -> dict[int, LiveOffer]:
    return {offer.id: offer for offer in (*snapshot.bids, *snapshot.asks)}
