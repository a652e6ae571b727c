"""Partial-fill arithmetic: every fill costs `ceil(quantity * buyAmt / payAmt)`, never less.

The maker is paid at least its exact price on every fill, however small, and the remainder keeps
the original rate: maker-otc rounded down and re-derived the rate from the remainders instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chainfixtures import TwoAssetMarket, World, ceil_div, rolled_back, two_asset_market

TOP = 2**96 - 1  # the largest amount an offer can hold
FUNDS = 2**120  # room for many offers of the largest amount


@dataclass
class Book(TwoAssetMarket):
    """Alice makes every offer; fills are measured by what she receives."""

    def usd_of(self, who: str) -> int:
        return self.balance(self.usd, who)

    def fill(self, id_: int, quantity: int, taker: str = "bob") -> int:
        """Buy `quantity` of offer `id_`; return what the maker received."""
        before = self.usd_of("alice")
        self.world.send(taker, self.market.functions.buy(id_, quantity))
        return self.usd_of("alice") - before

    def assert_keeps_its_rate(self, id_: int, pay_amt: int, buy_amt: int, remaining: int) -> None:
        info = self.market.functions.offerInfo(id_).call()
        assert (info[4], info[5], info[6]) == (pay_amt, buy_amt, remaining)
        assert info[7] == ceil_div(remaining * buy_amt, pay_amt)


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[Book]:
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, Book, ("alice", "bob", "carol"), FUNDS, usd_decimals=18
        )


def fill_plan(pay_amt: int) -> list[int]:
    """A few 1-unit fills, a middling one, then whatever remains."""
    ones = [1] * min(3, pay_amt)
    rest = pay_amt - len(ones)
    middle = [rest // 3] if rest // 3 > 0 else []
    last = rest - sum(middle)
    return ones + middle + ([last] if last > 0 else [])


RATES = [
    pytest.param(1_000, 1_000, id="1:1"),
    pytest.param(3, 7, id="3:7"),
    pytest.param(7, 3, id="7:3"),
    pytest.param(3_000, 7_000, id="3000:7000"),
    pytest.param(7_000_003, 3_000_001, id="7000003:3000001"),
    pytest.param(1, TOP, id="1:max"),
    pytest.param(5, TOP, id="5:max"),
    pytest.param(TOP, 1, id="max:1"),
    pytest.param(TOP, TOP - 2, id="max:max-2"),
    pytest.param(TOP, 3, id="max:3"),
]


@pytest.mark.parametrize(("pay_amt", "buy_amt"), RATES)
def test_every_partial_fill_pays_the_maker_at_least_its_exact_price(
    book: Book, pay_amt: int, buy_amt: int
) -> None:
    id_ = book.make("alice", pay_amt, buy_amt)
    remaining, sold, received = pay_amt, 0, 0

    for quantity in fill_plan(pay_amt):
        quoted = book.market.functions.spendFor(id_, quantity).call()
        paid = book.fill(id_, quantity)
        exact = Fraction(quantity * buy_amt, pay_amt)
        assert paid == quoted
        assert exact <= paid < exact + 1
        remaining, sold, received = remaining - quantity, sold + quantity, received + paid
        assert received >= Fraction(sold * buy_amt, pay_amt)
        if remaining:
            book.assert_keeps_its_rate(id_, pay_amt, buy_amt, remaining)

    assert not book.market.functions.isActive(id_).call()
    assert received >= buy_amt


@pytest.mark.parametrize(("pay_amt", "buy_amt"), [(20, 7), (20, 13), (20, 20), (7, 20), (9, 10)])
def test_unit_fills_pay_the_maker_no_less_than_one_fill(
    book: Book, pay_amt: int, buy_amt: int
) -> None:
    one_by_one, all_at_once = (
        book.make("alice", pay_amt, buy_amt),
        book.make("alice", pay_amt, buy_amt),
    )

    piecewise = 0
    for left in range(pay_amt - 1, -1, -1):
        piecewise += book.fill(one_by_one, 1, taker="bob")
        if left:
            book.assert_keeps_its_rate(one_by_one, pay_amt, buy_amt, left)
    whole = book.fill(all_at_once, pay_amt, taker="carol")

    assert whole == buy_amt
    assert piecewise == pay_amt * ceil_div(buy_amt, pay_amt)
    assert piecewise >= whole


@pytest.mark.parametrize(("pay_amt", "buy_amt"), [(TOP, 1), (10**20, 1), (2, 1), (TOP, TOP - 1)])
def test_a_one_unit_fill_never_costs_zero(book: Book, pay_amt: int, buy_amt: int) -> None:
    id_ = book.make("alice", pay_amt, buy_amt)

    assert book.market.functions.spendFor(id_, 1).call() == 1
    assert book.fill(id_, 1) == 1
    book.assert_keeps_its_rate(id_, pay_amt, buy_amt, pay_amt - 1)


def test_the_largest_offer_fills_exactly_at_its_price(book: Book) -> None:
    id_ = book.make("alice", TOP, TOP)

    assert book.fill(id_, TOP - 1) == TOP - 1
    assert book.fill(id_, 1, taker="carol") == 1
    assert not book.market.functions.isActive(id_).call()


amounts = st.one_of(st.integers(1, 20), st.integers(1, 10**9), st.integers(1, TOP))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pay_amt=amounts, buy_amt=amounts, data=st.data())
def test_spend_for_is_the_exact_price_rounded_up(
    book: Book, pay_amt: int, buy_amt: int, data: st.DataObject
) -> None:
    id_ = book.make("alice", pay_amt, buy_amt)
    quantities = {1, pay_amt, data.draw(st.integers(1, pay_amt), label="quantity")}

    for quantity in sorted(quantities):
        spend = book.market.functions.spendFor(id_, quantity).call()
        exact = Fraction(quantity * buy_amt, pay_amt)
        assert exact <= spend < exact + 1
        assert spend >= 1
