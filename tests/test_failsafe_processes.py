"""Fail-safe bot processes: one process per keystore, foreign transactions, the kill switch's
record, and a node that forgets a pending transaction while the bot runs.

Real `otcmm run` processes with their own keystores on a real dev chain (`tests.botharness`).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bots.chain.keystore import unlock
from bots.chain.transactor import Transactor
from bots.devtools.devchain import DevChainParams
from tests.botharness import PASSWORD, BotProcess, BotWorld, start_bot_world

pytestmark = pytest.mark.chain

UNITS = 100  # both assets have 2 decimals
MAKER = {
    "name": "fixed_spread",
    "params": {"spread_bps": 100, "size": 5 * UNITS, "levels": 2, "level_spacing_bps": 50},
}
MOVING = {"kind": "gbm", "start": "100", "volatility": 20, "seed": 3, "step_s": 5}


@pytest.fixture(scope="module")
def bot_world(
    chain_params: DevChainParams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotWorld]:
    params = dataclasses.replace(chain_params, accounts=2)
    yield from start_bot_world(params, tmp_path_factory.mktemp("failsafe"))


def own(world: BotWorld, bot: BotProcess) -> list[Any]:
    return list(world.reader.owner_offers(bot.address))


def made(line: dict[str, Any]) -> bool:
    return line.get("event") == "tick" and line.get("made", 0) > 0


def test_a_second_process_on_the_same_keystore_is_refused(bot_world: BotWorld) -> None:
    w = bot_world
    config = w.new_bot("single", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    first = w.start(config)
    first.wait_for(made)

    second = w.start(config)
    code = second.process.wait(timeout=60)
    second.pump()

    assert code == 6
    errors = [line for line in second.raw if line.startswith("otcmm: error:")]
    assert len(errors) == 1 and "one process per keystore" in errors[0]
    assert f"pid {first.process.pid}" in errors[0]
    assert "Traceback" not in "\n".join(second.raw)
    assert len(own(w, first)) == 4  # the first one's quotes were never doubled
    assert first.process.poll() is None
    assert first.terminate() == 0 and own(w, first) == []


def test_a_transaction_the_bot_did_not_sign_stops_it_and_its_offers_are_pulled(
    bot_world: BotWorld,
) -> None:
    w = bot_world
    config = w.new_bot("watched", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    bot = w.start(config)
    bot.wait_for(made)
    rogue = Transactor(w.w3, unlock(config.parent / "key.json", PASSWORD))  # another wallet

    rogue.send_value(rogue.address, 0)

    code = bot.process.wait(timeout=60)
    bot.pump()
    assert code == 6
    stop = bot.wait_for(lambda line: line.get("event") == "stopping the bot")
    assert "another process or wallet" in stop["error"]
    assert own(w, bot) == []


def test_a_tripped_kill_switch_refuses_to_start_until_cleared(bot_world: BotWorld) -> None:
    w = bot_world
    config = w.new_bot("killed", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    address = json.loads((config.parent / "key.json").read_text())["address"]
    record = config.parent / f"otcmm-0x{address.lower().removeprefix('0x')}.killed"
    record.write_text(json.dumps({"reason": "P&L -150 below -max_loss 100", "at": "then"}))

    refused = w.start(config)
    code = refused.process.wait(timeout=60)
    refused.pump()
    assert code == 7
    assert [line for line in refused.raw if "below -max_loss" in line]
    assert own(w, refused) == []

    cleared = w.start(config, "--clear-kill-switch")
    cleared.wait_for(made)
    assert not record.exists()
    assert cleared.terminate() == 0


def test_a_node_that_forgets_a_pending_requote_gets_it_again_without_a_stall(
    bot_world: BotWorld,
) -> None:
    """The node restarts and loses its pool while a requote waits for its block. The bot
    sends the very same signed transaction again (no second requote, no duplicate offers)
    instead of waiting out its receipt timeout."""
    w = bot_world
    config = w.new_bot("forgotten", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS, feed=MOVING)
    bot = w.start(config)
    bot.wait_for(made)
    w.chain.rpc("evm_setAutomine", [False])
    try:
        sent_before = len(bot.events("tx sent"))
        sent = bot.wait_for(lambda _: len(bot.events("tx sent")) > sent_before, timeout=30)
        w.chain.rpc("anvil_dropAllTransactions")
        again = bot.wait_for(lambda line: line.get("event") == "tx rebroadcast", timeout=15)
    finally:
        w.chain.rpc("evm_setAutomine", [True])
    w.chain.rpc("evm_mine")

    assert again["tx_hash"] == bot.events("tx sent")[sent_before]["tx_hash"]  # the same bytes
    bot.wait_for(lambda line: made(line) and line.get("tick", 0) > sent.get("tick", 0))
    offers = own(w, bot)
    assert len(offers) == 4
    assert max(Counter((o.pay_token, o.pay_amt, o.buy_amt) for o in offers).values()) == 1
    assert bot.terminate() == 0 and own(w, bot) == []
