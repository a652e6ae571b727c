"""The typed market client against the real contract, and the event-fed book against views."""

import random

import pytest
from web3.contract import Contract

from bots.chain.transactor import Transactor
from bots.errors import ChainError, TxError
from bots.market.approvals import Approvals
from bots.market.book import apply_events
from bots.market.client import MarketClient
from strategies.api import LiveOffer
from tests.chainfixtures import World

GAS = 2_000_000  # takes at a set second skip the estimate, so a revert is mined too


@pytest.fixture
def setup(world: World) -> tuple[World, Contract, Contract, MarketClient, MarketClient]:
    base, quote = world.asset("BND"), world.asset("EUR")
    market = world.deploy("OtcMarket")
    for token in (base, quote):
        world.fund(token, {"alice": 10**9, "bob": 10**9})
    alice = MarketClient(world.w3, market.address, world.tx["alice"])
    bob = MarketClient(world.w3, market.address, world.tx["bob"])
    for client in (alice, bob):
        Approvals(client).ensure(base.address, 10**9)
        Approvals(client).ensure(quote.address, 10**9)
    return world, base, quote, alice, bob


def test_make_take_cancel_through_the_client(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    oid = alice.make(1_000, base.address, 2_000, quote.address)
    assert alice.offer(oid) is not None
    assert bob.spend_for(oid, 333) == 666
    bob.take(oid, 333, base.address, quote.address, 666)
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
    bob.take(oid, 1, base.address, quote.address, 2)
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
    for _ in range(60):
        action = rng.random()
        who = rng.choice(["alice", "bob"])
        if action < 0.1:  # the switch: off, on, or moved (never in the past: takes go on)
            deadline = rng.choice([0, now(world) + rng.randint(1_000, 9_000)])
            clients[who].set_deadline(deadline)
        elif action < 0.5 or not live:
            pay, buy = (base, quote) if rng.random() < 0.5 else (quote, base)
            spec = (rng.randint(1, 5_000), pay.address, rng.randint(1, 5_000), buy.address)
            if rng.random() < 0.5:
                (oid,) = clients[who].requote_until(
                    [], [spec], clients[who].deadline_of(address_of(clients[who]))
                )
            else:
                oid = clients[who].make(*spec)
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
                spend = alice.spend_for(oid, quantity)
                clients[taker].take(oid, quantity, offer.pay_token, offer.buy_token, spend)
                if quantity == offer.remaining:
                    del live[oid]
    book = apply_events({}, [*alice.events(start_block), *alice.switch_events(start_block)])
    views = {o.id: o for o in alice.all_offers()}
    assert book == views
    assert set(book) == set(live)
    assert {o.guarded for o in views.values()} == {True, False}
    assert any(o.deadline for o in views.values())


def address_of(client: MarketClient) -> str:
    return client.transactor.address


def now(world: World) -> int:
    return int(world.w3.eth.get_block("latest")["timestamp"])


def test_the_switch_through_the_client(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    deadline = now(world) + 1_000
    old = alice.make(1_000, base.address, 2_000, quote.address)

    new = alice.requote_until([(old, 1_000)], [(900, base.address, 1_900, quote.address)], deadline)
    receipt = bob.set_deadline(deadline + 5)  # bob's own switch: alice's is untouched

    assert receipt["status"] == 1
    assert alice.deadline_of(address_of(alice)) == deadline
    assert bob.deadline_of(address_of(bob)) == deadline + 5
    (offer,) = alice.owner_offers(address_of(alice))
    assert (offer.id, offer.guarded, offer.deadline) == (new[0], True, deadline)
    assert alice.offer(new[0]) == offer
    assert alice.is_takable(new[0])
    assert not alice.is_takable(old)

    past = now(world) - 1
    alice.set_deadline(past)  # a deadline in the past pulls the offer at once

    assert not bob.is_takable(new[0])
    offer = alice.offer(new[0])
    assert offer is not None and offer.deadline == past
    with pytest.raises(TxError, match=f"OfferExpired\\(id={hex(new[0])}, deadline={past}\\)"):
        bob.transactor.transact(bob.contract.functions.buy(new[0], 1), gas=GAS)
    alice.set_deadline(0)
    assert bob.is_takable(new[0])


@pytest.mark.parametrize("deadline", [-1, 2**256])
def test_the_client_refuses_deadlines_the_contract_cannot_hold(setup: tuple, deadline: int) -> None:
    world, base, quote, alice, bob = setup
    with pytest.raises(ValueError, match="deadline must be unix seconds"):
        alice.set_deadline(deadline)
    with pytest.raises(ValueError, match="deadline must be unix seconds"):
        alice.requote_until([], [], deadline)


def test_takable_at_agrees_with_the_market_around_the_deadline(setup: tuple) -> None:
    world, base, quote, alice, bob = setup
    deadline = now(world) + 1_000
    (guarded,) = alice.requote_until([], [(100, base.address, 200, quote.address)], deadline)
    plain = alice.make(100, base.address, 200, quote.address)

    for at in (deadline - 1, deadline, deadline + 1):
        world.chain.rpc("evm_setNextBlockTimestamp", [at])
        world.chain.rpc("evm_mine")
        for oid in (guarded, plain):
            offer = bob.offer(oid)
            assert offer is not None
            assert offer.takable_at(at) == bob.is_takable(oid), (oid, at)
    assert [bob.is_takable(i) for i in (guarded, plain)] == [False, True]


def test_takable_at_is_the_markets_rule() -> None:
    def offer(deadline: int, guarded: bool) -> LiveOffer:
        return LiveOffer(1, "0x1", "0x2", "0x3", 10, 20, 10, 20, 5, deadline, guarded)

    assert offer(0, False).takable_at(2**63)
    assert offer(0, True).takable_at(2**63)  # guarded, switch off
    assert offer(100, True).takable_at(100)
    assert not offer(100, True).takable_at(101)


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
    bob.take(ids[0], 40, base.address, quote.address, 80)
    number = int(world.w3.eth.block_number)

    bids, asks, balances, native, nonce, _fee, _extra = bob.pair_view(
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
