"""Random trading against a pure model: after every step the chain must equal the model.

Four traders make, buy, cancel and re-quote on one market with two assets, in both directions.
The invariants are the market's promises: escrow holds exactly the remaining amounts of the
active offers, no value is created or lost, every fill pays the maker at least its exact price,
and every offer on chain is what the model says it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract
from web3.logs import DISCARD

from bots.errors import TxError
from tests.chainfixtures import World, ceil_div

ACTORS = ("alice", "bob", "carol", "dave")
MARKET = "market"
FUNDS = 2**104  # enough for every step to offer the largest amounts
TOP = 2**96 - 1
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

amounts = st.one_of(st.integers(1, 10), st.integers(1, 10**6), st.integers(1, TOP))
directions = st.sampled_from([0, 1])  # index of the pay token; the other one is bought


@dataclass
class ModelOffer:
    id: int
    maker: str
    pay: int
    pay_amt: int
    buy_amt: int
    remaining: int
    timestamp: int

    @property
    def buy(self) -> int:
        return 1 - self.pay


@dataclass(frozen=True)
class Venue:
    """What every example trades on; deployed once, rolled back to after each example."""

    world: World
    market: Contract
    tokens: tuple[Contract, Contract]


class MarketMachine(RuleBasedStateMachine):
    venue: ClassVar[Venue]

    def __init__(self) -> None:
        super().__init__()
        self.world, self.market, self.tokens = (
            self.venue.world,
            self.venue.market,
            self.venue.tokens,
        )
        self.snapshot = self.world.snapshot()
        self.offers: dict[int, ModelOffer] = {}
        self.closed: set[int] = set()
        self.balances = {(t, who): FUNDS for t in (0, 1) for who in ACTORS}
        self.balances.update({(t, MARKET): 0 for t in (0, 1)})

    def teardown(self) -> None:
        self.world.revert(self.snapshot)

    # ------------------------------------------------------------ helpers

    def address(self, who: str) -> str:
        return self.market.address if who == MARKET else self.world.addr(who)

    def move(self, token: int, source: str, to: str, amount: int) -> None:
        self.balances[token, source] -= amount
        self.balances[token, to] += amount

    def open_offer(self, made: tuple[int, int], maker: str, spec: tuple[int, int, int]) -> None:
        (id_, timestamp), (pay, pay_amt, buy_amt) = made, spec
        assert id_ not in self.offers and id_ not in self.closed
        self.offers[id_] = ModelOffer(id_, maker, pay, pay_amt, buy_amt, pay_amt, timestamp)
        self.move(pay, maker, MARKET, pay_amt)

    def close(self, id_: int) -> None:
        del self.offers[id_]
        self.closed.add(id_)

    def spec(self, pay: int, pay_amt: int, buy_amt: int) -> tuple[Any, ...]:
        return (pay_amt, self.tokens[pay].address, buy_amt, self.tokens[1 - pay].address)

    def draw_offer(self, data: st.DataObject, maker: str | None = None) -> ModelOffer:
        candidates = [o for _, o in sorted(self.offers.items()) if maker in (None, o.maker)]
        return data.draw(st.sampled_from(candidates), label="offer")

    def made(self, receipt: Any) -> list[tuple[int, int]]:
        """(id, timestamp) of each offer a receipt's LogMake events announce."""
        found = self.market.events.LogMake().process_receipt(receipt, errors=DISCARD)
        return [(int.from_bytes(e["args"]["id"], "big"), e["args"]["timestamp"]) for e in found]

    # ------------------------------------------------------------ rules

    @rule(maker=st.sampled_from(ACTORS), pay=directions, pay_amt=amounts, buy_amt=amounts)
    def offer(self, maker: str, pay: int, pay_amt: int, buy_amt: int) -> None:
        call = self.market.functions.offer(*self.spec(pay, pay_amt, buy_amt))
        (made,) = self.made(self.world.send(maker, call))
        self.open_offer(made, maker, (pay, pay_amt, buy_amt))

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def buy(self, data: st.DataObject) -> None:
        o = self.draw_offer(data)
        taker = data.draw(st.sampled_from([a for a in ACTORS if a != o.maker]), label="taker")
        quantity = data.draw(
            st.one_of(st.just(o.remaining), st.integers(1, o.remaining)), label="quantity"
        )

        receipt = self.world.send(taker, self.market.functions.buy(o.id, quantity))

        buy_token = self.tokens[o.buy]
        transfers = buy_token.events.Transfer().process_receipt(receipt, errors=DISCARD)
        (paid,) = [
            e["args"]["value"]
            for e in transfers
            if e["address"] == buy_token.address and e["args"]["to"] == self.address(o.maker)
        ]
        exact = Fraction(quantity * o.buy_amt, o.pay_amt)
        assert exact <= paid < exact + 1
        assert paid == ceil_div(quantity * o.buy_amt, o.pay_amt)
        self.move(o.buy, taker, o.maker, paid)
        self.move(o.pay, MARKET, taker, quantity)
        o.remaining -= quantity
        if o.remaining == 0:
            self.close(o.id)

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        o = self.draw_offer(data)
        self.world.send(o.maker, self.market.functions.cancel(o.id))
        self.move(o.pay, MARKET, o.maker, o.remaining)
        self.close(o.id)

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def cancel_by_non_maker_reverts(self, data: st.DataObject) -> None:
        o = self.draw_offer(data)
        intruder = data.draw(st.sampled_from([a for a in ACTORS if a != o.maker]), label="who")
        error = f"NotOfferOwner(id={o.id}, caller={self.world.addr(intruder)})"
        with pytest.raises(TxError, match=re.escape(error)):
            self.world.send(intruder, self.market.functions.cancel(o.id))

    @precondition(lambda self: self.offers)
    @rule(
        data=st.data(),
        new=st.lists(st.tuples(directions, amounts, amounts), max_size=3),
        wrong=st.booleans(),
    )
    def requote(self, data: st.DataObject, new: list[tuple[int, int, int]], wrong: bool) -> None:
        maker = self.draw_offer(data).maker
        own = sorted(i for i, o in self.offers.items() if o.maker == maker)
        ids = data.draw(
            st.lists(st.sampled_from(own), min_size=1, max_size=4, unique=True), label="cancels"
        )
        cancels = [(i, self.offers[i].remaining) for i in ids]
        call_specs = [self.spec(*n) for n in new]
        if wrong:
            at = data.draw(st.integers(0, len(cancels) - 1), label="wrong at")
            id_, actual = cancels[at]
            others = sorted({actual - 1, actual + 1, 0, TOP} - {actual})
            expected = data.draw(st.sampled_from(others), label="expected")
            cancels[at] = (id_, expected)
            error = f"UnexpectedRemaining(id={id_}, expected={expected}, actual={actual})"
            with pytest.raises(TxError, match=re.escape(error)):
                self.world.send(maker, self.market.functions.requote(cancels, call_specs))
            return

        receipt = self.world.send(maker, self.market.functions.requote(cancels, call_specs))

        for id_ in ids:
            self.move(self.offers[id_].pay, MARKET, maker, self.offers[id_].remaining)
            self.close(id_)
        for made, spec in zip(self.made(receipt), new, strict=True):
            self.open_offer(made, maker, spec)

    # ------------------------------------------------------------ invariants

    @invariant()
    def chain_equals_model(self) -> None:
        holders = (*ACTORS, MARKET)
        model_ids = sorted(self.offers) + sorted(self.closed)
        with self.world.w3.batch_requests() as batch:
            for token in self.tokens:
                batch.add(token.functions.totalSupply())
                for who in holders:
                    batch.add(token.functions.balanceOf(self.address(who)))
            for id_ in model_ids:
                batch.add(self.market.functions.offerInfo(id_))
            replies = list(batch.execute())

        for t in (0, 1):
            supply, *held = replies[t * (1 + len(holders)) : (t + 1) * (1 + len(holders))]
            assert supply == len(ACTORS) * FUNDS
            assert sum(held) == supply
            assert dict(zip(holders, held, strict=True)) == {
                w: self.balances[t, w] for w in holders
            }
            escrow = sum(o.remaining for o in self.offers.values() if o.pay == t)
            assert self.balances[t, MARKET] == escrow
        infos = replies[2 * (1 + len(holders)) :]
        assert [tuple(v) for v in infos] == [self.expected_view(i) for i in model_ids]

    @invariant()
    def pages_list_the_model_offers(self) -> None:
        views: list[tuple[Any, ...]] = []
        cursor = 0
        while True:
            page, cursor = self.market.functions.getOffers(cursor, 100).call()
            views += [tuple(v) for v in page]
            if cursor == 0:
                break
        assert [v[0] for v in views] == sorted(self.offers)
        for t, token in enumerate(self.tokens):
            paged = sum(v[6] for v in views if v[2] == token.address)
            assert paged == self.balances[t, MARKET]

    def expected_view(self, id_: int) -> tuple[Any, ...]:
        o = self.offers.get(id_)
        if o is None:
            return (id_, ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, 0, 0, 0)
        pay, buy = self.tokens[o.pay].address, self.tokens[o.buy].address
        maker = self.address(o.maker)
        remaining_buy = ceil_div(o.remaining * o.buy_amt, o.pay_amt)
        return (id_, maker, pay, buy, o.pay_amt, o.buy_amt, o.remaining, remaining_buy, o.timestamp)


@pytest.fixture
def venue(world: World) -> Iterator[Venue]:
    market = world.deploy("OtcMarket")
    cash, bond = world.asset("USD", decimals=18), world.asset("BND", decimals=2)
    for token in (cash, bond):
        world.fund(token, dict.fromkeys(ACTORS, FUNDS), market)
    yield Venue(world, market, (cash, bond))


def test_market_keeps_its_invariants_under_random_trading(venue: Venue) -> None:
    machine = type("OtcMarketMachine", (MarketMachine,), {"venue": venue})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
