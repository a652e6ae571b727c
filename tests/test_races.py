"""Many bots, one block: gas limits that survive same-block races, true revert reasons, a
bounded journal.

Each race is forced on anvil with automine off: Alice's transaction is estimated and sent
first, then Bob's is sent with a higher tip, so the block runs Bob's first and Alice's meets a
state her estimate never saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bots.chain import failure
from bots.chain.journal import TxJournal
from bots.chain.rpc import connect
from bots.chain.transactor import Transactor, TxEvent
from bots.errors import TxPending
from bots.market.client import MarketClient
from bots.market.gas import WINDOW
from bots.service.metrics import BotMetrics
from bots.service.process import _tx_observer
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market

pytestmark = pytest.mark.chain

FUNDS = 10**15


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    with rolled_back(session_world):
        yield two_asset_market(session_world, TwoAssetMarket, ("alice", "bob"), FUNDS, 6)


class Events:
    def __init__(self) -> None:
        self.seen: list[TxEvent] = []

    def __call__(self, event: TxEvent) -> None:
        self.seen.append(event)

    def failed(self) -> list[TxEvent]:
        return [e for e in self.seen if e.kind == "failed"]


def client(world: World, book: TwoAssetMarket, who: str, events: Events) -> MarketClient:
    """`who` trading through the bots' own client; sends hand over pending after 0.3 s."""
    w3 = connect(world.chain.url)
    transactor = Transactor(w3, world.accounts[who], receipt_timeout_s=0.3, on_event=events)
    return MarketClient(w3, book.market.address, transactor)


def send_first(world: World, who: str, call: Any) -> str:
    """Send `call` from `who` with a 10 gwei tip, so it runs before the bots' transactions in
    the block (they tip what the node suggests: anvil says 1 gwei)."""
    account = world.accounts[who]
    tx = call.build_transaction(
        {
            "from": account.address,
            "gas": 15_000_000,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": 10 * 10**9,
            "nonce": world.w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": world.w3.eth.chain_id,
        }
    )
    return world.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction).hex()


def asks(book: TwoAssetMarket, count: int, price: int = 100) -> list[tuple[int, str, int, str]]:
    return [(10 + i, book.bnd.address, price + i, book.usd.address) for i in range(count)]


@pytest.fixture
def automine_off(world: World) -> Iterator[World]:
    world.chain.rpc("evm_setAutomine", [False])
    try:
        yield world
    finally:
        world.chain.rpc("evm_mine")
        world.chain.rpc("evm_setAutomine", [True])


def race(world: World, alice: MarketClient, alice_sends: Any, bob_call: Any) -> dict[str, Any]:
    """Alice's transaction estimated and sent first, Bob's first in the block; Alice's receipt."""
    with pytest.raises(TxPending):
        alice_sends()
    send_first(world, "bob", bob_call)
    world.chain.rpc("evm_mine")
    receipt = alice.transactor.settle_held(wait_s=10)
    assert receipt is not None
    return dict(receipt)


def test_a_requote_that_opens_a_new_window_behind_a_rival_does_not_run_out_of_gas(
    book: TwoAssetMarket, world: World, automine_off: World
) -> None:
    events = Events()
    alice, bob = client(world, book, "alice", events), client(world, book, "bob", Events())
    world.chain.rpc("evm_setAutomine", [True])
    (mine,) = alice.requote([], asks(book, 1))
    bob.requote([], asks(book, WINDOW - 4))  # the pair's next offer is 2 short of a new window
    world.chain.rpc("evm_setAutomine", [False])
    own = alice.offer(mine)
    assert own is not None

    receipt = race(
        world,
        alice,
        lambda: alice.requote([(mine, own.remaining)], asks(book, 1, price=90)),
        book.market.functions.requote([], asks(book, 2, price=80)),  # takes the last two ids
    )

    assert receipt["status"] == 1, [e.reason for e in events.failed()]
    seq = max(o.id for o in alice.owner_offers(alice.transactor.address)) & (2**64 - 1)
    assert seq % WINDOW == 0  # Alice's new offer opened the new window: the worst case ran


