"""A transaction a tick could not wait for is held, and the next tick settles it from the
receipt its snapshot batch read (issue 14: one round trip fewer per transaction).

Real bot wiring (`tests.tickrig`) on the session's anvil with automine off: the test decides
when blocks come. RPC calls are recorded by method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bots.chain.waits import waits_until
from tests.chainfixtures import TwoAssetMarket, World
from tests.test_failsafe_tick import fresh_book  # noqa: F401 - the same BND/USD market
from tests.tickrig import Rig, ladder, make_rig

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
