"""A pair's book kept from the market's logs equals the book the market's views return.

Every kind of event is exercised across several blocks: makes, partial and full takes, cancels,
conditional re-quotes, guarded offers and deadline changes of the dead-man's switch, and trades
on another pair that must not leak in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3.contract import Contract

from bots.chain.rpc import connect
from bots.chain.transactor import Transactor
from bots.market.approvals import Approvals
from bots.market.client import MarketClient
from bots.market.pairbook import PairBook
from tests.chainfixtures import World, rolled_back

pytestmark = pytest.mark.chain

FUNDS = 10**24


@pytest.fixture(scope="module")
def market(session_world: World) -> Iterator[dict[str, Any]]:
    world = session_world
    with rolled_back(world):
        made: dict[str, Any] = {"market": world.deploy("OtcMarket")}
        for symbol in ("BND", "USD", "OTH"):
            made[symbol] = world.asset(symbol, decimals=6)
            world.fund(made[symbol], {"alice": FUNDS, "bob": FUNDS}, made["market"])
        yield made


def client(world: World, market: Contract, who: str) -> MarketClient:
    w3 = connect(world.chain.url)
    trader = MarketClient(w3, market.address, Transactor(w3, world.accounts[who]))
    return trader


def views(reader: MarketClient, base: str, quote: str, owner: str) -> dict[int, Any]:
    block = int(reader.w3.eth.block_number)
    full = reader.pair_view(base, quote, owner, block)
    return {o.id: o for o in (*full.bids, *full.asks)}


def followed(book: PairBook, owner: str, reader: MarketClient) -> dict[int, Any]:
    view = book.read(owner, int(reader.w3.eth.block_number))
    return {o.id: o for o in (*view.bids, *view.asks)}


def test_the_book_from_logs_matches_the_views_through_every_kind_of_event(
    market: dict[str, Any], world: World
) -> None:
    alice, bob = (client(world, market["market"], who) for who in ("alice", "bob"))
    bnd, usd, oth = (market[s].address for s in ("BND", "USD", "OTH"))
    book = PairBook(alice, bnd, usd, full_read_every=10_000)
    owner = alice.transactor.address
    assert followed(book, owner, alice) == {}  # the first read is a full one

    asks = alice.requote([], [(10**6, bnd, 100 * 10**6, usd), (2 * 10**6, bnd, 201 * 10**6, usd)])
    bids = bob.requote_until([], [(99 * 10**6, usd, 10**6, bnd)], deadline=2**40)
    bob.requote([], [(10**6, oth, 10**6, usd)])  # another pair: must not leak in
    assert followed(book, owner, alice) == views(alice, bnd, usd, owner)

    bob.take(asks[0], 4 * 10**5)  # partial
    alice.take(bids[0], 99 * 10**6)  # full: the offer is gone
    alice.requote([(asks[1], 2 * 10**6)], [(3 * 10**6, bnd, 300 * 10**6, usd)])
    assert followed(book, owner, alice) == views(alice, bnd, usd, owner)

    more = bob.requote_until([], [(50 * 10**6, usd, 10**6, bnd)], deadline=2**41)
    bob.set_deadline(2**42)  # every guarded offer of bob moves with it
    alice.cancel(asks[0])
    assert followed(book, owner, alice) == views(alice, bnd, usd, owner)
    assert book.read(owner, int(alice.w3.eth.block_number)).bids[0].deadline == 2**42
    assert more


def test_a_read_in_the_same_block_asks_for_no_logs(market: dict[str, Any], world: World) -> None:
    alice = client(world, market["market"], "alice")
    bnd, usd = market["BND"].address, market["USD"].address
    Approvals(alice).ensure(bnd, 1)
    book = PairBook(alice, bnd, usd)
    block = int(alice.w3.eth.block_number)
    book.read(alice.transactor.address, block)

    again = book.read(alice.transactor.address, block)

    assert again.bids == [] and again.asks == []


def test_a_chain_that_went_backwards_is_read_in_full(market: dict[str, Any], world: World) -> None:
    alice = client(world, market["market"], "alice")
    bnd, usd = market["BND"].address, market["USD"].address
    snapshot = world.chain.rpc("evm_snapshot")
    book = PairBook(alice, bnd, usd)
    alice.requote([], [(10**6, bnd, 100 * 10**6, usd)])
    owner = alice.transactor.address
    assert len(book.read(owner, int(alice.w3.eth.block_number)).asks) == 1
    world.chain.rpc("evm_revert", [snapshot])  # the offer never happened

    assert book.read(owner, int(alice.w3.eth.block_number)).asks == []
