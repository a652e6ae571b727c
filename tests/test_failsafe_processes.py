"""Fail-safe bot processes: one process per keystore, foreign transactions, the kill switch's
record, a node that forgets a pending transaction while the bot runs, the price anchor across
restarts, SIGTERM during start-up and a journal that cannot be written.

Real `otcmm run` processes with their own keystores on a real dev chain (`tests.botharness`).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
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


def test_a_second_bot_on_the_same_journal_file_is_refused(bot_world: BotWorld) -> None:
    """Another account, the same `runtime.journal` (an operator's copy-paste): its rewrites
    would drop the first bot's open entries, so it is refused before it signs anything."""
    w = bot_world
    config = w.new_bot("journal-a", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    first = w.start(config)
    first.wait_for(made)
    other = w.new_bot("journal-b", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    shared = config.parent / "journal.jsonl"
    text = other.read_text(encoding="utf-8")
    other.write_text(text.replace('journal = "journal.jsonl"', f'journal = "{shared}"'), "utf-8")

    second = w.start(other)
    code = second.process.wait(timeout=60)
    second.pump()

    assert code == 6
    errors = [line for line in second.raw if line.startswith("otcmm: error:")]
    assert len(errors) == 1 and "one journal per bot" in errors[0], second.tail()
    assert f"pid {first.process.pid}" in errors[0] and str(shared) in errors[0]
    assert own(w, second) == [] and len(own(w, first)) == 4
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


def anchor_file(config: Path) -> Path:
    address = json.loads((config.parent / "key.json").read_text())["address"]
    return config.parent / f"otcmm-0x{address.lower().removeprefix('0x')}.price"


def prices(world: BotWorld, bot: BotProcess) -> list[Fraction]:
    """Quote per base of the bot's own offers (both assets have 2 decimals)."""
    base = world.market.base.address
    return [
        Fraction(o.buy_amt, o.pay_amt) if o.pay_token == base else Fraction(o.pay_amt, o.buy_amt)
        for o in own(world, bot)
    ]


def test_a_restart_with_a_wrong_feed_is_held_against_the_anchor_until_an_operator_resets_it(
    bot_world: BotWorld,
) -> None:
    """The feed's decimal point moves while the bot is down. The restarted bot used to take
    the first reading as the truth and quote around 1000; the anchor it kept on disk now makes
    that a price_jump stop, until an operator starts it with --reset-price-anchor."""
    w = bot_world
    config = w.new_bot("anchored", MAKER, base=1_000 * UNITS, quote=1_000_000 * UNITS)
    first = w.start(config)
    first.wait_for(made)
    assert first.events("price anchor set from the feed")[0]["why"].startswith("no price anchor")
    assert json.loads(anchor_file(config).read_text())["price"] == "100"
    assert first.terminate() == 0
    config.write_text(config.read_text().replace('price = "100"', 'price = "1000"'))

    held = w.start(config)
    stop = held.wait_for(lambda line: line.get("stop") == "price_jump")
    held.wait_for(lambda line: line.get("event") == "tick" and line.get("tick", 0) >= 6)

    assert "max_price_jump_bps 5000" in stop["reason"] and "--reset-price-anchor" in stop["reason"]
    assert own(w, held) == [] and not [line for line in held.lines if made(line)]
    assert held.terminate() == 0

    reset = w.start(config, "--reset-price-anchor")
    reset.wait_for(made)
    assert reset.events(
        "price anchor reset by the operator: the next sane reading becomes the anchor"
    )
    assert all(900 < price < 1100 for price in prices(w, reset))
    assert json.loads(anchor_file(config).read_text())["price"] == "1000"
    assert reset.terminate() == 0 and own(w, reset) == []


def test_sigterm_during_a_long_start_up_exits_promptly_and_cleanly(bot_world: BotWorld) -> None:
    """The node accepts connections and never answers, so the start-up waits on it (10 s per
    attempt, five retries). SIGTERM then used to kill the process without a word (exit -15;
    as a container's PID 1 it was ignored until the grace period ran out)."""
    w = bot_world
    config = w.new_bot("interrupted", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS)
    with socket.socket() as silent:  # the kernel completes connections; nobody answers them
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config.write_text(config.read_text().replace(w.chain.url, url))
        bot = w.start(config)
        probes = bot.wait_for(lambda line: line.get("event") == "metrics and probes listening")
        bot.wait_for(lambda line: line.get("event") == "starting")
        port = probes["address"].rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200  # alive while starting (readiness is not)

        code = bot.terminate(timeout=30)

    assert code == 0, bot.tail()
    assert bot.events("stopped during start-up, before the first tick: nothing quoted")
    assert "Traceback" not in "\n".join(bot.raw)
    assert own(w, bot) == []


def test_a_journal_that_cannot_be_written_stops_new_quotes_but_not_the_cancels(
    bot_world: BotWorld,
) -> None:
    """The journal's volume fails (here: its file turns into a directory). The failed write
    used to raise inside every send, so the bot could not even cancel its stale quotes."""
    w = bot_world
    config = w.new_bot("unjournaled", MAKER, base=1_000 * UNITS, quote=100_000 * UNITS, feed=MOVING)
    bot = w.start(config)
    bot.wait_for(made)
    journal = config.parent / "journal.jsonl"
    journal.unlink()
    journal.mkdir()

    failed = bot.wait_for(
        lambda line: line.get("event") == "journal write failed: no new makes or takes"
    )
    bot.wait_for(lambda line: line.get("stop") == "journal")
    deadline = time.monotonic() + 60
    while own(w, bot) and time.monotonic() < deadline:  # the price moves: stale quotes go
        time.sleep(0.2)
    assert own(w, bot) == []
    stopped_at = bot.wait_for(lambda line: line.get("stop") == "journal")["tick"]
    assert not [line for line in bot.lines if made(line) and line["tick"] >= stopped_at]
    assert "journal.jsonl" in failed["reason"]

    journal.rmdir()
    bot.wait_for(lambda line: line.get("event") == "journal writable again")
    bot.wait_for(lambda line: made(line) and line["tick"] > stopped_at)
    assert bot.terminate() == 0 and own(w, bot) == []
