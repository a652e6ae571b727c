"""OtcMarket basics: escrow, both legs of a buy in one transaction, cancel, every revert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.types import TxReceipt

from bots.chain.revert import decode_revert
from bots.errors import TxError
from tests.chainfixtures import (
    MAX_UINT,
    TwoAssetMarket,
    World,
    ceil_div,
    events,
    offer_id,
    rolled_back,
    two_asset_market,
)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
FUNDS = 10**9


Book = TwoAssetMarket


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[Book]:
    """Deployed once per module; each test's `world` snapshot rolls back what the test did."""
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, Book, ("alice", "bob", "carol"), FUNDS, usd_decimals=6
        )


def reverts(error: str) -> Any:
    """Expect a `TxError` naming the decoded custom error (a prefix such as `ZeroAmount()`)."""
    return pytest.raises(TxError, match=re.escape(error))


def pair_key(pay: Contract, buy: Contract) -> bytes:
    return bytes(Web3.solidity_keccak(["address", "address"], [pay.address, buy.address]))


def block_time(world: World, receipt: TxReceipt) -> int:
    return int(world.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


# ---------------------------------------------------------------- offer


def test_offer_escrows_exactly_the_pay_amount(book: Book) -> None:
    book.make("alice", 1_234, 5_678)

    assert book.balance(book.bnd, "alice") == FUNDS - 1_234
    assert book.balance(book.bnd, "market") == 1_234
    assert book.balance(book.usd, "alice") == FUNDS
    assert book.balance(book.usd, "market") == 0


def test_offer_emits_log_make_with_maker_otc_fields(book: Book) -> None:
    receipt = book.world.send(
        "alice", book.market.functions.offer(300, book.bnd.address, 700, book.usd.address)
    )

    (make,) = events(book.market, "LogMake", receipt)
    assert int.from_bytes(make["id"], "big") == (1 << 64) | 1
    assert make["pair"] == pair_key(book.bnd, book.usd)
    assert make["maker"] == book.world.addr("alice")
    assert make["pay_gem"] == book.bnd.address
    assert make["buy_gem"] == book.usd.address
    assert make["pay_amt"] == 300
    assert make["buy_amt"] == 700
    assert make["timestamp"] == block_time(book.world, receipt)


def test_first_offer_of_an_ordered_pair_emits_log_pair_once(book: Book) -> None:
    call = book.market.functions.offer(1, book.bnd.address, 1, book.usd.address)
    first = book.world.send("alice", call)
    second = book.world.send("bob", call)
    reverse = book.world.send(
        "alice", book.market.functions.offer(1, book.usd.address, 1, book.bnd.address)
    )

    assert events(book.market, "LogPair", first) == [
        {"pairId": 1, "payToken": book.bnd.address, "buyToken": book.usd.address}
    ]
    assert events(book.market, "LogPair", second) == []
    assert events(book.market, "LogPair", reverse) == [
        {"pairId": 2, "payToken": book.usd.address, "buyToken": book.bnd.address}
    ]
    assert book.market.functions.pairCount().call() == 2


def test_offer_ids_are_pair_id_shifted_64_bits_plus_a_per_pair_sequence(book: Book) -> None:
    ids = [
        book.make("alice", 10, 10),
        book.make("bob", 10, 10, reverse=True),
        book.make("alice", 10, 10),
        book.make("carol", 10, 10),
        book.make("bob", 10, 10, reverse=True),
    ]

    assert ids == [(1 << 64) | 1, (2 << 64) | 1, (1 << 64) | 2, (1 << 64) | 3, (2 << 64) | 2]
    forward = [i for i in ids if i >> 64 == 1]
    assert forward == sorted(forward)


# ---------------------------------------------------------------- buy


def test_partial_buy_moves_both_legs_in_one_transaction(book: Book) -> None:
    id_ = book.make("alice", 1_000, 3_000)

    receipt = book.world.send("bob", book.market.functions.buy(id_, 400))

    assert book.balance(book.bnd, "bob") == FUNDS + 400
    assert book.balance(book.usd, "bob") == FUNDS - 1_200
    assert book.balance(book.usd, "alice") == FUNDS + 1_200
    assert book.balance(book.bnd, "market") == 600
    assert book.balance(book.usd, "market") == 0
    bob, alice, market = (book.world.addr("bob"), book.world.addr("alice"), book.market.address)
    assert events(book.usd, "Transfer", receipt) == [{"from": bob, "to": alice, "value": 1_200}]
    assert events(book.bnd, "Transfer", receipt) == [{"from": market, "to": bob, "value": 400}]
    assert book.market.functions.offerInfo(id_).call()[6] == 600


def test_buy_emits_log_take_with_maker_otc_fields(book: Book) -> None:
    id_ = book.make("alice", 1_000, 3_000)

    receipt = book.world.send("bob", book.market.functions.buy(id_, 400))

    (take,) = events(book.market, "LogTake", receipt)
    assert int.from_bytes(take["id"], "big") == id_
    assert take["pair"] == pair_key(book.bnd, book.usd)
    assert take["maker"] == book.world.addr("alice")
    assert take["taker"] == book.world.addr("bob")
    assert take["pay_gem"] == book.bnd.address
    assert take["buy_gem"] == book.usd.address
    assert take["take_amt"] == 400
    assert take["give_amt"] == 1_200
    assert take["timestamp"] == block_time(book.world, receipt)


def test_full_buy_closes_the_offer_and_empties_its_escrow(book: Book) -> None:
    id_ = book.make("alice", 1_000, 3_000)

    book.world.send("bob", book.market.functions.buy(id_, 1_000))

    assert book.balance(book.bnd, "bob") == FUNDS + 1_000
    assert book.balance(book.usd, "alice") == FUNDS + 3_000
    assert book.balance(book.bnd, "market") == 0
    assert not book.market.functions.isActive(id_).call()
    assert book.market.functions.getOwner(id_).call() == ZERO_ADDRESS


def test_buy_cost_is_rounded_up_in_the_makers_favour(book: Book) -> None:
    id_ = book.make("alice", 3, 7)  # 7/3 USD per BND: no quantity but 3 has an exact price
    quotes = [book.market.functions.spendFor(id_, q).call() for q in (1, 2, 3)]
    assert quotes == [3, 5, 7]

    book.world.send("bob", book.market.functions.buy(id_, 1))
    book.world.send("carol", book.market.functions.buy(id_, 1))

    assert book.balance(book.usd, "bob") == FUNDS - 3
    assert book.balance(book.usd, "carol") == FUNDS - 3
    assert book.balance(book.usd, "alice") == FUNDS + 6
    info = book.market.functions.offerInfo(id_).call()
    assert (info[4], info[5], info[6], info[7]) == (3, 7, 1, ceil_div(1 * 7, 3))


# ---------------------------------------------------------------- cancel


def test_cancel_returns_the_remaining_escrow_and_emits_log_kill(book: Book) -> None:
    id_ = book.make("alice", 1_000, 3_001)
    book.world.send("bob", book.market.functions.buy(id_, 300))

    receipt = book.world.send("alice", book.market.functions.cancel(id_))

    assert book.balance(book.bnd, "alice") == FUNDS - 300
    assert book.balance(book.bnd, "market") == 0
    assert not book.market.functions.isActive(id_).call()
    (kill,) = events(book.market, "LogKill", receipt)
    assert int.from_bytes(kill["id"], "big") == id_
    assert kill["pair"] == pair_key(book.bnd, book.usd)
    assert kill["maker"] == book.world.addr("alice")
    assert (kill["pay_gem"], kill["buy_gem"]) == (book.bnd.address, book.usd.address)
    assert kill["pay_amt"] == 700
    assert kill["buy_amt"] == ceil_div(700 * 3_001, 1_000)
    assert kill["timestamp"] == block_time(book.world, receipt)


# ---------------------------------------------------------------- reverts


@pytest.mark.parametrize(
    ("pay_amt", "buy_amt", "error"),
    [
        (0, 1, "ZeroAmount()"),
        (1, 0, "ZeroAmount()"),
        (2**96, 1, f"AmountOverflow(amount={2**96})"),
        (1, 2**96, f"AmountOverflow(amount={2**96})"),
        (MAX_UINT, 1, f"AmountOverflow(amount={MAX_UINT})"),
    ],
)
def test_offer_with_invalid_amount_reverts(
    book: Book, pay_amt: int, buy_amt: int, error: str
) -> None:
    call = book.market.functions.offer(pay_amt, book.bnd.address, buy_amt, book.usd.address)
    with reverts(error):
        book.world.send("alice", call)
    assert book.market.functions.pairCount().call() == 0


def test_offer_of_the_largest_96_bit_amounts_is_accepted(book: Book) -> None:
    top = 2**96 - 1
    book.world.fund(book.bnd, {"dave": top}, book.market)

    id_ = book.make("dave", top, top)

    info = book.market.functions.offerInfo(id_).call()
    assert (info[4], info[5], info[6], info[7]) == (top, top, top, top)


def test_offer_selling_a_token_for_itself_reverts(book: Book) -> None:
    call = book.market.functions.offer(5, book.bnd.address, 5, book.bnd.address)
    with reverts(f"SameToken(token={book.bnd.address})"):
        book.world.send("alice", call)


def test_offer_beyond_allowance_reverts(book: Book) -> None:
    book.world.send("alice", book.bnd.functions.approve(book.market.address, 99))
    with reverts("ERC20InsufficientAllowance"):
        book.make("alice", 100, 1)
    assert book.balance(book.bnd, "alice") == FUNDS


def test_offer_beyond_balance_reverts(book: Book) -> None:
    with reverts(f"ERC20InsufficientBalance(sender={book.world.addr('alice')}"):
        book.make("alice", FUNDS + 1, 1)


def test_buy_of_zero_quantity_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 10)
    with reverts("ZeroAmount()"):
        book.world.send("bob", book.market.functions.buy(id_, 0))


