"""The dead-man's switch: guarded offers cannot be taken after their maker's deadline.

Time is the chain's: each take that must land at a given second is mined in a block whose
timestamp is set with anvil's `evm_setNextBlockTimestamp`, and sent with fixed gas so that a
revert is mined too (no estimate against another second's state).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from web3.types import TxReceipt

from bots.errors import TxError
from tests.chainfixtures import TwoAssetMarket, World, events, rolled_back, two_asset_market

FUNDS = 10**12
GAS = 2_000_000
AHEAD = 1_000  # seconds from "now" to a test's deadline: far more than a test takes to run
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Book(TwoAssetMarket):
    def spec(self, pay_amt: int, buy_amt: int, *, reverse: bool = False) -> tuple[Any, ...]:
        pay, buy = self.pair(reverse)
        return (pay_amt, pay.address, buy_amt, buy.address)

    def guarded(self, who: str, pay_amt: int, buy_amt: int, deadline: int) -> int:
        """A guarded offer of BND for USD, made by `requoteUntil` with `deadline`."""
        call = self.market.functions.requoteUntil([], [self.spec(pay_amt, buy_amt)], deadline)
        (id_,) = ids_of(self, "LogMake", self.world.send(who, call))
        return id_

    def now(self) -> int:
        return int(self.world.w3.eth.get_block("latest")["timestamp"])

    def next_block_at(self, timestamp: int) -> None:
        self.world.chain.rpc("evm_setNextBlockTimestamp", [timestamp])

    def mine_at(self, timestamp: int) -> None:
        self.next_block_at(timestamp)
        self.world.chain.rpc("evm_mine")

    def take(self, who: str, id_: int, quantity: int, at: int) -> TxReceipt:
        """`buy` mined in a block at `at` (unix seconds); raises `TxError` if it reverted."""
        self.next_block_at(at)
        receipt = self.world.send(who, self.market.functions.buy(id_, quantity), gas=GAS)
        assert block_time(self.world, receipt) == at
        return receipt

    def deadline(self, who: str) -> int:
        return int(self.market.functions.deadlineOf(self.world.addr(who)).call())

    def takable(self, id_: int) -> bool:
        return bool(self.market.functions.isTakable(id_).call())

    def holdings(self) -> dict[tuple[str, str], int]:
        return {
            (symbol, who): self.balance(token, who)
            for symbol, token in (("BND", self.bnd), ("USD", self.usd))
            for who in ("alice", "bob", "market")
        }


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[Book]:
    with rolled_back(session_world):
        yield two_asset_market(session_world, Book, ("alice", "bob"), FUNDS, usd_decimals=6)


def ids_of(book: Book, name: str, receipt: TxReceipt) -> list[int]:
    return [int.from_bytes(e["id"], "big") for e in events(book.market, name, receipt)]


def block_time(world: World, receipt: TxReceipt) -> int:
    return int(world.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


@contextmanager
def expired(book: Book, id_: int, deadline: int) -> Iterator[None]:
    """Expect a mined `buy` that reverted with `OfferExpired`, and check it changed nothing."""
    before = (book.holdings(), book.market.functions.offerInfo(id_).call())
    error = f"OfferExpired(id={hex(id_)}, deadline={deadline})"
    with pytest.raises(TxError, match=re.escape(error)) as raised:
        yield
    assert raised.value.tx_hash is not None  # mined, not refused by an estimate
    assert book.world.w3.eth.get_transaction_receipt(raised.value.tx_hash)["status"] == 0
    assert (book.holdings(), book.market.functions.offerInfo(id_).call()) == before


# ---------------------------------------------------------------- setDeadline


def test_set_deadline_records_the_callers_deadline_and_logs_each_change(book: Book) -> None:
    deadline = book.now() + AHEAD
    alice = book.world.addr("alice")

    first = book.world.send("alice", book.market.functions.setDeadline(deadline))
    again = book.world.send("alice", book.market.functions.setDeadline(deadline))

    assert book.deadline("alice") == deadline
    assert book.deadline("bob") == 0
    assert events(book.market, "LogDeadline", first) == [{"maker": alice, "deadline": deadline}]
    assert events(book.market, "LogDeadline", again) == []  # unchanged: nothing written

    off = book.world.send("alice", book.market.functions.setDeadline(0))

    assert book.deadline("alice") == 0
    assert events(book.market, "LogDeadline", off) == [{"maker": alice, "deadline": 0}]


def test_a_maker_sets_only_its_own_deadline(book: Book) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)

    for value in (0, deadline + 10 * AHEAD, 1):
        book.world.send("bob", book.market.functions.setDeadline(value))
        assert book.deadline("alice") == deadline
    call = book.market.functions.requoteUntil([], [], deadline + AHEAD)
    book.world.send("bob", call)

    assert book.deadline("alice") == deadline
    with expired(book, id_, deadline):
        book.take("bob", id_, 1, at=deadline + 1)


# ---------------------------------------------------------------- taking guarded offers


@pytest.mark.parametrize("offset", [-AHEAD // 2, -1, 0])
def test_a_guarded_offer_is_takable_until_its_deadline_inclusive(book: Book, offset: int) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)

    book.take("bob", id_, 40, at=deadline + offset)

    assert book.balance(book.bnd, "bob") == FUNDS + 40
    assert book.balance(book.usd, "alice") == FUNDS + 120
    assert book.market.functions.offerInfo(id_).call()[6] == 60


@pytest.mark.parametrize("offset", [1, 2, 10 * AHEAD])
def test_a_guarded_offer_cannot_be_taken_after_its_deadline(book: Book, offset: int) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)

    with expired(book, id_, deadline):
        book.take("bob", id_, 40, at=deadline + offset)
    with expired(book, id_, deadline):
        book.take("bob", id_, 100, at=deadline + offset + 1)  # a full take neither


def test_a_deadline_in_the_past_pulls_the_guarded_offers_at_once(book: Book) -> None:
    id_ = book.guarded("alice", 100, 300, book.now() + AHEAD)
    past = book.now() - 1

    book.world.send("alice", book.market.functions.setDeadline(past))

    assert not book.takable(id_)
    with expired(book, id_, past):
        book.take("bob", id_, 1, at=book.now() + 1)


@pytest.mark.parametrize("how", ["setDeadline", "requoteUntil"])
def test_refreshing_the_deadline_makes_expired_offers_takable_again(book: Book, how: str) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)
    book.mine_at(deadline + 5)
    assert not book.takable(id_)

    later = deadline + AHEAD
    if how == "setDeadline":
        book.world.send("alice", book.market.functions.setDeadline(later))
    else:
        book.world.send("alice", book.market.functions.requoteUntil([], [], later))

    assert book.takable(id_)
    book.take("bob", id_, 100, at=later)
    assert not book.market.functions.isActive(id_).call()
    assert book.balance(book.usd, "alice") == FUNDS + 300


def test_switching_off_makes_guarded_offers_takable_for_good(book: Book) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)
    book.mine_at(deadline + 5)

    book.world.send("alice", book.market.functions.setDeadline(0))

    assert book.takable(id_)
    book.take("bob", id_, 100, at=deadline + 100 * AHEAD)
    assert book.balance(book.bnd, "bob") == FUNDS + 100


def test_a_guarded_offer_made_with_the_switch_off_follows_a_later_deadline(book: Book) -> None:
    id_ = book.guarded("alice", 100, 300, 0)
    book.take("bob", id_, 10, at=book.now() + 10 * AHEAD)  # switch off: no deadline

    deadline = book.now() + AHEAD
    book.world.send("alice", book.market.functions.setDeadline(deadline))

    with expired(book, id_, deadline):
        book.take("bob", id_, 10, at=deadline + 1)


def test_unguarded_offers_of_a_maker_with_a_deadline_stay_takable(book: Book) -> None:
    deadline = book.now() + AHEAD
    guarded = book.guarded("alice", 100, 300, deadline)
    made = book.make("alice", 100, 300)
    call = book.market.functions.requote([], [book.spec(50, 150)])
    (requoted,) = ids_of(book, "LogMake", book.world.send("alice", call))
    book.mine_at(deadline + 1)

    assert [book.takable(i) for i in (guarded, made, requoted)] == [False, True, True]
    book.take("bob", made, 100, at=deadline + 2)
    book.take("bob", requoted, 20, at=deadline + 3)
    assert book.balance(book.usd, "alice") == FUNDS + 300 + 60


# ---------------------------------------------------------------- cancelling expired offers


@pytest.mark.parametrize("how", ["cancel", "requote", "requoteUntil"])
def test_an_expired_offer_can_still_be_cancelled_and_returns_its_escrow(
    book: Book, how: str
) -> None:
    deadline = book.now() + AHEAD
    id_ = book.guarded("alice", 100, 300, deadline)
    book.take("bob", id_, 30, at=deadline)
    book.mine_at(deadline + AHEAD)
    assert not book.takable(id_)

    if how == "cancel":
        receipt = book.world.send("alice", book.market.functions.cancel(id_))
    elif how == "requote":
        receipt = book.world.send("alice", book.market.functions.requote([(id_, 70)], []))
    else:
        call = book.market.functions.requoteUntil([(id_, 70)], [], deadline)
        receipt = book.world.send("alice", call)

    assert ids_of(book, "LogKill", receipt) == [id_]
    assert not book.market.functions.isActive(id_).call()
    assert book.balance(book.bnd, "alice") == FUNDS - 30
    assert book.balance(book.bnd, "market") == 0


# ---------------------------------------------------------------- views


def test_views_report_the_deadline_the_guard_and_takability(book: Book) -> None:
    deadline = book.now() + AHEAD
    guarded = book.guarded("alice", 100, 300, deadline)
    made_at = book.now()
    plain = book.make("alice", 10, 30)
    info = book.market.functions.offerInfo

    assert info(guarded).call()[8:] == (made_at, deadline, True)  # timestamp without the bit
    assert info(plain).call()[9:] == (0, False)
    assert book.takable(guarded) and book.takable(plain)

    book.mine_at(deadline + 1)
    views = {v[0]: tuple(v) for v in book.market.functions.getOffers(0, 10).call()[0]}
    pair = book.market.functions.getPairOffers(book.bnd.address, book.usd.address, 0, 10)
    owned = book.market.functions.getOwnerOffers(book.world.addr("alice"), 0, 10)

    assert not book.takable(guarded) and book.takable(plain)
    assert set(views) == {guarded, plain}  # an expired offer is still listed ...
    assert views[guarded] == info(guarded).call()  # ... with its deadline: untakable now
    assert [tuple(v) for v in pair.call()[0]] == [views[guarded], views[plain]]
    assert [tuple(v) for v in owned.call()[0]] == [views[guarded], views[plain]]
    assert book.market.functions.getOffer(guarded).call() == [
        100,
        book.bnd.address,
        300,
        book.usd.address,
    ]
    assert book.market.functions.getOwner(guarded).call() == book.world.addr("alice")

    book.world.send("alice", book.market.functions.setDeadline(deadline + 2 * AHEAD))
    assert info(guarded).call()[9:] == (deadline + 2 * AHEAD, True)
    book.world.send("alice", book.market.functions.setDeadline(0))
    assert info(guarded).call()[9:] == (0, True)


def test_closed_and_unknown_offers_are_not_takable(book: Book) -> None:
    id_ = book.guarded("alice", 100, 300, book.now() + AHEAD)
    book.world.send("alice", book.market.functions.cancel(id_))

    assert not book.takable(id_)
    assert not book.takable((7 << 64) | 1)
    empty = (id_, ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, 0, 0, 0, 0, False)
    assert book.market.functions.offerInfo(id_).call() == empty


# ---------------------------------------------------------------- requoteUntil


def test_requote_until_nets_escrow_and_returns_ids_exactly_like_requote(book: Book) -> None:
    old = [book.make("alice", 100, 300), book.make("alice", 70, 70)]
    book.world.send("bob", book.market.functions.buy(old[1], 20))
    cancels = [(old[0], 100), (old[1], 50)]
    specs = [book.spec(80, 250), book.spec(60, 200), book.spec(25, 20, reverse=True)]
    deadline = book.now() + AHEAD
    before = book.holdings()

    outcomes = {}
    for name, call in (
        ("requote", book.market.functions.requote(cancels, specs)),
        ("requoteUntil", book.market.functions.requoteUntil(cancels, specs, deadline)),
    ):
        with rolled_back(book.world):
            predicted = call.call({"from": book.world.addr("alice")})
            receipt = book.world.send("alice", call)
            made = ids_of(book, "LogMake", receipt)
            outcomes[name] = (
                predicted == made,
                made,
                ids_of(book, "LogKill", receipt),
                events(book.bnd, "Transfer", receipt),
                events(book.usd, "Transfer", receipt),
                book.holdings(),
                [book.market.functions.offerInfo(i).call()[:8] for i in made],
            )
            guards = [book.market.functions.offerInfo(i).call()[9:] for i in made]
            expected_guard = (deadline, True) if name == "requoteUntil" else (0, False)
            assert guards == [expected_guard] * len(made)

    assert outcomes["requote"] == outcomes["requoteUntil"]
    assert outcomes["requote"][0] is True
    assert outcomes["requote"][5] != before


def test_requote_until_logs_the_guarded_ids_and_writes_the_deadline_only_when_it_changes(
    book: Book,
) -> None:
    alice, deadline = book.world.addr("alice"), book.now() + AHEAD
    specs = [book.spec(10, 30), book.spec(5, 5, reverse=True)]

    first = book.world.send("alice", book.market.functions.requoteUntil([], specs, deadline))
    made = ids_of(book, "LogMake", first)
    second = book.world.send("alice", book.market.functions.requoteUntil([], specs, deadline))
    empty = book.world.send("alice", book.market.functions.requoteUntil([], [], deadline + 1))

    assert events(book.market, "LogDeadline", first) == [{"maker": alice, "deadline": deadline}]
    assert events(book.market, "LogGuard", first) == [
        {"maker": alice, "deadline": deadline, "ids": made}
    ]
    assert events(book.market, "LogDeadline", second) == []
    assert [e["ids"] for e in events(book.market, "LogGuard", second)] == [
        ids_of(book, "LogMake", second)
    ]
    assert events(book.market, "LogGuard", empty) == []
    assert events(book.market, "LogDeadline", empty) == [{"maker": alice, "deadline": deadline + 1}]
    assert book.deadline("alice") == deadline + 1


def test_a_failed_requote_until_changes_neither_offers_nor_deadline(book: Book) -> None:
    deadline = book.now() + AHEAD
    kept = book.guarded("alice", 100, 300, deadline)
    book.world.send("bob", book.market.functions.buy(kept, 1))
    state = (book.holdings(), book.market.functions.offerInfo(kept).call(), book.deadline("alice"))

    call = book.market.functions.requoteUntil([(kept, 100)], [book.spec(5, 5)], deadline + AHEAD)
    with pytest.raises(
        TxError, match=re.escape(f"UnexpectedRemaining(id={hex(kept)}, expected=100")
    ):
        book.world.send("alice", call, gas=GAS)

    now = (book.holdings(), book.market.functions.offerInfo(kept).call(), book.deadline("alice"))
    assert now == state
