"""bands keeps in-band offers; taker and noise take foreign offers within their budgets."""

import dataclasses
from decimal import Decimal
from fractions import Fraction
from typing import Any

from strategies.api import TAKE_MARGIN_S, LiveOffer, Snapshot
from strategies.bands import Bands, BandsParams
from strategies.money import take_cost
from strategies.noise import Noise, NoiseParams
from strategies.taker import Taker, TakerParams
from strategies.testing import BASE, ME, QUOTE, ask_offer, bid_offer, make_snapshot

OTHER = "0x00000000000000000000000000000000000000b2"
FLEET = "0x00000000000000000000000000000000000000f1"


def band(
    lo: str, avg: str, hi: str, amounts: tuple[int, int, int], dust: int = 0
) -> dict[str, object]:
    mn, av, mx = amounts
    return {
        "min_margin": lo,
        "avg_margin": avg,
        "max_margin": hi,
        "min_amount": mn,
        "avg_amount": av,
        "max_amount": mx,
        "dust_cutoff": dust,
    }


def bands() -> Bands:
    one = BASE.one
    return Bands(
        BandsParams.model_validate(
            {
                "sell_bands": [band("0.01", "0.02", "0.03", (one, 2 * one, 3 * one))],
                "buy_bands": [
                    band(
                        "0.01",
                        "0.02",
                        "0.03",
                        (2000 * QUOTE.one, 4000 * QUOTE.one, 6000 * QUOTE.one),
                    )
                ],
            }
        )
    )


def test_bands_keep_in_band_offers_unchanged() -> None:
    ask = ask_offer(1, Decimal(2030), BASE.one * 3 // 2)
    bid = bid_offer(2, Decimal(1970), 2 * BASE.one)
    decision = bands().decide(make_snapshot(own_offers=(ask, bid)))
    kept = {q.keep_id: q for q in decision.quotes if q.keep_id is not None}
    assert set(kept) == {1, 2}
    assert (kept[1].pay_amt, kept[1].buy_amt) == (ask.remaining, ask.remaining_buy)
    assert (kept[2].pay_amt, kept[2].buy_amt) == (bid.remaining, bid.remaining_buy)
    assert len(decision.quotes) == 2  # both bands already above min_amount: no churn


def test_bands_replace_out_of_band_offers_at_avg_margin() -> None:
    far = ask_offer(1, Decimal(2200), BASE.one)
    decision = bands().decide(make_snapshot(own_offers=(far,)))
    asks = [q for q in decision.quotes if q.side == "ask"]
    assert [q.keep_id for q in asks] == [None]
    assert asks[0].pay_amt == 2 * BASE.one
    assert asks[0].price >= Fraction(2040)


def test_bands_drop_offers_beyond_max_amount_and_top_up_thin_bands() -> None:
    offers = tuple(ask_offer(i, Decimal(2030), 2 * BASE.one) for i in (1, 2))
    decision = bands().decide(make_snapshot(own_offers=offers))
    asks = [q for q in decision.quotes if q.side == "ask"]
    assert [q.keep_id for q in asks] == [1]


def test_bands_top_up_is_bounded_by_balance() -> None:
    snap = make_snapshot(base_balance=BASE.one // 2, quote_balance=100 * QUOTE.one)
    decision = bands().decide(snap)
    assert sum(q.pay_amt for q in decision.quotes if q.side == "ask") == BASE.one // 2
    assert sum(q.pay_amt for q in decision.quotes if q.side == "bid") <= 100 * QUOTE.one


def taker(**kw: int) -> Taker:
    values = {"edge_bps": 50, "budget_quote": 10**12, "budget_base": 10**20}
    values.update(kw)
    return Taker(TakerParams.model_validate(values))


def market_snapshot(**fields: Any) -> Snapshot:
    """A snapshot with the test market's offers and FLEET as the fleet."""
    fields.setdefault("fleet", frozenset({FLEET}))
    return make_snapshot(asks=market()["asks"], bids=market()["bids"], **fields)


def market() -> dict[str, tuple[LiveOffer, ...]]:
    return {
        "asks": (
            ask_offer(10, Decimal(1950), BASE.one, owner=OTHER),
            ask_offer(11, Decimal(1900), BASE.one, owner=FLEET),
            ask_offer(12, Decimal(1900), BASE.one, owner=ME),
            ask_offer(13, Decimal(1995), BASE.one, owner=OTHER),
        ),
        "bids": (bid_offer(20, Decimal(2050), BASE.one, owner=OTHER),),
    }


def test_taker_takes_mispriced_foreign_offers_only() -> None:
    snap = market_snapshot()
    takes = {t.offer_id: t for t in taker().decide(snap).takes}
    assert set(takes) == {10, 20}
    ask = market()["asks"][0]
    assert takes[10].quantity == BASE.one
    assert takes[10].expected_spend == take_cost(ask.pay_amt, ask.buy_amt, BASE.one)


def test_taker_respects_budget_and_balance() -> None:
    snap = market_snapshot(quote_balance=1000 * QUOTE.one)
    takes = taker(budget_base=BASE.one // 4).decide(snap).takes
    spent = {t.offer_id: t.expected_spend for t in takes}
    assert spent[10] <= 1000 * QUOTE.one
    assert spent[20] <= BASE.one // 4
    assert all(t.quantity > 0 for t in takes)


def noise(seed: int = 7, probability: float = 1.0) -> Noise:
    return Noise(NoiseParams(seed=seed, probability=probability))


def test_noise_is_deterministic_for_seed_and_tick() -> None:
    snaps = [market_snapshot(tick=t) for t in range(20)]
    first = [noise().decide(s) for s in snaps]
    assert first == [noise().decide(s) for s in snaps]
    assert len({d.takes for d in first}) > 1  # different ticks, different choices
    assert first != [noise(seed=8).decide(s) for s in snaps]


def test_noise_never_takes_own_or_fleet_offers() -> None:
    snaps = [market_snapshot(tick=t) for t in range(50)]
    taken = {t.offer_id for s in snaps for t in noise().decide(s).takes}
    assert taken and taken <= {10, 13, 20}


def test_takers_do_nothing_without_reference_price() -> None:
    snap = market_snapshot(reference_price=None)
    for strategy in (taker(), noise(), bands()):
        decision = strategy.decide(snap)
        assert decision.quotes == () and decision.takes == () and decision.reason


def test_takers_skip_offers_whose_dead_mans_switch_runs_out_before_a_take_lands() -> None:
    now = make_snapshot().timestamp
    cheap = ask_offer(10, Decimal(1950), BASE.one, owner=OTHER)
    soon = dataclasses.replace(cheap, deadline=now + TAKE_MARGIN_S - 1, guarded=True)
    later = dataclasses.replace(cheap, id=11, deadline=now + TAKE_MARGIN_S + 1, guarded=True)
    snap = make_snapshot(asks=(soon, later), fleet=frozenset({FLEET}))

    assert [t.offer_id for t in taker().decide(snap).takes] == [11]
    assert {t.offer_id for t in noise().decide(snap).takes} <= {11}