@pytest.mark.parametrize("operation", ["buy", "cancel"])
def test_buy_or_cancel_of_an_unknown_offer_reverts(book: Book, operation: str) -> None:
    book.make("alice", 10, 10)
    unknown = (1 << 64) | 2
    call = (
        book.market.functions.buy(unknown, 1)
        if operation == "buy"
        else book.market.functions.cancel(unknown)
    )
    with reverts(f"OfferNotActive(id={hex(unknown)})"):
        book.world.send("alice" if operation == "cancel" else "bob", call)


@pytest.mark.parametrize("closed_by", ["cancel", "full buy"])
@pytest.mark.parametrize("operation", ["buy", "cancel"])
def test_buy_or_cancel_of_a_closed_offer_reverts(
    book: Book, closed_by: str, operation: str
) -> None:
    id_ = book.make("alice", 10, 10)
    if closed_by == "cancel":
        book.world.send("alice", book.market.functions.cancel(id_))
    else:
        book.world.send("bob", book.market.functions.buy(id_, 10))

    with reverts(f"OfferNotActive(id={hex(id_)})"):
        if operation == "buy":
            book.world.send("carol", book.market.functions.buy(id_, 1))
        else:
            book.world.send("alice", book.market.functions.cancel(id_))


def test_cancel_by_non_maker_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 10)
    with reverts(f"NotOfferOwner(id={hex(id_)}, caller={book.world.addr('bob')})"):
        book.world.send("bob", book.market.functions.cancel(id_))
    assert book.market.functions.getOwner(id_).call() == book.world.addr("alice")


