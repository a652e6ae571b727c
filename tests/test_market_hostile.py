"""Weird tokens: no return value, `false` instead of a revert, a fee on transfer, re-entry.

The market's promise under all of them: escrow holds exactly the remaining amounts of the active
offers, a maker is paid its full price or the trade reverts, and nobody gains value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web3.contract import Contract

from bots.chain.revert import decode_revert
from bots.errors import TxError
from tests.chainfixtures import MarketFixture, World, offer_id, rolled_back

FUNDS = 10**9
GAS = 3_000_000  # fixed: mined even when it reverts, and a re-entrant call never runs short
PEOPLE = ("alice", "bob", "carol")


@dataclass
class Book(MarketFixture):
    bnd: Contract  # a well-behaved AssetToken for the other leg

    def escrow(self) -> dict[str, int]:
        """Remaining pay amounts of all active offers, per pay token, read from the views."""
        totals: dict[str, int] = {}
        cursor = 0
        while True:
            page, cursor = self.market.functions.getOffers(cursor, 50).call()
            for view in page:
                totals[view[2]] = totals.get(view[2], 0) + view[6]
            if cursor == 0:
                return totals

    def assert_escrow_backed(self, *tokens: Contract) -> None:
        """The market holds exactly the remaining escrow of the active offers, per token."""
        escrow = self.escrow()
        for token in tokens:
            assert self.balance(token, "market") == escrow.get(token.address, 0)

    def holdings(self, tokens: tuple[Contract, ...], others: tuple[Contract, ...] = ()) -> Any:
        holders: tuple[str | Contract, ...] = (*PEOPLE, "market", *others)
        return {(t.address, self.address(h)): self.balance(t, h) for t in tokens for h in holders}


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[Book]:
    with rolled_back(session_world):
        market = session_world.deploy("OtcMarket")
        bnd = session_world.asset("BND")
        session_world.fund(bnd, dict.fromkeys(PEOPLE, FUNDS), market)
        yield Book(session_world, market, bnd)


def hostile(book: Book, name: str) -> Contract:
    token = book.world.deploy(name, test_only=True)
    book.world.fund(token, dict.fromkeys(PEOPLE, FUNDS), book.market)
    return token


def fails_on_chain(book: Book, who: str, call: Any, error: str) -> None:
    """Send `call` past estimation so it is mined, and check it reverted with `error`."""
    with pytest.raises(TxError, match=re.escape(error)) as raised:
        book.world.send(who, call, gas=GAS)
    assert raised.value.tx_hash is not None
    assert book.world.w3.eth.get_transaction_receipt(raised.value.tx_hash)["status"] == 0


# ---------------------------------------------------------------- no return value (USDT style)


def test_no_return_token_as_pay_token_trades_and_cancels(book: Book) -> None:
    nrt = hostile(book, "NoReturnToken")
    id_ = book.offer("alice", 1_000, nrt, 500, book.bnd)
    assert book.balance(nrt, "market") == 1_000

    book.world.send("bob", book.market.functions.buy(id_, 400))
    book.world.send("alice", book.market.functions.cancel(id_))

    assert book.balance(nrt, "bob") == FUNDS + 400
    assert book.balance(book.bnd, "bob") == FUNDS - 200
    assert book.balance(book.bnd, "alice") == FUNDS + 200
    assert book.balance(nrt, "alice") == FUNDS - 400
    assert book.balance(nrt, "market") == 0


def test_no_return_token_as_buy_token_trades_and_cancels(book: Book) -> None:
    nrt = hostile(book, "NoReturnToken")
    id_ = book.offer("alice", 1_000, book.bnd, 500, nrt)

    book.world.send("bob", book.market.functions.buy(id_, 400))
    book.world.send("alice", book.market.functions.cancel(id_))

    assert book.balance(nrt, "bob") == FUNDS - 200
    assert book.balance(nrt, "alice") == FUNDS + 200
    assert book.balance(book.bnd, "bob") == FUNDS + 400
    assert book.balance(book.bnd, "alice") == FUNDS - 400
    assert book.balance(book.bnd, "market") == 0


# ---------------------------------------------------------------- returns false


def test_offer_of_a_token_returning_false_reverts(book: Book) -> None:
    frt = hostile(book, "FalseReturnToken")
    book.world.send("deployer", frt.functions.setFailing(True))
    before = book.holdings((frt, book.bnd))

    call = book.market.functions.offer(1_000, frt.address, 500, book.bnd.address)
    fails_on_chain(book, "alice", call, f"SafeERC20FailedOperation(token={frt.address})")

    assert book.holdings((frt, book.bnd)) == before
    assert book.market.functions.pairCount().call() == 0


@pytest.mark.parametrize("leg", ["pay", "buy"])
def test_buy_with_a_token_returning_false_reverts_with_nothing_moved(book: Book, leg: str) -> None:
    frt = hostile(book, "FalseReturnToken")
    pay, buy = (frt, book.bnd) if leg == "pay" else (book.bnd, frt)
    id_ = book.offer("alice", 1_000, pay, 500, buy)
    book.world.send("deployer", frt.functions.setFailing(True))
    before = book.holdings((frt, book.bnd))

    call = book.market.functions.buy(id_, 400)
    fails_on_chain(book, "bob", call, f"SafeERC20FailedOperation(token={frt.address})")

    assert book.holdings((frt, book.bnd)) == before
    assert book.market.functions.offerInfo(id_).call()[6] == 1_000


def test_cancel_of_a_token_returning_false_reverts_and_keeps_the_offer(book: Book) -> None:
    frt = hostile(book, "FalseReturnToken")
    id_ = book.offer("alice", 1_000, frt, 500, book.bnd)
    book.world.send("deployer", frt.functions.setFailing(True))
    before = book.holdings((frt,))

    call = book.market.functions.cancel(id_)
    fails_on_chain(book, "alice", call, f"SafeERC20FailedOperation(token={frt.address})")

    assert book.holdings((frt,)) == before
    assert book.market.functions.getOwner(id_).call() == book.world.addr("alice")
    book.world.send("deployer", frt.functions.setFailing(False))
    book.world.send("alice", call)
    assert book.balance(frt, "alice") == FUNDS


# ---------------------------------------------------------------- fee on transfer


def test_offer_of_a_fee_on_transfer_token_reverts(book: Book) -> None:
    fot = hostile(book, "FeeOnTransferToken")
    before = book.holdings((fot,))

    call = book.market.functions.offer(10_000, fot.address, 500, book.bnd.address)
    error = f"TransferAmountMismatch(token={fot.address}, expected=10000, received=9900)"
    fails_on_chain(book, "alice", call, error)

    assert book.holdings((fot,)) == before


def test_buy_paying_a_fee_on_transfer_token_reverts_rather_than_underpay_the_maker(
    book: Book,
) -> None:
    fot = hostile(book, "FeeOnTransferToken")
    id_ = book.offer("alice", 1_000, book.bnd, 10_000, fot)
    before = book.holdings((fot, book.bnd))

    call = book.market.functions.buy(id_, 1_000)
    error = f"TransferAmountMismatch(token={fot.address}, expected=10000, received=9900)"
    fails_on_chain(book, "bob", call, error)

    assert book.holdings((fot, book.bnd)) == before
    assert book.market.functions.isActive(id_).call()


# ---------------------------------------------------------------- re-entry


@dataclass
class Reentry:
    """A ReentrantToken that is also a market participant: it holds BND and approved the market."""

    book: Book
    token: Contract

    def act(self, target: Contract, fn: str, *args: Any) -> Any:
        """Make the token contract itself call `target.fn(*args)`, triggered by a 0 transfer."""
        self.arm(target, fn, *args)
        deployer = self.book.world.addr("deployer")
        trigger = self.token.functions.transfer(deployer, 0)
        receipt = self.book.world.send("deployer", trigger, gas=GAS)
        assert self.token.functions.lastCallSucceeded().call(), self.last_error()
        return receipt

    def arm(self, target: Contract, fn: str, *args: Any) -> None:
        """The token's next transfer or transferFrom first calls `target.fn(*args)`."""
        payload = target.encode_abi(fn, args=list(args))
        self.book.world.send("deployer", self.token.functions.arm(target.address, payload))

    def succeeded(self) -> bool:
        return bool(self.token.functions.lastCallSucceeded().call())

    def last_error(self) -> str:
        return decode_revert(bytes(self.token.functions.lastRevertData().call()))