def test_a_cancel_whose_offer_left_the_newest_window_does_not_run_out_of_gas(
    book: TwoAssetMarket, world: World, automine_off: World
) -> None:
    events = Events()
    alice = client(world, book, "alice", events)
    world.chain.rpc("evm_setAutomine", [True])
    (mine,) = alice.requote([], asks(book, 1))
    world.chain.rpc("evm_setAutomine", [False])
    own = alice.offer(mine)
    assert own is not None

    receipt = race(
        world,
        alice,
        lambda: alice.requote([(mine, own.remaining)], []),
        book.market.functions.requote([], asks(book, WINDOW + 2, price=80)),  # a window and more
    )

    assert receipt["status"] == 1, [e.reason for e in events.failed()]
    assert alice.offer(mine) is None


def test_a_requote_raced_by_a_take_reports_the_true_reason(
    book: TwoAssetMarket, world: World, automine_off: World
) -> None:
    events = Events()
    alice = client(world, book, "alice", events)
    world.chain.rpc("evm_setAutomine", [True])
    (mine,) = alice.requote([], asks(book, 1))
    world.chain.rpc("evm_setAutomine", [False])
    own = alice.offer(mine)
    assert own is not None

    receipt = race(
        world,
        alice,
        lambda: alice.requote([(mine, own.remaining)], asks(book, 1, price=95)),
        book.market.functions.buy(mine, 1),  # a fill lands first in the same block
    )

    assert receipt["status"] == 0
    (failed,) = events.failed()
    assert failed.reason == "UnexpectedRemaining" and failed.gas_used
    found = failure.mined_failure(world.w3, {"gas": 10**6}, receipt)  # type: ignore[arg-type]
    assert found.text.startswith("UnexpectedRemaining(") and "replayed" not in found.text


def test_out_of_gas_is_recognised_as_such(book: TwoAssetMarket, world: World) -> None:
    events = Events()
    alice = client(world, book, "alice", events)
    call = book.market.functions.requote([], asks(book, 1))

    with pytest.raises(Exception, match="out of gas: used"):
        alice.transactor.transact(call, gas=60_000)

    (failed,) = events.failed()
    assert failed.reason == "out_of_gas" and failed.gas_used == 60_000


def test_a_node_without_traces_falls_back_to_a_replay_and_says_so(
    book: TwoAssetMarket, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failure, "_request", lambda *_args: None)
    events = Events()
    alice = client(world, book, "alice", events)
    call = book.market.functions.cancel(12345)

    with pytest.raises(Exception, match=r"OfferNotActive\(id=0x3039\).*no trace from this node"):
        alice.transactor.transact(call, gas=100_000)
    assert events.failed()[0].reason == "OfferNotActive"


def test_failures_are_counted_by_reason_in_the_metrics(tmp_path: Path) -> None:
    metrics = BotMetrics()
    observe = _tx_observer(metrics, TxJournal(tmp_path / "journal.jsonl"))

    observe(TxEvent("failed", "requote", "0x" + "1" * 64, 3, gas_used=90_000, reason="out_of_gas"))
    observe(TxEvent("failed", "buy", "0x" + "2" * 64, 4, reason="refused"))

    text = metrics.render().decode()
    assert 'otcmm_tx_failed_total{label="requote",reason="out_of_gas"} 1.0' in text
    assert 'otcmm_tx_failed_total{label="buy",reason="refused"} 1.0' in text
    assert 'otcmm_tx_gas_used_total{label="requote"} 90000.0' in text  # a revert's gas is paid


def test_the_journal_stays_within_its_bound_while_running(tmp_path: Path) -> None:
    bound = 8 * 1024
    journal = TxJournal(tmp_path / "journal.jsonl", max_bytes=bound)
    raw = bytes(range(256)) * 2  # a requote's signed bytes are about this size
    sizes = []
    for nonce in range(2_000):
        tx_hash = Web3.keccak(nonce.to_bytes(8, "big")).to_0x_hex()
        journal.sent(nonce, tx_hash, raw, "requote")
        journal.done(tx_hash, used_nonce=nonce)
        sizes.append((tmp_path / "journal.jsonl").stat().st_size)

    largest_record = 2 * len(raw) + 200
    assert max(sizes) <= bound + 2 * largest_record
    assert journal.open_entries(0) == []
    pending = Web3.keccak(b"pending").to_0x_hex()
    journal.sent(2_000, pending, raw, "requote")
    reopened = TxJournal(tmp_path / "journal.jsonl", max_bytes=bound)
    assert [e.tx_hash for e in reopened.open_entries(2_000)] == [pending]
