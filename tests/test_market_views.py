"""Paging through the book: the active-offer bitmap, its hot window and the rollover into words.

A pair's newest 64 ids keep their active bits in the pair's slot (the hot window); when a new
window starts, the old bits move to `_activeWords`, 256 ids per word. Whatever the layout, the
pages must list exactly the active offers, in id order, each once.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3.contract import Contract

from tests.chainfixtures import World, offer_id, rolled_back

MAKERS = ("alice", "bob", "carol")
TAKER = "dave"
FUNDS = 10**12
SEQ = 1 << 64
# Offers per ordered pair: 300 spans two bitmap words and rolls the hot window four times.
PAIR_SIZES = {1: 300, 2: 70, 3: 5}
CLOSE_SEED = 20_240_611
GAS = 400_000  # known-good calls skip estimation: building the book is 500 transactions
Page = tuple[list[tuple[Any, ...]], int]


@dataclass
class Book:
    """The market, its tokens, and what the tests expect to be active."""

    world: World
    market: Contract
    tokens: dict[int, tuple[Contract, Contract]]  # pair id -> (pay, buy)
    owner: dict[int, str] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)

    def make(self, pair: int, maker: str) -> int:
        pay, buy = self.tokens[pair]
        call = self.market.functions.offer(10, pay.address, 30, buy.address)
        id_ = offer_id(self.market, self.world.send(maker, call, gas=GAS))
        self.owner[id_] = maker
        self.active.add(id_)
        return id_

    def close(self, id_: int, how: str) -> None:
        if how == "cancel":
            self.world.send(self.owner[id_], self.market.functions.cancel(id_), gas=GAS)
        else:
            self.world.send(TAKER, self.market.functions.buy(id_, 10), gas=GAS)
        self.active.remove(id_)

    def expected(self, pair: int | None = None, owner: str | None = None) -> list[int]:
        return sorted(
            i
            for i in self.active
            if (pair is None or i >> 64 == pair) and (owner is None or self.owner[i] == owner)
        )


def collect(fetch: Callable[[int, int], Page], count: int, cursor: int = 0) -> list[int]:
    """Follow `next` cursors from `cursor` until the scan reports the end."""
    ids: list[int] = []
    for _ in range(10_000):
        page, following = fetch(cursor, count)
        assert len(page) <= count
        ids += [view[0] for view in page]
        if following == 0:
            return ids
        assert following > cursor
        cursor = following
    raise AssertionError("the cursor never reached the end")


def build(world: World) -> Book:
    market = world.deploy("OtcMarket")
    bnd, usd, eur = world.asset("BND"), world.asset("USD"), world.asset("EUR")
    for token in (bnd, usd, eur):
        world.fund(token, dict.fromkeys((*MAKERS, TAKER), FUNDS), market)
    book = Book(world, market, {1: (bnd, usd), 2: (usd, bnd), 3: (bnd, eur)})
    for pair, size in PAIR_SIZES.items():
        for n in range(size):
            book.make(pair, MAKERS[n % len(MAKERS)])
    rng = random.Random(CLOSE_SEED)
    first, newest, top_bit = SEQ | 1, SEQ | PAIR_SIZES[1], SEQ | 255
    boundaries = {SEQ | s for s in (63, 64, 127, 191, 192, 254, 256)}
    for id_ in sorted(book.owner):
        if id_ in boundaries | {first, newest} or (id_ != top_bit and rng.random() < 0.3):
            book.close(id_, rng.choice(["cancel", "buy"]))
    return book


@pytest.fixture(scope="module")
def built_book(session_world: World) -> Iterator[Book]:
    with rolled_back(session_world):
        yield build(session_world)


@pytest.fixture
def book(built_book: Book, world: World) -> Book:
    """The module's book with private expectations; `world` rolls the chain back after."""
    return dataclasses.replace(built_book, active=set(built_book.active))


def as_page(call: Any) -> Page:
    page, following = call.call()
    return list(page), int(following)


def all_offers(book: Book) -> Callable[[int, int], Page]:
    return lambda cursor, count: as_page(book.market.functions.getOffers(cursor, count))


def pair_offers(book: Book, pair: int) -> Callable[[int, int], Page]:
    pay, buy = book.tokens[pair]
    fn = book.market.functions.getPairOffers
    return lambda cursor, count: as_page(fn(pay.address, buy.address, cursor, count))