@pytest.fixture
def reentry(book: Book) -> Reentry:
    token = hostile(book, "ReentrantToken")
    r = Reentry(book, token)
    book.world.send("deployer", book.bnd.functions.issue(token.address, FUNDS))
    r.act(book.bnd, "approve", book.market.address, 2**256 - 1)
    r.act(token, "approve", book.market.address, 2**256 - 1)
    book.world.send("deployer", token.functions.mint(token.address, FUNDS))
    return r


def test_reentrant_cancel_of_the_offer_being_bought_returns_only_the_unsold_rest(
    book: Book, reentry: Reentry
) -> None:
    r, market = reentry.token, book.market
    made = reentry.act(market, "offer", 1_000, book.bnd.address, 2_000, r.address)
    id_ = offer_id(market, made)
    book.offer("alice", 5_000, book.bnd, 10_000, r)  # other escrow a bad payout would dip into
    reentry.arm(market, "cancel", id_)
    before = book.holdings((book.bnd, r), others=(r,))

    book.world.send("bob", market.functions.buy(id_, 300), gas=GAS)

    assert reentry.succeeded(), reentry.last_error()
    after = book.holdings((book.bnd, r), others=(r,))
    moved = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    bob, market_address = book.address("bob"), market.address
    assert moved == {
        (book.bnd.address, bob): 300,
        (book.bnd.address, market_address): -1_000,
        (book.bnd.address, r.address): 700,
        (r.address, bob): -600,
        (r.address, r.address): 600,
    }
    assert not market.functions.isActive(id_).call()
    book.assert_escrow_backed(book.bnd, r)


