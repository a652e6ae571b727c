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

import bots.market.reader
from bots.chain.rawrpc import raw_request
from bots.chain.rpc import connect
from bots.chain.transactor import Transactor
from bots.market.approvals import Approvals
from bots.market.client import MarketClient, PairView
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

    bob.take(asks[0], 4 * 10**5, bnd, usd, 40 * 10**6)  # partial
    alice.take(bids[0], 99 * 10**6, usd, bnd, 10**6)  # full: the offer is gone
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


def header(reader: MarketClient) -> tuple[int, dict[str, Any]]:
    block = raw_request(reader.w3, "eth_getBlockByNumber", ["latest", False])
    return int(block["number"], 16), block


@pytest.mark.parametrize(
    "mined_after", [0, 1, 5], ids=["same-height:hash", "next:parent-hash", "higher:in-batch"]
)
def test_a_reorg_that_does_not_lower_the_block_number_is_read_in_full(
    market: dict[str, Any], world: World, mined_after: int
) -> None:
    """The red team's reorg: the book saw a requote, the chain dropped it and went on to the
    same height or beyond. Judged by block number alone the book kept the ghost offers."""
    alice = client(world, market["market"], "alice")
    bnd, usd = market["BND"].address, market["USD"].address
    owner = alice.transactor.address
    kept = alice.requote([], [(10**6, bnd, 100 * 10**6, usd)])
    book = PairBook(alice, bnd, usd, full_read_every=10_000)
    read_at(book, owner, alice, True)
    snapshot = world.chain.rpc("evm_snapshot")
    ghost = alice.requote([(kept[0], 10**6)], [(10**6, bnd, 101 * 10**6, usd)])
    assert [o.id for o in read_at(book, owner, alice, True).asks] == ghost
    world.chain.rpc("evm_revert", [snapshot])  # the requote never happened ...
    alice.transactor.resync_nonce()
    for _ in range(1 + mined_after):  # ... and other blocks took its place
        world.chain.rpc("evm_mine")

    view = read_at(book, owner, alice, True)

    assert [o.id for o in view.asks] == kept == list(views(alice, bnd, usd, owner))


def read_at(book: PairBook, owner: str, reader: MarketClient, with_header: bool) -> PairView:
    """The book at the latest block, given its header (as a bot's snapshot does) or not."""
    number, block = header(reader)
    return book.read(owner, number, header=block if with_header else None)


def test_an_invalidated_book_is_read_in_full_once(market: dict[str, Any], world: World) -> None:
    """A log the node left out of an answer: the book keeps a dead offer until a full read,
    which a failed transaction now asks for (`invalidate`)."""
    alice, bob = (client(world, market["market"], who) for who in ("alice", "bob"))
    bnd, usd = market["BND"].address, market["USD"].address
    owner = alice.transactor.address
    book = PairBook(alice, bnd, usd, full_read_every=10_000)
    asks = bob.requote([], [(10**6, bnd, 100 * 10**6, usd)])
    read_at(book, owner, alice, False)
    bob.cancel(asks[0])
    book._block += 1  # the cancel's block is skipped, as by an answer without its log (no
    # header given: no hash check either, which would catch this one)
    assert [o.id for o in read_at(book, owner, alice, False).asks] == asks  # a ghost

    book.invalidate("a transaction failed")

    assert read_at(book, owner, alice, False).asks == []


def test_a_node_that_refuses_the_logs_gets_a_full_read_instead(
    market: dict[str, Any], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node answering eth_getLogs with an error ("more than 10000 results") failed every
    tick, each asking for a longer range, until 1,000 blocks passed (red team 2)."""
    alice, bob = (client(world, market["market"], who) for who in ("alice", "bob"))
    bnd, usd = market["BND"].address, market["USD"].address
    owner = alice.transactor.address
    book = PairBook(alice, bnd, usd, full_read_every=10_000)
    read_at(book, owner, alice, True)
    asks = bob.requote([], [(10**6, bnd, 100 * 10**6, usd)])
    real = bots.market.reader.raw_batch_answers

    def refusing(w3: Any, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        answers = real(w3, calls)
        return [
            {
                "jsonrpc": "2.0",
                "id": 0,
                "error": {"code": -32005, "message": "query returned more than 10000 results"},
            }
            if method == "eth_getLogs"
            else answer
            for (method, _), answer in zip(calls, answers, strict=True)
        ]

    monkeypatch.setattr(bots.market.reader, "raw_batch_answers", refusing)

    assert [o.id for o in read_at(book, owner, alice, True).asks] == asks