def owner_offers(book: Book, owner: str) -> Callable[[int, int], Page]:
    fn, address = book.market.functions.getOwnerOffers, book.world.addr(owner)
    return lambda cursor, count: as_page(fn(address, cursor, count))


def test_the_book_holds_closed_offers_in_every_window(book: Book) -> None:
    """Guards the fixture: the closes must hit parked windows, the hot window and both words."""
    pair_one = {i & (SEQ - 1) for i in book.owner if i >> 64 == 1} - {
        i & (SEQ - 1) for i in book.active
    }
    assert {s >> 6 for s in pair_one} == {0, 1, 2, 3, 4}
    assert SEQ | 255 in book.active  # the highest bit of a bitmap word
    assert {s >> 8 for s in pair_one} == {0, 1}
    assert 20 < len(book.active) < len(book.owner) - 20


@pytest.mark.parametrize("count", [1, 7, 50])
def test_get_offers_pages_list_exactly_the_active_offers_in_id_order(
    book: Book, count: int
) -> None:
    ids = collect(all_offers(book), count)

    assert ids == book.expected()


def test_get_offers_pages_carry_each_offers_details(book: Book) -> None:
    page, _ = book.market.functions.getOffers(0, 50).call()

    assert len(page) == 50
    for view in page:
        assert view == book.market.functions.offerInfo(view[0]).call()
        assert view[1] == book.world.addr(book.owner[view[0]])


@pytest.mark.parametrize("count", [1, 7, 50])
@pytest.mark.parametrize("pair", sorted(PAIR_SIZES))
def test_get_pair_offers_pages_list_only_that_pairs_active_offers(
    book: Book, pair: int, count: int
) -> None:
    ids = collect(pair_offers(book, pair), count)

    assert ids == book.expected(pair=pair)


def test_get_pair_offers_from_a_cursor_outside_the_pair(book: Book) -> None:
    fetch = pair_offers(book, 2)

    assert collect(fetch, 50, cursor=0) == book.expected(pair=2)
    assert collect(fetch, 50, cursor=SEQ | 5) == book.expected(pair=2)  # inside pair 1
    assert fetch(3 * SEQ, 50) == ([], 0)
    assert fetch(2 * SEQ + PAIR_SIZES[2] + 1, 50) == ([], 0)
    assert fetch(2**256 - 1, 50) == ([], 0)


def test_get_pair_offers_of_an_unknown_pair_is_empty(book: Book) -> None:
    _, usd = book.tokens[1]
    _, eur = book.tokens[3]
    fn = book.market.functions.getPairOffers
    assert as_page(fn(usd.address, eur.address, 0, 50)) == ([], 0)


def test_get_offers_resumes_at_the_cursor(book: Book) -> None:
    expected = book.expected()
    active, closed = expected[40], next(i for i in sorted(book.owner) if i not in book.active)

    assert collect(all_offers(book), 7, cursor=active) == expected[40:]
    assert collect(all_offers(book), 7, cursor=closed) == [i for i in expected if i > closed]
    assert all_offers(book)(4 * SEQ, 7) == ([], 0)


@pytest.mark.parametrize("count", [1, 7, 50])
@pytest.mark.parametrize("owner", [*MAKERS, TAKER])
def test_get_owner_offers_pages_list_only_that_owners_active_offers(
    book: Book, owner: str, count: int
) -> None:
    ids = collect(owner_offers(book, owner), count)

    assert ids == book.expected(owner=owner)


def test_offers_from_before_and_after_a_rollover_close_and_leave_the_views(book: Book) -> None:
    parked_hot = [i for i in book.expected(pair=1) if i & (SEQ - 1) >= 256]  # hot window until now
    fresh = [book.make(1, MAKERS[n % 3]) for n in range(25)]  # seq 301..325: rolls over at 320
    assert [i & (SEQ - 1) for i in fresh] == list(range(301, 326))
    older = [i for i in book.expected(pair=1) if i & (SEQ - 1) < 256]

    for i, id_ in enumerate([parked_hot[0], parked_hot[-1], fresh[0], fresh[18], older[0]]):
        book.close(id_, "cancel" if i % 2 else "buy")
        assert not book.market.functions.isActive(id_).call()
    for id_ in (fresh[19], fresh[20], fresh[-1]):  # the new hot window: seq 320, 321, 325
        book.close(id_, "cancel")

    assert collect(all_offers(book), 7) == book.expected()
    assert collect(pair_offers(book, 1), 50) == book.expected(pair=1)
    assert collect(owner_offers(book, "alice"), 50) == book.expected(owner="alice")