def test_reentrant_cancel_during_a_full_buy_finds_the_offer_closed(
    book: Book, reentry: Reentry
) -> None:
    r, market = reentry.token, book.market
    id_ = offer_id(market, reentry.act(market, "offer", 1_000, book.bnd.address, 2_000, r.address))
    book.offer("alice", 5_000, book.bnd, 10_000, r)
    reentry.arm(market, "cancel", id_)
    before = book.holdings((book.bnd, r), others=(r,))

    book.world.send("bob", market.functions.buy(id_, 1_000), gas=GAS)

    assert not reentry.succeeded()
    assert reentry.last_error() == f"OfferNotActive(id={hex(id_)})"
    after = book.holdings((book.bnd, r), others=(r,))
    assert after[book.bnd.address, r.address] == before[book.bnd.address, r.address]
    assert after[book.bnd.address, book.address("bob")] == FUNDS + 1_000
    assert after[r.address, r.address] == before[r.address, r.address] + 2_000
    book.assert_escrow_backed(book.bnd, r)


@pytest.mark.parametrize(
    ("inner_quantity", "inner_succeeds"),
    [(1_000, False), (601, False), (600, True), (1, True)],
)
def test_reentrant_buy_during_the_payout_sees_only_the_unsold_rest(
    book: Book, reentry: Reentry, inner_quantity: int, inner_succeeds: bool
) -> None:
    r, market = reentry.token, book.market
    id_ = book.offer("alice", 1_000, r, 500, book.bnd)
    book.offer("bob", 5_000, r, 5_000, book.bnd)  # other escrow a bad payout would dip into
    reentry.arm(market, "buy", id_, inner_quantity)
    before = book.holdings((book.bnd, r), others=(r,))

    book.world.send("carol", market.functions.buy(id_, 400), gas=GAS)

    assert reentry.succeeded() == inner_succeeds, reentry.last_error()
    if not inner_succeeds:
        error = f"QuantityExceedsRemaining(id={hex(id_)}, quantity={inner_quantity}, remaining=600)"
        assert reentry.last_error() == error
    sold_inside = inner_quantity if inner_succeeds else 0
    after = book.holdings((book.bnd, r), others=(r,))
    assert after[r.address, book.address("carol")] - before[r.address, book.address("carol")] == 400
    assert after[r.address, r.address] - before[r.address, r.address] == sold_inside
    assert after[r.address, market.address] == 5_000 + 600 - sold_inside
    alice_paid = after[book.bnd.address, book.address("alice")] - FUNDS
    assert alice_paid == 200 + -(-sold_inside // 2)
    assert market.functions.offerInfo(id_).call()[6] == 600 - sold_inside
    book.assert_escrow_backed(book.bnd, r)


def test_reentrant_buy_of_an_offer_whose_escrow_is_in_flight_reverts_the_offer(
    book: Book, reentry: Reentry
) -> None:
    r, market = reentry.token, book.market
    book.offer("bob", 5_000, r, 5_000, book.bnd)  # escrow the in-flight offer could be paid from
    pair_id, next_seq = market.functions.pairInfo(r.address, book.bnd.address).call()
    upcoming = (pair_id << 64) | next_seq
    reentry.arm(market, "buy", upcoming, 1_000)
    before = book.holdings((book.bnd, r), others=(r,))

    call = market.functions.offer(1_000, r.address, 500, book.bnd.address)
    error = f"TransferAmountMismatch(token={r.address}, expected=1000, received=0)"
    fails_on_chain(book, "alice", call, error)

    assert book.holdings((book.bnd, r), others=(r,)) == before
    assert market.functions.pairInfo(r.address, book.bnd.address).call() == [pair_id, next_seq]
    book.assert_escrow_backed(book.bnd, r)


def test_reentrant_buy_of_a_new_offer_during_a_requote_payout_stays_backed(
    book: Book, reentry: Reentry
) -> None:
    r, market = reentry.token, book.market
    old = book.offer("alice", 1_000, r, 500, book.bnd)
    book.offer("bob", 5_000, r, 5_000, book.bnd)
    pair_id, next_seq = market.functions.pairInfo(r.address, book.bnd.address).call()
    replacement = (pair_id << 64) | next_seq
    reentry.arm(market, "buy", replacement, 600)
    before = book.holdings((book.bnd, r), others=(r,))

    call = market.functions.requote([(old, 1_000)], [(600, r.address, 300, book.bnd.address)])
    book.world.send("alice", call, gas=GAS)

    assert reentry.succeeded(), reentry.last_error()
    after = book.holdings((book.bnd, r), others=(r,))
    moved = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    alice = book.address("alice")
    assert moved == {
        (r.address, alice): 400,
        (r.address, market.address): -1_000,
        (r.address, r.address): 600,
        (book.bnd.address, alice): 300,
        (book.bnd.address, r.address): -300,
    }
    assert not market.functions.isActive(replacement).call()
    book.assert_escrow_backed(book.bnd, r)


def test_reentrant_buy_during_a_requote_until_payout_meets_the_guard_and_the_deadline(
    book: Book, reentry: Reentry
) -> None:
    r, market = reentry.token, book.market
    old = book.offer("alice", 1_000, r, 500, book.bnd)
    pair_id, next_seq = market.functions.pairInfo(r.address, book.bnd.address).call()
    replacement = (pair_id << 64) | next_seq
    reentry.arm(market, "buy", replacement, 100)
    past = int(book.world.w3.eth.get_block("latest")["timestamp"]) - 1

    specs = [(600, r.address, 300, book.bnd.address)]
    book.world.send("alice", market.functions.requoteUntil([(old, 1_000)], specs, past), gas=GAS)

    assert not reentry.succeeded()  # deadline and guard were written before the payout
    assert reentry.last_error() == f"OfferExpired(id={hex(replacement)}, deadline={past})"
    assert market.functions.offerInfo(replacement).call()[6] == 600
    book.assert_escrow_backed(book.bnd, r)