def test_buy_of_more_than_remaining_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 10)
    book.world.send("bob", book.market.functions.buy(id_, 4))
    with reverts(f"QuantityExceedsRemaining(id={hex(id_)}, quantity=7, remaining=6)"):
        book.world.send("carol", book.market.functions.buy(id_, 7))


def test_maker_buying_own_offer_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 10)
    with reverts(f"SelfTrade(id={hex(id_)})"):
        book.world.send("alice", book.market.functions.buy(id_, 1))


def test_buy_beyond_allowance_reverts(book: Book) -> None:
    id_ = book.make("alice", 10, 30)
    book.world.send("bob", book.usd.functions.approve(book.market.address, 29))
    with reverts("ERC20InsufficientAllowance"):
        book.world.send("bob", book.market.functions.buy(id_, 10))
    assert book.market.functions.offerInfo(id_).call()[6] == 10


def test_buy_beyond_balance_reverts(book: Book) -> None:
    book.world.fund(book.usd, {"dave": 29}, book.market)
    id_ = book.make("alice", 10, 30)
    with reverts(f"ERC20InsufficientBalance(sender={book.world.addr('dave')}"):
        book.world.send("dave", book.market.functions.buy(id_, 10))


# ---------------------------------------------------------------- views


def test_views_describe_an_active_offer(book: Book) -> None:
    receipt = book.world.send(
        "alice", book.market.functions.offer(1_000, book.bnd.address, 3_001, book.usd.address)
    )
    id_ = offer_id(book.market, receipt)
    book.world.send("bob", book.market.functions.buy(id_, 1))
    alice = book.world.addr("alice")

    remaining_buy = ceil_div(999 * 3_001, 1_000)
    assert book.market.functions.getOffer(id_).call() == [
        999,
        book.bnd.address,
        remaining_buy,
        book.usd.address,
    ]
    assert book.market.functions.getOwner(id_).call() == alice
    assert book.market.functions.isActive(id_).call()
    info = book.market.functions.offerInfo(id_).call()
    assert info[:8] == (
        id_,
        alice,
        book.bnd.address,
        book.usd.address,
        1_000,
        3_001,
        999,
        remaining_buy,
    )
    assert info[8:] == (block_time(book.world, receipt), 0, False)  # unguarded: no deadline


