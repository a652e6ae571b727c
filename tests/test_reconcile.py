"""The reconciler: pure, fewest actions, no churn for tiny moves, idempotent."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.tick.reconcile import Plan, Tolerance, reconcile
from strategies.api import LiveOffer, Quote
from strategies.money import take_cost
from strategies.testing import BASE, ME, QUOTE

ONE = 10**18


def live_from(quote: Quote, offer_id: int, remaining: int | None = None) -> LiveOffer:
    left = quote.pay_amt if remaining is None else remaining
    return LiveOffer(
        id=offer_id,
        owner=ME,
        pay_token=quote.pay_token,
        buy_token=quote.buy_token,
        pay_amt=quote.pay_amt,
        buy_amt=quote.buy_amt,
        remaining=left,
        remaining_buy=take_cost(quote.pay_amt, quote.buy_amt, left),
    )


def apply(plan: Plan, next_id: int) -> list[LiveOffer]:
    made = [live_from(q, next_id + i) for i, q in enumerate(plan.makes)]
    return list(plan.keep) + made


def test_identical_book_needs_no_action() -> None:
    desired = [
        Quote.ask(BASE, QUOTE, ONE, Decimal(2000)),
        Quote.bid(BASE, QUOTE, ONE, Decimal(1990)),
    ]
    live = [live_from(q, i + 1) for i, q in enumerate(desired)]
    plan = reconcile(desired, live)
    assert plan.is_empty and len(plan.keep) == 2


def test_tiny_price_move_is_ignored_but_a_real_one_requotes() -> None:
    live = [live_from(Quote.ask(BASE, QUOTE, ONE, Decimal(2000)), 1)]
    assert reconcile([Quote.ask(BASE, QUOTE, ONE, Decimal("2000.5"))], live).is_empty
    plan = reconcile([Quote.ask(BASE, QUOTE, ONE, Decimal(2010))], live)
    assert plan.cancels == ((1, ONE),) and len(plan.makes) == 1


def test_partly_taken_offer_is_replaced_when_too_small_with_its_seen_remaining() -> None:
    quote = Quote.ask(BASE, QUOTE, ONE, Decimal(2000))
    live = [live_from(quote, 9, remaining=ONE // 3)]
    plan = reconcile([quote], live)
    assert plan.cancels == ((9, ONE // 3),)
    assert plan.makes == (quote,)


def test_keep_id_keeps_that_offer_whatever_its_price() -> None:
    old = live_from(Quote.ask(BASE, QUOTE, ONE, Decimal(1500)), 4)
    restated = Quote("ask", old.pay_amt, old.buy_amt, BASE, QUOTE, keep_id=4)
    assert reconcile([restated], [old]).is_empty


def test_no_desired_quotes_cancels_everything() -> None:
    bid = Quote.bid(BASE, QUOTE, ONE, Decimal(1999))
    assert bid.pay_amt == 1999 * 10**6  # a bid escrows quote: 1999 USDC for 1 WETH
    assert reconcile([], [live_from(bid, 3)]).cancels == ((3, bid.pay_amt),)


def test_an_offer_is_matched_at_most_once() -> None:
    quote = Quote.ask(BASE, QUOTE, ONE, Decimal(2000))
    plan = reconcile([quote, quote], [live_from(quote, 1)])
    assert len(plan.keep) == 1 and len(plan.makes) == 1


prices = st.decimals(min_value=Decimal(1), max_value=Decimal(5000), places=2)
sizes = st.integers(min_value=10**15, max_value=10**20)
quotes = st.builds(
    lambda side, size, price: (Quote.ask if side else Quote.bid)(BASE, QUOTE, size, price),
    st.booleans(),
    sizes,
    prices,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(quotes, max_size=8),
    st.lists(quotes, max_size=8),
    st.integers(0, 50),
    st.integers(0, 2000),
)
def test_reconciling_twice_is_a_no_op(
    desired: list[Quote], old: list[Quote], price_bps: int, size_bps: int
) -> None:
    tolerance = Tolerance(price_bps, size_bps)
    live = [live_from(q, i + 1) for i, q in enumerate(old)]
    plan = reconcile(desired, live, tolerance)
    after = apply(plan, next_id=1_000)
    assert reconcile(desired, after, tolerance).is_empty


@settings(max_examples=200, deadline=None)
@given(st.lists(quotes, max_size=8), st.lists(quotes, max_size=8))
def test_every_live_offer_is_kept_or_cancelled_exactly_once(
    desired: list[Quote], old: list[Quote]
) -> None:
    live = [live_from(q, i + 1) for i, q in enumerate(old)]
    plan = reconcile(desired, live)
    kept = [o.id for o in plan.keep]
    cancelled = [i for i, _ in plan.cancels]
    assert sorted(kept + cancelled) == sorted(o.id for o in live)
    assert len(plan.keep) + len(plan.makes) == len(desired)
