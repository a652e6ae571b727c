"""Risk limits and safety stops between a strategy's wishes and the chain. Pure.

A strategy can be buggy or a third-party plug-in; the runner never trusts it with more than the
config allows. Limits *trim* a decision (too many quotes, inventory caps). Safety stops *halt*
new risk for a tick (stale feed, gas price above the cap, balances that cannot back the
quotes, too little gas money): the bot keeps running, still pulls offers it no longer wants,
and resumes by itself once the cause clears.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bots.tick.limits import RiskLimits
from strategies.api import Decision, LiveOffer, Quote, Snapshot, Take

STOP_REASONS = ("stale_feed", "gas_cap", "balances", "gas_balance")


@dataclass(frozen=True, slots=True)
class Conditions:
    """Facts from outside the snapshot that decide the safety stops."""

    feed_fresh: bool
    gas_price_wei: int
    native_balance_wei: int


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
    quotes = _cap_open_offers(decision.quotes, limits.max_open_offers, notes)
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
    cap = limits.max_gas_price_wei
    if cap is not None and conditions.gas_price_wei > cap:
        stops["gas_cap"] = f"gas price {conditions.gas_price_wei} wei above the cap of {cap}"
    if conditions.native_balance_wei < limits.min_gas_balance_wei:
        stops["gas_balance"] = (
            f"gas money {conditions.native_balance_wei} wei below {limits.min_gas_balance_wei}"
        )
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