def test_views_of_an_inactive_offer_are_zero(book: Book) -> None:
    id_ = book.make("alice", 10, 10)
    book.world.send("alice", book.market.functions.cancel(id_))

    assert book.market.functions.getOffer(id_).call() == [0, ZERO_ADDRESS, 0, ZERO_ADDRESS]
    assert book.market.functions.getOwner(id_).call() == ZERO_ADDRESS
    assert not book.market.functions.isActive(id_).call()
    assert book.market.functions.offerInfo(id_).call() == (
        id_,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        0,
        0,
        0,
        0,
        0,
        0,
        False,
    )
    with pytest.raises(ContractCustomError) as raised:
        book.market.functions.spendFor(id_, 1).call()
    assert decode_revert(raised.value.data) == f"OfferNotActive(id={hex(id_)})"


def test_pair_info_and_pair_tokens_describe_registered_pairs(book: Book) -> None:
    market = book.market.functions
    assert market.pairInfo(book.bnd.address, book.usd.address).call() == [0, 0]

    book.make("alice", 10, 10)
    book.make("alice", 10, 10)
    book.make("alice", 10, 10, reverse=True)

    assert market.pairInfo(book.bnd.address, book.usd.address).call() == [1, 3]
    assert market.pairInfo(book.usd.address, book.bnd.address).call() == [2, 2]
    assert market.pairTokens(1).call() == [book.bnd.address, book.usd.address]
    assert market.pairTokens(2).call() == [book.usd.address, book.bnd.address]
    assert market.pairTokens(3).call() == [ZERO_ADDRESS, ZERO_ADDRESS]
