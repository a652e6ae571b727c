"""price_sensitive: Avellaneda-Stoikov arrivals, A * exp(-k * delta), and only prices it accepts.

The rates are checked on many seeded ticks against the model's own formula, with a tolerance of
four binomial standard deviations (deterministic: the seed fixes every draw, so the test cannot
flake; the tolerance only says how close a fair model must come).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from strategies.api import Snapshot
from strategies.money import offer_price, take_cost
from strategies.noise import Noise, NoiseParams
from strategies.price_sensitive import PriceSensitive, PriceSensitiveParams, acceptance
from strategies.registry import build_strategy
from strategies.testing import BASE, QUOTE, ask_offer, bid_offer, make_snapshot

OTHER = "0x00000000000000000000000000000000000000b2"
REF = Decimal("2000")
TICKS = 4000


def flow(**params: object) -> PriceSensitive:
    values: dict[str, object] = {"seed": 7, "intensity": 0.4, "k_per_bp": 0.05}
    values |= {"max_size": BASE.one}
    return PriceSensitive(PriceSensitiveParams.model_validate(values | params))


def book(distance_bps: int) -> Snapshot:
    """One foreign ask and one foreign bid, each `distance_bps` from the reference."""
    away = Decimal(distance_bps) / 10_000
    ask = ask_offer(1, REF * (1 + away), 5 * BASE.one, owner=OTHER)
    bid = bid_offer(2, REF * (1 - away), 5 * BASE.one, owner=OTHER)
    return make_snapshot(REF, asks=(ask,), bids=(bid,))


def taken_sides(strategy: PriceSensitive | Noise, snapshot: Snapshot) -> tuple[int, int]:
    """(ticks that lifted the ask, ticks that hit the bid) over TICKS ticks."""
    buys = sells = 0
    for tick in range(TICKS):
        decision = strategy.decide(Snapshot(**{**_fields(snapshot), "tick": tick}))
        for take in decision.takes:
            buys += take.offer_id == 1
            sells += take.offer_id == 2
    return buys, sells


def _fields(snapshot: Snapshot) -> dict[str, object]:
    return {name: getattr(snapshot, name) for name in Snapshot.__slots__}


@pytest.mark.parametrize("distance_bps", [0, 10, 25, 60])
def test_orders_reach_a_quote_at_the_rate_a_exp_minus_k_delta(distance_bps: int) -> None:
    strategy = flow()
    buys, sells = taken_sides(strategy, book(distance_bps))

    # The quotes sit a hair outside `distance_bps` (rounding in the maker's favour): the model's
    # rate at their exact distance is what the orders must match.
    snapshot = book(distance_bps)
    ask, bid = snapshot.asks[0], snapshot.bids[0]
    ask_bps = float(
        (offer_price(BASE, QUOTE, ask.pay_amt, ask.buy_amt) / Fraction(REF) - 1) * 10_000
    )
    bid_bps = float(
        (1 - offer_price(BASE, QUOTE, bid.buy_amt, bid.pay_amt) / Fraction(REF)) * 10_000
    )
    for observed, away in ((buys, ask_bps), (sells, bid_bps)):
        p = acceptance(0.4, 0.05, away)
        sd = math.sqrt(TICKS * p * (1 - p))
        assert abs(observed - TICKS * p) <= 4 * sd + 1, (distance_bps, observed, TICKS * p)


def test_a_price_far_from_the_reference_is_never_taken_where_noise_takes_it() -> None:
    far = book(3000)  # 30%: exp(-0.05 * 3000) is 1e-65
    assert taken_sides(flow(), far) == (0, 0)
    noise = Noise(NoiseParams(seed=7, probability=0.4))
    buys, sells = taken_sides(noise, far)
    assert buys > 100 and sells > 100  # the price-blind flow takes it as often as a tight quote


def test_every_take_pays_what_the_order_accepts_at_its_exact_cost() -> None:
    strategy = flow(k_per_bp=0.02)
    snapshot = book(40)
    ask, bid = snapshot.asks[0], snapshot.bids[0]
    for tick in range(TICKS):
        for take in strategy.decide(Snapshot(**{**_fields(snapshot), "tick": tick})).takes:
            offer = ask if take.offer_id == 1 else bid
            assert take.expected_spend == take_cost(offer.pay_amt, offer.buy_amt, take.quantity)
            if offer is ask:  # bought at most max_size base, paying about the ask
                assert 0 < take.quantity <= BASE.one
            else:  # sold at most max_size base for the bid's quote
                assert 0 < take.expected_spend <= BASE.one


def test_own_offers_and_no_reference_are_left_alone() -> None:
    own = make_snapshot(REF, asks=(ask_offer(1, REF, BASE.one),))  # owner: ME
    assert taken_sides(flow(), own) == (0, 0)
    assert flow().decide(make_snapshot(None, asks=book(0).asks)).takes == ()


def test_same_seed_same_orders_and_a_registered_strategy() -> None:
    snapshot = book(10)
    assert taken_sides(flow(), snapshot) == taken_sides(flow(), snapshot)
    assert taken_sides(flow(seed=8), snapshot) != taken_sides(flow(), snapshot)
    built = build_strategy("price_sensitive", {"seed": 1, "max_size": 10})
    assert isinstance(built, PriceSensitive)


@pytest.mark.parametrize(
    "params",
    [
        {"seed": 1, "max_size": 10, "intensity": 0.6},  # two sides: 2A would exceed 1
        {"seed": 1, "max_size": 10, "k_per_bp": 0},
        {"seed": 1, "max_size": 10, "min_size": 11},
    ],
)
def test_params_out_of_the_model_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_strategy("price_sensitive", params)
