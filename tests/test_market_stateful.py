"""Random trading against a pure model: after every step the chain must equal the model.

Four traders make, buy, cancel and re-quote on one market with two assets, in both directions,
with the dead-man's switch: deadlines set and refreshed, guarded re-quotes, the clock moving.
The invariants are the market's promises: escrow holds exactly the remaining amounts of the
active offers, no value is created or lost, every fill pays the maker at least its exact price,
every offer on chain is what the model says it is, an expired guarded offer is never taken, and
every active offer can always be cancelled by its maker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test
from web3.logs import DISCARD

from bots.errors import TxError
from tests.chainfixtures import World, ceil_div
from tests.marketmodel import (
    ACTORS,
    FUNDS,
    GAS,
    MARKET,
    TOP,
    MarketModel,
    Venue,
    amounts,
    deadline_offsets,
    directions,
)


class MarketMachine(MarketModel):
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
        at = self.now() + data.draw(st.integers(1, 40), label="seconds later")
        self.world.chain.rpc("evm_setNextBlockTimestamp", [at])
        spend = ceil_div(quantity * o.buy_amt, o.pay_amt)
        # `buy`, or `buyWithin` with a limit around the true cost and the pair right or swapped
        how = data.draw(st.sampled_from(["buy", "within", "within", "swapped"]), label="how")
        slack = data.draw(st.sampled_from([-1, 0, 0, 1, 10**6]), label="limit - cost")
        pay, buy = self.tokens[o.pay].address, self.tokens[o.buy].address
        call = self.market.functions.buy(o.id, quantity)
        error = None
        if how != "buy":
            pair = (pay, buy) if how == "within" else (buy, pay)
            call = self.market.functions.buyWithin(o.id, quantity, *pair, spend + slack)
            if slack < 0:
                error = f"SpendAboveLimit(id={hex(o.id)}, spend={spend}, maxSpend={spend - 1})"
            elif how == "swapped":
                error = f"OfferPairMismatch(id={hex(o.id)}, payToken={pay}, buyToken={buy})"
        if self.expired(o, at):
            error = f"OfferExpired(id={hex(o.id)}, deadline={self.deadlines[o.maker]})"
        if error is not None:
            with pytest.raises(TxError, match=re.escape(error)):
                self.world.send(taker, call, gas=GAS)
            return

        receipt = self.world.send(taker, call, gas=GAS)

        buy_token = self.tokens[o.buy]
        transfers = buy_token.events.Transfer().process_receipt(receipt, errors=DISCARD)
        (paid,) = [
            e["args"]["value"]
            for e in transfers
            if e["address"] == buy_token.address and e["args"]["to"] == self.address(o.maker)
        ]
        exact = Fraction(quantity * o.buy_amt, o.pay_amt)
        assert exact <= paid < exact + 1
        assert paid == spend
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
        error = f"NotOfferOwner(id={hex(o.id)}, caller={self.world.addr(intruder)})"
        with pytest.raises(TxError, match=re.escape(error)):
            self.world.send(intruder, self.market.functions.cancel(o.id))

    @precondition(lambda self: self.offers)
    @rule(
        data=st.data(),
        new=st.lists(st.tuples(directions, amounts, amounts), max_size=3),
        wrong=st.booleans(),
    )
    def requote(self, data: st.DataObject, new: list[tuple[int, int, int]], wrong: bool) -> None:
        self.replace_offers(data, new, wrong, None)

    @precondition(lambda self: self.offers)
    @rule(
        data=st.data(),
        new=st.lists(st.tuples(directions, amounts, amounts), max_size=3),
        wrong=st.booleans(),
        offset=deadline_offsets,
    )
    def requote_until(
        self,
        data: st.DataObject,
        new: list[tuple[int, int, int]],
        wrong: bool,
        offset: int | None,
    ) -> None:
        self.replace_offers(data, new, wrong, self.deadline_from(offset))

    def replace_offers(
        self,
        data: st.DataObject,
        new: list[tuple[int, int, int]],
        wrong: bool,
        deadline: int | None,
    ) -> None:
        """`requote`, or `requoteUntil` with `deadline` when it is not None."""
        maker = self.draw_offer(data).maker
        own = sorted(i for i, o in self.offers.items() if o.maker == maker)
        ids = data.draw(
            st.lists(st.sampled_from(own), min_size=1, max_size=4, unique=True), label="cancels"
        )
        cancels = [(i, self.offers[i].remaining) for i in ids]
        error = None
        if wrong:
            at = data.draw(st.integers(0, len(cancels) - 1), label="wrong at")
            id_, actual = cancels[at]
            others = sorted({actual - 1, actual + 1, 0, TOP} - {actual})
            expected = data.draw(st.sampled_from(others), label="expected")
            cancels[at] = (id_, expected)
            error = f"UnexpectedRemaining(id={hex(id_)}, expected={expected}, actual={actual})"
        specs = [self.spec(*n) for n in new]
        if deadline is None:
            call = self.market.functions.requote(cancels, specs)
        else:
            call = self.market.functions.requoteUntil(cancels, specs, deadline)
        if error is not None:
            with pytest.raises(TxError, match=re.escape(error)):
                self.world.send(maker, call)
            return  # nothing changed, the deadline neither (checked by the invariants)

        receipt = self.world.send(maker, call)

        for id_ in ids:
            self.move(self.offers[id_].pay, MARKET, maker, self.offers[id_].remaining)
            self.close(id_)
        if deadline is None:
            for made, spec in zip(self.made(receipt), new, strict=True):
                self.open_offer(made, maker, spec)
        else:
            self.made_guarded(maker, new, deadline, receipt)

    @rule(
        maker=st.sampled_from(ACTORS),
        new=st.lists(st.tuples(directions, amounts, amounts), min_size=1, max_size=3),
        offset=deadline_offsets,
    )
    def offer_until(self, maker: str, new: list[tuple[int, int, int]], offset: int | None) -> None:
        """Guarded offers without cancels: `requoteUntil([], offers, deadline)`."""
        deadline = self.deadline_from(offset)
        specs = [self.spec(*n) for n in new]
        receipt = self.world.send(maker, self.market.functions.requoteUntil([], specs, deadline))
        self.made_guarded(maker, new, deadline, receipt)

    @precondition(
        lambda self: any(o.guarded and self.deadlines[o.maker] for o in self.offers.values())
    )
    @rule(data=st.data(), seconds=st.integers(1, 40))
    def take_after_the_deadline_reverts(self, data: st.DataObject, seconds: int) -> None:
        """Wait past a guarded offer's deadline and try to take it: the market must refuse."""
        candidates = [
            o for _, o in sorted(self.offers.items()) if o.guarded and self.deadlines[o.maker]
        ]
        o = data.draw(st.sampled_from(candidates), label="offer")
        taker = data.draw(st.sampled_from([a for a in ACTORS if a != o.maker]), label="taker")
        deadline = self.deadlines[o.maker]
        self.world.chain.rpc("evm_setNextBlockTimestamp", [max(self.now(), deadline) + seconds])
        error = f"OfferExpired(id={hex(o.id)}, deadline={deadline})"
        with pytest.raises(TxError, match=re.escape(error)):
            self.world.send(taker, self.market.functions.buy(o.id, o.remaining), gas=GAS)

    @rule(maker=st.sampled_from(ACTORS), offset=deadline_offsets)
    def set_deadline(self, maker: str, offset: int | None) -> None:
        deadline = self.deadline_from(offset)
        receipt = self.world.send(maker, self.market.functions.setDeadline(deadline))
        self.switched(maker, deadline, receipt)

    @rule(seconds=st.integers(1, 90))
    def time_passes(self, seconds: int) -> None:
        self.world.chain.rpc("evm_increaseTime", [seconds])
        self.world.chain.rpc("evm_mine")

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
    def switch_equals_model(self) -> None:
        """Deadlines and takability as modelled; every active offer cancellable by its maker."""
        now = self.now()
        live = sorted(self.offers.values(), key=lambda o: o.id)
        with self.world.w3.batch_requests() as batch:
            for who in ACTORS:
                batch.add(self.market.functions.deadlineOf(self.address(who)))
            for o in live:
                batch.add(self.market.functions.isTakable(o.id))
            for o in live:
                data = self.market.functions.cancel(o.id)._encode_transaction_data()
                call = {"from": self.address(o.maker), "to": self.market.address, "data": data}
                batch.add(self.world.w3.eth.call(call))  # type: ignore[arg-type]
            replies = list(batch.execute())

        assert replies[: len(ACTORS)] == [self.deadlines[who] for who in ACTORS]
        takable = replies[len(ACTORS) : len(ACTORS) + len(live)]
        assert takable == [not self.expired(o, now) for o in live]
        cancelled = replies[len(ACTORS) + len(live) :]
        assert [int.from_bytes(r, "big") for r in cancelled] == [1] * len(live)  # returns true

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
