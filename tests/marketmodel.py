"""The pure model the market's state machine test checks the chain against.

`MarketModel` holds what the chain should hold (offers, balances, deadlines) and the helpers
that update it from receipts; `tests/test_market_stateful.py` adds the rules and invariants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from web3.contract import Contract
from web3.logs import DISCARD

from tests.chainfixtures import World, ceil_div

ACTORS = ("alice", "bob", "carol", "dave")
MARKET = "market"
FUNDS = 2**104  # enough for every step to offer the largest amounts
TOP = 2**96 - 1
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

GAS = 2_000_000  # takes skip the estimate: each is mined at the second the rule chose

amounts = st.one_of(st.integers(1, 10), st.integers(1, 10**6), st.integers(1, TOP))
directions = st.sampled_from([0, 1])  # index of the pay token; the other one is bought
# A deadline relative to the latest block (seconds; None switches the switch off).
deadline_offsets = st.one_of(st.none(), st.integers(-30, 60))


@dataclass
class ModelOffer:
    id: int
    maker: str
    pay: int
    pay_amt: int
    buy_amt: int
    remaining: int
    timestamp: int
    guarded: bool = False

    @property
    def buy(self) -> int:
        return 1 - self.pay


@dataclass(frozen=True)
class Venue:
    """What every example trades on; deployed once, rolled back to after each example."""

    world: World
    market: Contract
    tokens: tuple[Contract, Contract]


class MarketModel(RuleBasedStateMachine):
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
        self.deadlines = dict.fromkeys(ACTORS, 0)

    def teardown(self) -> None:
        self.world.revert(self.snapshot)

    # ------------------------------------------------------------ helpers

    def address(self, who: str) -> str:
        return self.market.address if who == MARKET else self.world.addr(who)

    def move(self, token: int, source: str, to: str, amount: int) -> None:
        self.balances[token, source] -= amount
        self.balances[token, to] += amount

    def open_offer(
        self, made: tuple[int, int], maker: str, spec: tuple[int, int, int], guarded: bool = False
    ) -> None:
        (id_, timestamp), (pay, pay_amt, buy_amt) = made, spec
        assert id_ not in self.offers and id_ not in self.closed
        self.offers[id_] = ModelOffer(
            id_, maker, pay, pay_amt, buy_amt, pay_amt, timestamp, guarded
        )
        self.move(pay, maker, MARKET, pay_amt)

    def now(self) -> int:
        return int(self.world.w3.eth.get_block("latest")["timestamp"])

    def expired(self, o: ModelOffer, timestamp: int) -> bool:
        """The market's rule: guarded, the maker's switch on, and `timestamp` past it."""
        deadline = self.deadlines[o.maker]
        return o.guarded and deadline != 0 and timestamp > deadline

    def deadline_from(self, offset: int | None) -> int:
        return 0 if offset is None else max(1, self.now() + offset)

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

    # ------------------------------------------------------------ the switch

    def made_guarded(
        self, maker: str, new: list[tuple[int, int, int]], deadline: int, receipt: Any
    ) -> None:
        """Record a `requoteUntil`'s new guarded offers; `LogGuard` must name them all."""
        made = self.made(receipt)
        for offer, spec in zip(made, new, strict=True):
            self.open_offer(offer, maker, spec, guarded=True)
        self.switched(maker, deadline, receipt)
        guards = self.market.events.LogGuard().process_receipt(receipt, errors=DISCARD)
        logged = [(e["args"]["deadline"], list(e["args"]["ids"])) for e in guards]
        assert logged == ([(deadline, [i for i, _ in made])] if made else [])

    def switched(self, maker: str, deadline: int, receipt: Any) -> None:
        """Record `maker`'s new deadline; `LogDeadline` must come exactly when it changed."""
        logged = self.market.events.LogDeadline().process_receipt(receipt, errors=DISCARD)
        changed = deadline != self.deadlines[maker]
        address = self.address(maker)
        assert [dict(e["args"]) for e in logged] == (
            [{"maker": address, "deadline": deadline}] if changed else []
        )
        self.deadlines[maker] = deadline

    def expected_view(self, id_: int) -> tuple[Any, ...]:
        o = self.offers.get(id_)
        if o is None:
            return (id_, ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, 0, 0, 0, 0, False)
        pay, buy = self.tokens[o.pay].address, self.tokens[o.buy].address
        maker = self.address(o.maker)
        remaining_buy = ceil_div(o.remaining * o.buy_amt, o.pay_amt)
        deadline = self.deadlines[o.maker] if o.guarded else 0
        amounts = (o.pay_amt, o.buy_amt, o.remaining, remaining_buy)
        return (id_, maker, pay, buy, *amounts, o.timestamp, deadline, o.guarded)
