"""The typed market client against the real contract, and the event-fed book against views."""

import random

import pytest
from web3.contract import Contract

from bots.chain.transactor import Transactor
from bots.errors import ChainError, TxError
from bots.market.book import apply_events
from bots.market.client import MarketClient
from tests.chainfixtures import World


@pytest.fixture
def setup(world: World) -> tuple[World, Contract, Contract, MarketClient, MarketClient]:
    base, quote = world.asset("BND"), world.asset("EUR")
    market = world.deploy("OtcMarket")
    for token in (base, quote):
        world.fund(token, {"alice": 10**9, "bob": 10**9})
    alice = MarketClient(world.w3, market.address, world.tx["alice"])
    bob = MarketClient(world.w3, market.address, world.tx["bob"])
    for client in (alice, bob):
        client.ensure_allowance(base.address, 10**9)
        client.ensure_allowance(quote.address, 10**9)
    return world, base, quote, alice, bob


def test_make_take_cancel_through_the_client(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    oid = alice.make(1_000, base.address, 2_000, quote.address)
    assert alice.offer(oid) is not None
    assert bob.spend_for(oid, 333) == 666
    bob.take(oid, 333)
    offer = alice.offer(oid)
    assert offer is not None and offer.remaining == 667 and offer.remaining_buy == 1_334
    alice.cancel(oid)
    assert alice.offer(oid) is None
    assert alice.balance_of(base.address, alice.transactor.address) == 10**9 - 333


def test_requote_returns_new_ids_and_book_shows_them(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    old = alice.make(1_000, base.address, 2_000, quote.address)
    new_ids = alice.requote(
        [(old, 1_000)],
        [(500, base.address, 1_010, quote.address), (700, quote.address, 340, base.address)],
    )
    bids, asks = alice.book(base.address, quote.address)
    assert [o.id for o in asks] == [new_ids[0]]
    assert [o.id for o in bids] == [new_ids[1]]
    assert {o.id for o in alice.owner_offers(alice.transactor.address)} == set(new_ids)


def test_requote_with_stale_expectation_reverts_readably(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    oid = alice.make(1_000, base.address, 2_000, quote.address)
    bob.take(oid, 1)
    with pytest.raises(TxError, match="UnexpectedRemaining"):
        alice.requote([(oid, 1_000)], [])


def test_read_only_client_refuses_to_trade(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    reader = MarketClient(world.w3, alice.market_address)
    with pytest.raises(ChainError, match="read-only"):
        reader.make(1, base.address, 1, quote.address)


def test_book_fed_by_events_equals_the_views(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    rng = random.Random(7)
    start_block = world.w3.eth.block_number + 1
    clients = {"alice": alice, "bob": bob}
    live: dict[int, str] = {}
    for _ in range(40):
        action = rng.random()
        if action < 0.5 or not live:
            who = rng.choice(["alice", "bob"])
            pay, buy = (base, quote) if rng.random() < 0.5 else (quote, base)
            oid = clients[who].make(
                rng.randint(1, 5_000), pay.address, rng.randint(1, 5_000), buy.address
            )
            live[oid] = who
        else:
            oid = rng.choice(sorted(live))
            maker = live[oid]
            offer = alice.offer(oid)
            assert offer is not None
            if action < 0.75:
                clients[maker].cancel(oid)
                del live[oid]
            else:
                taker = "bob" if maker == "alice" else "alice"
                quantity = rng.randint(1, offer.remaining)
                clients[taker].take(oid, quantity)
                if quantity == offer.remaining:
                    del live[oid]
    book = apply_events({}, alice.events(start_block))
    assert book == {o.id: o for o in alice.all_offers()}
    assert set(book) == set(live)


def test_transactor_resyncs_after_foreign_send(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    other = Transactor(world.w3, world.accounts["alice"])  # same key, another wallet
    other.transact(base.functions.transfer(world.addr("carol"), 1))
    alice.transactor.resync_nonce()
    assert alice.make(10, base.address, 10, quote.address) > 0


def test_pair_view_batches_the_first_pages_and_reads_on_for_long_books(
    setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, base, quote, alice, bob = setup
    monkeypatch.setattr("bots.market.client.PAGE_SIZE", 2)  # five asks: pages of 2, 2 and 1
    specs = [(100 + i, base.address, 200 + i, quote.address) for i in range(5)]
    specs += [(300, quote.address, 150, base.address)]
    ids = alice.requote([], specs)
    bob.take(ids[0], 40)
    number = int(world.w3.eth.block_number)

    bids, asks, balances, native, nonce = bob.pair_view(
        base.address, quote.address, alice.transactor.address, number
    )

    assert (bids, asks) == tuple(alice.book(base.address, quote.address, number))
    assert [o.id for o in asks] == ids[:5] and [o.id for o in bids] == ids[5:]
    assert asks[0].remaining == 60
    owner = alice.transactor.address
    assert balances == {
        base.address: alice.balance_of(base.address, owner),
        quote.address: alice.balance_of(quote.address, owner),
    }
    assert native == world.w3.eth.get_balance(owner)
    assert nonce == world.w3.eth.get_transaction_count(owner, number)
