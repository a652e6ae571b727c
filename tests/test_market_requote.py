"""`requote`: cancel own offers and place new ones in one all-or-nothing transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web3.types import TxReceipt

from bots.errors import TxError
from tests.chainfixtures import (
    TwoAssetMarket,
    World,
    events,
    rolled_back,
    two_asset_market,
)

FUNDS = 10**12
GAS = 2_000_000  # reverting calls are sent with fixed gas so they are mined and fail on chain


@dataclass
class Book(TwoAssetMarket):
    def spec(self, pay_amt: int, buy_amt: int, *, reverse: bool = False) -> tuple[Any, ...]:
        pay, buy = self.pair(reverse)
        return (pay_amt, pay.address, buy_amt, buy.address)

    def holdings(self) -> dict[tuple[str, str], int]:
        """Every balance a requote could move: makers' and the market's, in both tokens."""
        out = {}
        for symbol, token in (("BND", self.bnd), ("USD", self.usd)):
            for who in ("alice", "bob", "market"):
                out[symbol, who] = self.balance(token, who)
        return out

    def state(self, ids: list[int]) -> tuple[Any, ...]:
        """Balances, offer details and pair sequences: all a failed requote must leave alone."""
        infos = tuple(self.market.functions.offerInfo(i).call() for i in ids)
        seqs = tuple(
            self.market.functions.pairInfo(pay.address, buy.address).call()
            for pay, buy in (self.pair(), self.pair(reverse=True))
        )
        return self.holdings(), infos, seqs


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[Book]:
    with rolled_back(session_world):
        yield two_asset_market(session_world, Book, ("alice", "bob"), FUNDS, usd_decimals=6)


def ids_of(book: Book, name: str, receipt: TxReceipt) -> list[int]:
    return [int.from_bytes(e["id"], "big") for e in events(book.market, name, receipt)]


def fails_on_chain(book: Book, who: str, call: Any, error: str) -> None:
    """Send `call` past estimation so it is mined, and check it reverted with `error`."""
    with pytest.raises(TxError, match=re.escape(error)) as raised:
        book.world.send(who, call, gas=GAS)
    assert raised.value.tx_hash is not None
    assert book.world.w3.eth.get_transaction_receipt(raised.value.tx_hash)["status"] == 0


def test_requote_replaces_offers_and_returns_the_new_ids(book: Book) -> None:
    old = [book.make("alice", 100, 300), book.make("alice", 50, 40, reverse=True)]
    specs = [book.spec(90, 280), book.spec(60, 45, reverse=True), book.spec(10, 31)]
    call = book.market.functions.requote([(old[0], 100), (old[1], 50)], specs)
    predicted = call.call({"from": book.world.addr("alice")})

    receipt = book.world.send("alice", call)

    assert ids_of(book, "LogKill", receipt) == old
    assert ids_of(book, "LogMake", receipt) == predicted
    assert predicted == [(1 << 64) | 2, (2 << 64) | 2, (1 << 64) | 3]
    assert not any(book.market.functions.isActive(i).call() for i in old)
    infos = [book.market.functions.offerInfo(i).call() for i in predicted]
    assert [(v[1], v[4], v[5], v[6]) for v in infos] == [
        (book.world.addr("alice"), 90, 280, 90),
        (book.world.addr("alice"), 60, 45, 60),
        (book.world.addr("alice"), 10, 31, 10),
    ]


def test_requote_moves_only_the_net_escrow_per_token(book: Book) -> None:
    old = [book.make("alice", 100, 300), book.make("alice", 70, 70)]  # 170 BND escrowed
    before = book.holdings()

    receipt = book.world.send(
        "alice",
        book.market.functions.requote(
            [(old[0], 100), (old[1], 70)],
            [book.spec(80, 250), book.spec(60, 200), book.spec(25, 20, reverse=True)],
        ),
    )

    alice, market = book.world.addr("alice"), book.market.address
    assert events(book.bnd, "Transfer", receipt) == [{"from": market, "to": alice, "value": 30}]
    assert events(book.usd, "Transfer", receipt) == [{"from": alice, "to": market, "value": 25}]
    after = book.holdings()
    assert after["BND", "alice"] - before["BND", "alice"] == 30
    assert after["BND", "market"] == 140
    assert after["USD", "alice"] - before["USD", "alice"] == -25
    assert after["USD", "market"] == 25


def test_requote_that_nets_to_zero_moves_no_tokens(book: Book) -> None:
    old = book.make("alice", 100, 300)
    book.world.send("bob", book.market.functions.buy(old, 40))
    before = book.holdings()

    receipt = book.world.send(
        "alice",
        book.market.functions.requote([(old, 60)], [book.spec(35, 100), book.spec(25, 80)]),
    )

    assert events(book.bnd, "Transfer", receipt) == []
    assert events(book.usd, "Transfer", receipt) == []
    assert book.holdings() == before
    assert len(ids_of(book, "LogMake", receipt)) == 2


def test_requote_reverts_when_an_offer_was_partly_taken_since(book: Book) -> None:
    kept, taken = book.make("alice", 100, 300), book.make("alice", 100, 300)
    book.world.send("bob", book.market.functions.buy(taken, 1))
    before = book.state([kept, taken])

    call = book.market.functions.requote([(kept, 100), (taken, 100)], [book.spec(200, 600)])
    fails_on_chain(
        book, "alice", call, f"UnexpectedRemaining(id={hex(taken)}, expected=100, actual=99)"
    )

    assert book.state([kept, taken]) == before
    assert book.market.functions.isActive(kept).call()


def test_requote_reverts_when_an_offer_was_closed_since(book: Book) -> None:
    gone = book.make("alice", 100, 300)
    book.world.send("bob", book.market.functions.buy(gone, 100))
    before = book.state([gone])

    call = book.market.functions.requote([(gone, 100)], [book.spec(100, 300)])
    fails_on_chain(
        book, "alice", call, f"UnexpectedRemaining(id={hex(gone)}, expected=100, actual=0)"
    )

    assert book.state([gone]) == before


def test_requote_cancelling_anothers_offer_reverts(book: Book) -> None:
    own, bobs = book.make("alice", 100, 300), book.make("bob", 100, 300)
    before = book.state([own, bobs])

    call = book.market.functions.requote([(own, 100), (bobs, 100)], [])
    error = f"NotOfferOwner(id={hex(bobs)}, caller={book.world.addr('alice')})"
    fails_on_chain(book, "alice", call, error)

    assert book.state([own, bobs]) == before


@pytest.mark.parametrize(
    ("bad_spec", "error"),
    [
        ((0, "bnd", 5, "usd"), "ZeroAmount()"),
        ((5, "bnd", 0, "usd"), "ZeroAmount()"),
        ((2**96, "bnd", 5, "usd"), f"AmountOverflow(amount={2**96})"),
        ((5, "usd", 5, "usd"), "SameToken("),
        ((10**13, "bnd", 5, "usd"), "ERC20InsufficientBalance("),
    ],
)
def test_requote_with_one_invalid_new_offer_changes_nothing(
    book: Book, bad_spec: tuple[Any, ...], error: str
) -> None:
    old = [book.make("alice", 100, 300), book.make("alice", 20, 20, reverse=True)]
    before = book.state(old)
    address = {"bnd": book.bnd.address, "usd": book.usd.address}
    bad = (bad_spec[0], address[bad_spec[1]], bad_spec[2], address[bad_spec[3]])

    call = book.market.functions.requote(
        [(old[0], 100), (old[1], 20)], [book.spec(50, 100), bad, book.spec(5, 5, reverse=True)]
    )
    fails_on_chain(book, "alice", call, error)

    assert book.state(old) == before


def test_requote_with_no_cancels_is_a_batch_of_offers(book: Book) -> None:
    before = book.holdings()

    receipt = book.world.send(
        "alice",
        book.market.functions.requote(
            [], [book.spec(10, 30), book.spec(20, 60), book.spec(7, 3, reverse=True)]
        ),
    )

    assert ids_of(book, "LogMake", receipt) == [(1 << 64) | 1, (1 << 64) | 2, (2 << 64) | 1]
    assert ids_of(book, "LogKill", receipt) == []
    after = book.holdings()
    assert before["BND", "alice"] - after["BND", "alice"] == 30
    assert before["USD", "alice"] - after["USD", "alice"] == 7
    assert (after["BND", "market"], after["USD", "market"]) == (30, 7)


def test_requote_with_no_offers_is_a_batch_of_cancels(book: Book) -> None:
    old = [
        book.make("alice", 10, 30),
        book.make("alice", 20, 60),
        book.make("alice", 7, 3, reverse=True),
    ]
    book.world.send("bob", book.market.functions.buy(old[1], 5))
    before = book.holdings()

    receipt = book.world.send(
        "alice", book.market.functions.requote([(old[0], 10), (old[1], 15), (old[2], 7)], [])
    )

    assert ids_of(book, "LogKill", receipt) == old
    assert [e["pay_amt"] for e in events(book.market, "LogKill", receipt)] == [10, 15, 7]
    after = book.holdings()
    assert after["BND", "alice"] - before["BND", "alice"] == 25
    assert after["USD", "alice"] - before["USD", "alice"] == 7
    assert (after["BND", "market"], after["USD", "market"]) == (0, 0)
    assert not any(book.market.functions.isActive(i).call() for i in old)


def test_requote_naming_one_offer_twice_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 30)
    before = book.state([id_])

    call = book.market.functions.requote([(id_, 10), (id_, 10)], [])
    fails_on_chain(
        book, "alice", call, f"UnexpectedRemaining(id={hex(id_)}, expected=10, actual=0)"
    )

    assert book.state([id_]) == before


def test_requote_of_five_costs_less_gas_than_five_cancels_and_five_offers(book: Book) -> None:
    first = [book.make("alice", 100 + n, 300) for n in range(5)]
    second = [book.make("bob", 100 + n, 300) for n in range(5)]
    new_specs = [book.spec(90 + n, 290) for n in range(5)]

    together = book.world.send(
        "alice",
        book.market.functions.requote([(i, 100 + n) for n, i in enumerate(first)], new_specs),
    )["gasUsed"]
    apart = sum(
        book.world.send("bob", book.market.functions.cancel(i))["gasUsed"] for i in second
    ) + sum(
        book.world.send("bob", book.market.functions.offer(*spec))["gasUsed"] for spec in new_specs
    )

    assert together < apart
