"""A transaction a tick could not wait for is held, and the next tick settles it from the
receipt its snapshot batch read (issue 14: one round trip fewer per transaction).

Real bot wiring (`tests.tickrig`) on the session's anvil with automine off: the test decides
when blocks come. RPC calls are recorded by method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from bots.chain.waits import waits_until
from bots.market.client import made_offer_ids
from bots.tick.report import TickReport
from strategies.taker import Taker, TakerParams
from tests.chainfixtures import TwoAssetMarket, World
from tests.tickrig import SIZE, Rig, fresh_book, ladder, make_rig  # noqa: F401 - a fixture

pytestmark = pytest.mark.chain


@pytest.fixture
def rig(book: TwoAssetMarket, world: World) -> Iterator[Rig]:
    """alice's bot, its first requote sent and held (automine off, no time to wait)."""
    rig = make_rig(book)
    world.chain.rpc("evm_setAutomine", [False])
    try:
        with waits_until(time.monotonic()):
            first = rig.tick()
        assert first.execution.pending is not None  # sent, not mined: held
        assert rig.own() == []
        yield rig
    finally:
        world.chain.rpc("evm_mine")
        world.chain.rpc("evm_setAutomine", [True])


def calls_of(rig: Rig) -> list[str]:
    calls: list[str] = []
    rig.bot.view.market.w3.provider.on_request = calls.append  # type: ignore[attr-defined]
    return calls


def test_a_mined_held_transaction_is_settled_from_the_snapshots_batch(
    rig: Rig, world: World
) -> None:
    world.chain.rpc("evm_mine")
    calls = calls_of(rig)

    report = rig.tick()
    tick_calls = list(calls)

    assert report.outcome == "noop"  # the held requote placed the ladder; nothing to change
    assert rig.quoted() == ladder("100")
    assert "eth_getTransactionReceipt" not in tick_calls  # no call of its own: in the batch
    assert len(tick_calls) == 2  # the header, then the batch with the receipt
    assert "eth_getTransactionReceipt" in tick_calls[1]
    assert rig.bot.executor.held_hashes() == ()


def test_a_held_transaction_not_mined_yet_keeps_the_tick_pending_in_two_calls(
    rig: Rig, world: World
) -> None:
    calls = calls_of(rig)

    report = rig.tick()

    assert report.outcome == "tx_pending" and report.execution.pending is not None
    assert len(calls) == 2  # the header and one batch with the receipt: no poll of its own
    assert rig.bot.executor.held_hashes() != ()
    world.chain.rpc("evm_mine")
    assert rig.tick().outcome == "noop" and rig.quoted() == ladder("100")


# --- what a held transaction did is reported by the tick that settles it -----------------------


def test_the_tick_that_settles_a_held_requote_reports_the_offers_it_made(
    rig: Rig, world: World
) -> None:
    world.chain.rpc("evm_mine")
    with capture_logs() as logs:
        report = rig.tick()

    own = sorted(offer.id for offer in rig.own())
    assert len(own) == 4 and sorted(report.done.made) == own  # read from its LogMake logs
    assert report.execution.made == []  # this tick itself sent nothing
    tick = next(line for line in logs if line["event"] == "tick")
    assert tick["made"] == 4 and tick["result"] == "sent"


def taker_rig(book: TwoAssetMarket, world: World) -> tuple[Rig, int, int]:
    """alice as a taker, bob's ask at 90 guarded by his dead-man's switch: (rig, id, deadline)."""
    deadline = int(world.w3.eth.get_block("latest")["timestamp"]) + 3_600
    offer = (SIZE, book.bnd.address, 90 * 5 * 10**6, book.usd.address)  # 5 BND for 450 USD
    call = book.market.functions.requoteUntil([], [offer], deadline)
    (offer_id,) = made_offer_ids(book.market, world.send("bob", call))
    params = TakerParams(edge_bps=0, budget_quote=10**12, budget_base=0)
    return make_rig(book, strategy=Taker(params)), offer_id, deadline


def held_take(rig: Rig, world: World) -> TickReport:
    world.chain.rpc("evm_setAutomine", [False])
    with waits_until(time.monotonic()):
        report = rig.tick()
    assert report.execution.pending is not None and report.execution.taken == []
    return report


def test_a_held_take_is_reported_taken_once_mined(book: TwoAssetMarket, world: World) -> None:
    rig, offer_id, _ = taker_rig(book, world)
    try:
        held_take(rig, world)
        world.chain.rpc("evm_mine")
        report = rig.tick()
    finally:
        world.chain.rpc("evm_setAutomine", [True])
    assert [take.offer_id for take in report.done.taken] == [offer_id]
    assert report.done.errors == []
    assert book.market.functions.getOffer(offer_id).call()[0] == 0  # bought out


def test_a_held_take_that_reverts_once_mined_is_a_failed_transaction(
    book: TwoAssetMarket, world: World
) -> None:
    rig, offer_id, deadline = taker_rig(book, world)
    try:
        held_take(rig, world)
        world.chain.rpc("evm_setNextBlockTimestamp", [deadline + 1])  # bob's guard expires
        world.chain.rpc("evm_mine")
        with capture_logs() as logs:
            report = rig.tick()
    finally:
        world.chain.rpc("evm_setAutomine", [True])
    assert report.done.taken == []
    (error,) = [e for e in report.done.errors if "sent by an earlier tick" in e]
    assert error.startswith(f"buy: OfferExpired(id={hex(offer_id)}, ")  # the chain's reason
    assert any(line["event"] == "transaction failed" for line in logs)
    assert book.market.functions.getOffer(offer_id).call()[0] == SIZE  # still bob's
    with capture_logs() as later:  # a failed transaction makes the book suspect: read it whole
        rig.tick()
    assert any(line["event"] == "reading the book in full" for line in later)


# --- a reorg takes a mined transaction of ours away -------------------------------------------


def test_a_transaction_the_chain_lost_does_not_leave_the_next_one_stuck(
    book: TwoAssetMarket, world: World
) -> None:
    """The red team's reorg: a requote mined, then vanished with its block. The bot's next
    nonce was one past it, so everything it signed after waited on a gap forever (it could
    not even pull its quotes). Now the tick sees the chain's count below its own, takes the
    nonce from the node again, and its book (hash-checked) shows the requote gone."""
    rig = make_rig(book)
    snapshot = world.chain.rpc("evm_snapshot")
    assert rig.tick().outcome == "quote" and rig.quoted() == ladder("100")
    world.chain.rpc("evm_revert", [snapshot])  # the requote's block is gone
    world.chain.rpc("evm_mine")  # and the chain moved on past it
    assert rig.own() == []

    with capture_logs() as logs:
        report = rig.tick()

    assert report.outcome == "quote" and report.execution.pending is None
    assert rig.quoted() == ladder("100")  # quoted again, with the nonce the chain expects
    assert any(line["event"].startswith("the chain lost transactions of ours") for line in logs)
