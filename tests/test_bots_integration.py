"""Two bots, two processes, two keystores, one dev chain: they trade, and they clean up.

The maker quotes a fixed spread around a static price; the taker believes the asset is worth
more and lifts the maker's asks. Both processes are real `otcmm run` processes signing locally
and talking to anvil over JSON-RPC, exactly as two containers would.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.devtools.devchain import DevChainParams
from tests.botharness import BotProcess, BotWorld, start_bot_world
from tests.faultproxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.chain

BASE_UNITS = 100  # both demo assets have 2 decimals
MAKER = {
    "name": "fixed_spread",
    "params": {"spread_bps": 100, "size": 5 * BASE_UNITS, "levels": 2, "level_spacing_bps": 50},
}
TAKER = {
    "name": "taker",
    "params": {"edge_bps": 50, "budget_quote": 600 * BASE_UNITS, "budget_base": 0},
}


@pytest.fixture(scope="module")
def bot_world(
    chain_params: DevChainParams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotWorld]:
    params = dataclasses.replace(chain_params, accounts=2)
    yield from start_bot_world(params, tmp_path_factory.mktemp("bots"))


def own(world: BotWorld, bot: BotProcess) -> list[object]:
    return list(world.reader.owner_offers(bot.address))


def ticked(line: dict[str, object], **fields: object) -> bool:
    return line.get("event") == "tick" and all(line.get(k) == v for k, v in fields.items())


def test_maker_and_taker_processes_trade_and_sigterm_returns_all_escrow(
    bot_world: BotWorld,
) -> None:
    w = bot_world
    maker_cfg = w.new_bot("maker", MAKER, base=1_000 * BASE_UNITS, quote=100_000 * BASE_UNITS)
    taker_cfg = w.new_bot(
        "taker", TAKER, base=0, quote=50_000 * BASE_UNITS, feed={"kind": "static", "price": "110"}
    )
    maker = w.start(maker_cfg)
    maker.wait_for(lambda line: ticked(line, made=4))
    assert len(own(w, maker)) == 4

    taker = w.start(taker_cfg)
    taken = taker.wait_for(lambda line: line.get("event") == "tick" and line.get("taken", 0) > 0)
    assert taken["taken"] >= 1
    # The maker sees its ask was filled and re-quotes it on a later tick.
    maker.wait_for(
        lambda line: (
            line.get("event") == "tick" and line.get("made", 0) > 0 and line.get("tick", 0) > 1
        )
    )

    base, quote = w.market.base.functions, w.market.quote.functions
    assert base.balanceOf(taker.address).call() > 0  # the taker bought the asset ...
    assert quote.balanceOf(taker.address).call() < 50_000 * BASE_UNITS  # ... and paid for it

    assert taker.terminate() == 0
    assert maker.terminate() == 0
    assert own(w, maker) == [] and own(w, taker) == []
    assert maker.events("all own offers cancelled; bye")
    # Nothing is left in escrow: the market holds no tokens once both bots are gone.
    market = w.market.market.address
    assert base.balanceOf(market).call() == 0
    assert quote.balanceOf(market).call() == 0
    # Conservation: every base unit issued is with one of the two bots.
    total = base.balanceOf(maker.address).call() + base.balanceOf(taker.address).call()
    assert total == 1_000 * BASE_UNITS


def test_kill_9_mid_transaction_then_restart_leaves_no_duplicates_or_orphans(
    bot_world: BotWorld,
) -> None:
    """The nastiest moment to die: a requote signed and sent but not mined.

    The node then loses its pool too (as a restarted node does). The restarted bot must
    rebroadcast the journaled transaction and wait for it before reading its offers, or it
    would quote again on top of what the old transaction creates.
    """
    w = bot_world
    moving = {"kind": "gbm", "start": "100", "volatility": 20, "seed": 3, "step_s": 5}
    config = w.new_bot(
        "phoenix", MAKER, base=1_000 * BASE_UNITS, quote=100_000 * BASE_UNITS, feed=moving
    )
    first = w.start(config)
    first.wait_for(lambda line: ticked(line, made=4))
    w.chain.rpc("evm_setAutomine", [False])
    try:
        sent_before = len(first.events("tx sent"))
        first.wait_for(lambda _: len(first.events("tx sent")) > sent_before, timeout=30)
        first.kill()
        w.chain.rpc("anvil_dropAllTransactions")
        second = w.start(config)
        second.wait_for(lambda line: line.get("event") == "rebroadcasting journaled transaction")
        second.wait_for(
            lambda line: line.get("event") == "waiting for pending transactions of a previous run"
        )
    finally:
        w.chain.rpc("evm_setAutomine", [True])
    w.chain.rpc("evm_mine")
    second.wait_for(
        lambda line: line.get("event") == "tick" and line.get("tick", 0) >= 2, timeout=60
    )
    offers = own(w, second)
    assert len(offers) == 4, offers
    amounts = Counter((o.pay_token, o.pay_amt, o.buy_amt) for o in offers)  # type: ignore[attr-defined]
    assert max(amounts.values()) == 1, "a restarted bot duplicated an offer"
    assert second.terminate() == 0
    assert own(w, second) == []


def test_a_bot_with_a_wrong_password_exits_2_without_a_traceback(
    bot_world: BotWorld, tmp_path: Path
) -> None:
    config = bot_world.new_bot("locked", MAKER, base=0, quote=0)
    (config.parent / "password").write_text("not the password\n", encoding="utf-8")
    bot = bot_world.start(config)
    code = bot.process.wait(timeout=60)
    bot.pump()
    assert code == 2
    assert "Traceback" not in "\n".join(bot.raw)
    assert any("wrong password for keystore" in line for line in bot.raw)


def test_a_bot_behind_a_proxy_breaking_a_fifth_of_its_answers_quotes_and_cancels_cleanly(
    bot_world: BotWorld,
) -> None:
    """What happened before answers were checked: with a proxy truncating or garbling ~20% of
    the node's answers, the bot died at start-up, or its SIGTERM cancel-all crashed with a
    JSONDecodeError traceback and exit 1, leaving every offer live."""
    w = bot_world
    config = w.new_bot(
        "flaky",
        MAKER,
        base=1_000 * BASE_UNITS,
        quote=100_000 * BASE_UNITS,
        extra="\n[rpc]\nretries = 8\nbackoff_s = 0.01\n",  # 0.2**9: no call runs out
    )
    with FaultProxy(w.chain.url, FaultPlan.mixed(0.2, seed=11)) as proxy:
        text = config.read_text(encoding="utf-8")
        text = text.replace(f'rpc_url = "{w.chain.url}"', f'rpc_url = "{proxy.url}"')
        config.write_text(text, encoding="utf-8")
        bot = w.start(config)
        bot.wait_for(lambda line: ticked(line, made=4))
        # Quiet ticks log nothing; each sends two requests. Let twenty or so go through faults.
        seen = proxy.http_requests
        deadline = time.monotonic() + 60
        while proxy.http_requests < seen + 40:
            assert time.monotonic() < deadline and bot.process.poll() is None, bot.tail()
            time.sleep(0.05)
        code = bot.terminate()
        counts = proxy.counts()

    assert code == 0, bot.tail()
    assert own(w, bot) == []
    assert bot.events("all own offers cancelled; bye")
    assert not bot.events("tick failed") and not bot.events("tick crashed")
    assert "Traceback" not in "\n".join(bot.raw)
    assert sum(counts["injected"].values()) >= 5, counts


def test_a_maker_and_a_taker_through_15_percent_faults_trade_then_leave_no_offer(
    bot_world: BotWorld,
) -> None:
    """Both processes talk to the node only through a proxy that damages 15% of the answers
    (drops, truncation, garbage, HTTP 500, wrong ids, delays), with the default [rpc] budget.
    They trade, and SIGTERM still ends with both exited 0 and no offer left."""
    w = bot_world
    with FaultProxy(w.chain.url, FaultPlan.mixed(0.15, seed=15)) as proxy:

        def through_proxy(config: Path) -> Path:
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace(w.chain.url, proxy.url), encoding="utf-8")
            return config

        maker_cfg = w.new_bot("mk15", MAKER, base=1_000 * BASE_UNITS, quote=100_000 * BASE_UNITS)
        taker_cfg = w.new_bot(
            "tk15",
            TAKER,
            base=0,
            quote=50_000 * BASE_UNITS,
            feed={"kind": "static", "price": "110"},
        )
        maker = w.start(through_proxy(maker_cfg))
        maker.wait_for(lambda line: line.get("event") == "tick" and line.get("made", 0) > 0)
        taker = w.start(through_proxy(taker_cfg))
        taker.wait_for(lambda line: line.get("event") == "tick" and line.get("taken", 0) > 0)
        codes = (taker.terminate(), maker.terminate())
        counts = proxy.counts()

    assert codes == (0, 0), (maker.tail(), taker.tail())
    assert own(w, maker) == [] and own(w, taker) == []
    assert w.market.base.functions.balanceOf(taker.address).call() > 0  # they did trade
    for bot in (maker, taker):
        assert "Traceback" not in "\n".join(bot.raw)
    assert sum(counts["injected"].values()) >= 5, counts
