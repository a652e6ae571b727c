"""A take pays what the taker saw, for the token it saw, or nothing moves (`buyWithin`).

A bot reads the book through a node. A node that lies (or a book gone stale) could show an
offer cheaper than it is, or in another pair; `buy` would then pay the chain's price, for the
chain's token. The bots take with `buyWithin(id, quantity, payToken, buyToken, maxSpend)`, which
reverts before anything moves unless the offer is in the pair the bot saw and the fill costs at
most what it expected.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from bots.chain.rpc import connect
from bots.chain.transactor import Transactor
from bots.errors import TxError
from bots.market.client import MarketClient
from bots.tick.executor import Executor
from bots.tick.reconcile import Plan
from strategies.api import LiveOffer, Take
from tests.chainfixtures import TwoAssetMarket, ceil_div
from tests.tickrig import FUNDS, fresh_book  # noqa: F401 - the module's market

pytestmark = pytest.mark.chain
NOTHING = Plan((), (), ())


def reverts(error: str) -> Any:
    return pytest.raises(TxError, match=re.escape(error))


def executor(book: TwoAssetMarket, who: str) -> Executor:
    w3 = connect(book.world.chain.url)
    transactor = Transactor(w3, book.world.accounts[who], receipt_timeout_s=30)
    return Executor(MarketClient(w3, book.market.address, transactor))


def as_read(book: TwoAssetMarket, offer_id: int) -> LiveOffer:
    """The offer as an honest node shows it."""
    (offer,) = [o for o in executor(book, "bob").market.all_offers() if o.id == offer_id]
    return offer


def holdings(book: TwoAssetMarket, who: str) -> tuple[int, int]:
    return book.balance(book.bnd, who), book.balance(book.usd, who)


def test_buy_within_takes_at_the_price_seen(book: TwoAssetMarket) -> None:
    offer_id = book.make("alice", 1_000, 3_000)
    spend = ceil_div(400 * 3_000, 1_000)

    book.world.send(
        "bob",
        book.market.functions.buyWithin(offer_id, 400, book.bnd.address, book.usd.address, spend),
    )

    assert holdings(book, "bob") == (FUNDS + 400, FUNDS - spend)
    assert book.balance(book.usd, "alice") == FUNDS + spend


@pytest.mark.parametrize(
    ("limit", "pair", "error"),
    [
        (1_199, "forward", "SpendAboveLimit("),  # one base unit below the true cost
        (1_200, "reverse", "OfferPairMismatch("),  # the right cost, the tokens swapped
        (1_200, "zero", "OfferPairMismatch("),  # no pair named at all
    ],
)
def test_buy_within_refuses_a_dearer_price_or_another_pair_and_moves_nothing(
    book: TwoAssetMarket, limit: int, pair: str, error: str
) -> None:
    offer_id = book.make("alice", 1_000, 3_000)
    tokens = {
        "forward": (book.bnd.address, book.usd.address),
        "reverse": (book.usd.address, book.bnd.address),
        "zero": ("0x" + "00" * 20, "0x" + "00" * 20),
    }[pair]
    before = holdings(book, "bob"), holdings(book, "alice")

    with reverts(error):
        book.world.send("bob", book.market.functions.buyWithin(offer_id, 400, *tokens, limit))

    assert (holdings(book, "bob"), holdings(book, "alice")) == before
    assert as_read(book, offer_id).remaining == 1_000


def test_a_bot_acting_on_a_forged_book_pays_nothing_more_than_it_saw(book: TwoAssetMarket) -> None:
    """The node shows alice's 3 USD/BND ask at 1 USD/BND. The bot's take reverts; it used to
    pay the chain's 1,200 USD for 400 BND it thought cost 400."""
    offer_id = book.make("alice", 1_000, 3_000)
    honest = as_read(book, offer_id)
    forged = dataclasses.replace(honest, buy_amt=1_000, remaining_buy=1_000)
    before = holdings(book, "bob")

    done = executor(book, "bob").execute(NOTHING, [Take(offer_id, 400, 400)], [forged])

    assert done.taken == [] and len(done.errors) == 1, done
    assert "SpendAboveLimit" in done.errors[0], done.errors
    assert holdings(book, "bob") == before
    assert as_read(book, offer_id).remaining == 1_000


def test_a_bot_acting_on_a_book_with_the_pair_swapped_buys_nothing(book: TwoAssetMarket) -> None:
    """The node shows alice's BND ask as a USD ask (same numbers): the bot would pay BND and
    get USD; the take reverts instead."""
    offer_id = book.make("alice", 1_000, 3_000)
    honest = as_read(book, offer_id)
    forged = dataclasses.replace(honest, pay_token=honest.buy_token, buy_token=honest.pay_token)
    before = holdings(book, "bob")

    done = executor(book, "bob").execute(NOTHING, [Take(offer_id, 400, 1_200)], [forged])

    assert done.taken == [] and "OfferPairMismatch" in done.errors[0], done
    assert holdings(book, "bob") == before


def test_an_honest_take_goes_through_and_one_of_an_unread_offer_is_not_sent(
    book: TwoAssetMarket,
) -> None:
    offer_id = book.make("alice", 1_000, 3_000)
    bot = executor(book, "bob")
    nonce = bot.market.transactor.w3.eth.get_transaction_count(book.world.addr("bob"))

    unread = bot.execute(NOTHING, [Take(offer_id, 400, 1_200)], [])
    assert unread.taken == [] and "not in the book read" in unread.errors[0], unread
    assert bot.market.transactor.w3.eth.get_transaction_count(book.world.addr("bob")) == nonce

    done = bot.execute(NOTHING, [Take(offer_id, 400, 1_200)], [as_read(book, offer_id)])
    assert done.errors == [] and [t.offer_id for t in done.taken] == [offer_id]
    assert holdings(book, "bob") == (FUNDS + 400, FUNDS - 1_200)
