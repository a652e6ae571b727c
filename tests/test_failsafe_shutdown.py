"""Fail-safe shutdown on a real chain: a gas-fee spike and a node that hangs.

Real bots on the session anvil (`tests.tickrig`), shut down with `bots.service.shutdown`.
"""

from __future__ import annotations

import threading

import pytest

from bots.service.shutdown import Leftovers, cancel_all
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from tests.chainfixtures import TwoAssetMarket, World
from tests.faultproxy import FaultPlan, FaultProxy
from tests.tickrig import (  # noqa: F401 - fresh_book is a fixture
    FUNDS,
    GWEI,
    SIZE,
    fresh_book,
    make_rig,
    restore_base_fee,
    set_base_fee,
)

pytestmark = pytest.mark.chain


# --- shutdown under a gas-fee spike ---------------------------------------------------------


def test_shutdown_halves_cancel_batches_when_a_fee_spike_leaves_too_little_gas_money(
    book: TwoAssetMarket, world: World
) -> None:
    """Eight offers, then the base fee jumps: the gas money covers a cancel or two at the new
    max fee, not one transaction cancelling all eight. Every cancel used to fail with
    "insufficient funds" until the shutdown gave up; now batches halve until they fit."""
    world.fund(book.usd, {"dave": FUNDS}, book.market)
    world.fund(book.bnd, {"dave": FUNDS}, book.market)
    wide = FixedSpreadParams(spread_bps=100, levels=4, level_spacing_bps=50, size=SIZE)
    rig = make_rig(book, "dave", strategy=FixedSpread(wide))
    rig.tick()
    assert len(rig.own()) == 8
    spike = 200 * GWEI
    dave = world.addr("dave")
    keep = 8 * 60_000 * spike  # ~8 single cancels at the spiked fee, not a batch's max fee
    world.tx["dave"].send_value(world.addr("deployer"), world.w3.eth.get_balance(dave) - keep)
    try:
        set_base_fee(world, spike)
        executor = rig.bot.executor
        transactor = executor.market.transactor
        assert "insufficient funds" in " ".join(executor.cancel_all(rig.own()).errors).lower()

        left = cancel_all(rig.bot.view, executor, transactor, 20, sleep=lambda _s: None)

        assert left.clean and rig.own() == []
    finally:
        restore_base_fee(world)


def test_a_shutdown_against_a_hanging_node_ends_by_its_timeout_and_names_the_last_offers(
    book: TwoAssetMarket, fault_proxy: FaultProxy
) -> None:
    """The node stops answering (every answer 30 s late, past the 10 s per-attempt timeout).
    Every RPC call of the shutdown used to get 10 s and five retries however short
    shutdown_timeout_s was; now the shutdown's budget ends them, and since the bot never read
    its offers again it names the ones its last tick left live."""
    rig = make_rig(book, rpc_url=fault_proxy.url)
    rig.tick()
    quoted = sorted(offer.id for offer in rig.own())
    assert len(quoted) == 4
    fault_proxy.configure(FaultPlan(rates={"delay": 1.0}, delay_s=30.0))
    bot = rig.bot
    done: list[Leftovers] = []
    worker = threading.Thread(
        target=lambda: done.append(
            cancel_all(
                bot.view,
                bot.executor,
                bot.executor.market.transactor,
                1.0,
                last_known=bot.last_offer_ids,
            )
        )
    )

    worker.start()
    worker.join(timeout=20)  # generous: the bound is 1 s; unbounded it takes minutes

    assert not worker.is_alive(), "the shutdown outlived its timeout"
    (left,) = done
    assert left.offers is None and list(left.last_seen) == quoted
    assert all(hex(offer_id) in left.describe() for offer_id in quoted)
