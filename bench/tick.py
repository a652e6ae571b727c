"""Cost of one bot tick on a real anvil: process CPU, wall time and JSON-RPC calls, printed.

Run: `.venv/bin/python -m bench.tick`. A fixed_spread bot is built by
`bots.service.process.build`, exactly as `otcmm run` builds it, so the RPC count is what a real
bot sends: every request that reaches the node is counted by the provider's `on_request` hook.
CPU is this process's (`time.process_time`), so anvil's own work is not in it; wall time
includes it. Scenarios:
- a no-change tick with 10 own offers in books of 100, 1,000 and 10,000 offers of others (the
  book is kept from the market's logs between full reads: `bots.market.pairbook`);
- a no-change tick with 100 own offers;
- a tick whose price moved so far that all 50 own offers are cancelled and made again.
Goals (issue 14): a 10,000-offer book at most 3 calls and 50 ms CPU; 100 own offers at most
20 ms. Figures vary by machine and load; nothing is asserted beyond each scenario being the one
claimed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from web3 import Web3

from bots.chain.rpc import RetryingHTTPProvider, connect
from bots.chain.transactor import Transactor
from bots.demo.roundtrip import Market, deploy_market, fund
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.network import load_network
from bots.feeds.sources import FallbackFeed, StaticFeed
from bots.market.client import MarketClient
from bots.market.gas import MAX_ACTIONS_PER_TX
from bots.service.anchor import PriceAnchorFile
from bots.service.config import BotConfig
from bots.service.logs import configure_logging
from bots.service.metrics import BotMetrics
from bots.service.process import AnchorStart, build
from bots.service.state import KillSwitchFile
from bots.tick.runner import Bot, TickReport

TICKS = 20
FUNDS = 10**12  # base units of each token (2 decimals)
PRICES = ("100", "104")  # 4% apart: wider than any ladder here, so a move requotes it all


@dataclass
class Sample:
    """Totals over `ticks` ticks of one scenario, and the methods the last one called."""

    label: str
    ticks: int
    cpu_s: float
    wall_s: float
    calls: int
    methods: Counter[str]


class CallCounter:
    """Every JSON-RPC request that reaches the node, by method."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def __call__(self, method: str) -> None:
        self.methods.append(method)


def bench_config(chain: DevChain, m: Market, levels: int) -> BotConfig:
    return BotConfig(
        name="bench",
        rpc_url=chain.url,
        chain_id=chain.params.chain_id,
        market=m.market.address,
        base=m.base.address,
        quote=m.quote.address,
        keystore={"path": "unused.json"},  # build() takes the account as given
        strategy={
            "name": "fixed_spread",
            "params": {"spread_bps": 100, "levels": levels, "level_spacing_bps": 1, "size": 100},
        },
        feed={"kind": "static", "price": "100"},
        risk={"max_open_offers": 2 * levels},
        runtime={"metrics_port": None},
    )


def foreign_book(w3: Web3, m: Market, account: object, offers: int) -> None:
    """`offers` offers of another maker, half bids below 95 and half asks above 105."""
    trader = MarketClient(w3, m.market.address, Transactor(w3, account))  # type: ignore[arg-type]
    base, quote = m.base.address, m.quote.address
    specs = [
        (100, base, 10_600 + i, quote) if i % 2 else (9_400 - i % 1000, quote, 100, base)
        for i in range(offers)
    ]
    for start in range(0, offers, MAX_ACTIONS_PER_TX):
        trader.requote([], specs[start : start + MAX_ACTIONS_PER_TX])


def set_price(bot: Bot, price: str) -> None:
    """Point the bot at a new static price, behind a FallbackFeed as `build` wires it."""
    bot.feed = FallbackFeed([StaticFeed(Decimal(price))], max_age_s=bot.limits.feed_max_age_s)


def measure(
    bot: Bot, counter: CallCounter, label: str, ticks: int, before: Callable[[int], None]
) -> Sample:
    """Run `ticks` ticks, calling `before(i)` outside the timed part of each."""
    cpu = wall = 0.0
    calls = 0
    last: list[str] = []
    for i in range(ticks):
        before(i)
        counter.methods.clear()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        report = bot.tick()
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        calls += len(counter.methods)
        last = list(counter.methods)
        check(report, label, len(bot.view.own_offers_anywhere()))
    return Sample(label, ticks, cpu, wall, calls, Counter(last))


def check(report: TickReport, label: str, own: int) -> None:
    """The scenario must be the one we claim to measure, or the figures mean nothing."""
    if report.execution.errors:
        raise SystemExit(f"{label}: tick failed: {report.execution.errors}")
    changed = len(report.execution.made) + len(report.execution.cancelled)
    if label.startswith("requote") != (changed > 0) or not own:
        raise SystemExit(f"{label}: made/cancelled {changed}, {own} own offers live")


def scenario(label: str, levels: int, foreign: int, requote: bool = False) -> Sample:
    """A fresh chain and market, `foreign` offers of others, then the bot's timed ticks."""
    params = devchain_params(load_network())
    with DevChain(params, mode="auto") as chain:
        w3 = connect(chain.url, timeout_s=60)
        deployer, maker, other = dev_accounts(params, 3)
        m = deploy_market(w3, deployer)
        fund(m, Transactor(w3, maker), FUNDS, FUNDS)
        fund(m, Transactor(w3, other), FUNDS, FUNDS)
        foreign_book(w3, m, other, foreign)
        state = Path(tempfile.mkdtemp(prefix="otcmm-bench-"))
        kill_switch = KillSwitchFile(state, maker.address)
        anchor = AnchorStart(None, "a fresh benchmark", PriceAnchorFile(state, maker.address))
        bot = build(bench_config(chain, m, levels), maker, BotMetrics(), kill_switch, anchor).bot
        provider = bot.view.market.w3.provider
        if not isinstance(provider, RetryingHTTPProvider):
            raise SystemExit("bots.service.process.build no longer uses RetryingHTTPProvider")
        counter = CallCounter()
        provider.on_request = counter
        first = bot.tick()
        if len(first.execution.made) != 2 * levels or first.execution.errors:
            raise SystemExit(f"{label}: first tick made {first.execution.made}")
        bot.tick()  # the first read after a full one: from here on the book follows the logs
        if not requote:
            return measure(bot, counter, label, TICKS, lambda _: None)
        return measure(bot, counter, label, 6, lambda i: set_price(bot, PRICES[(i + 1) % 2]))


def report(samples: list[Sample]) -> str:
    lines = [
        f"{'tick':<36}{'ticks':>6}{'CPU ms/tick':>13}{'wall ms/tick':>14}{'calls/tick':>12}",
        "-" * 81,
    ]
    for s in samples:
        lines.append(
            f"{s.label:<36}{s.ticks:>6}{1000 * s.cpu_s / s.ticks:>13.1f}"
            f"{1000 * s.wall_s / s.ticks:>14.1f}{s.calls / s.ticks:>12.1f}"
        )
    for s in (samples[2], samples[-1]):
        methods = ", ".join(f"{name} x{count}" for name, count in sorted(s.methods.items()))
        lines.append(f"\nmethods in one '{s.label}' tick ({s.methods.total()} calls): {methods}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="books of 10 / 20 / 40 offers: checks it runs"
    )
    books = (10, 20, 40) if parser.parse_args(argv).quick else (100, 1_000, 10_000)
    configure_logging("console", "warning")  # keep the figures readable
    samples = [
        *(scenario(f"no change, 10 own, book of {n:,}", 5, n) for n in books),
        scenario("no change, 100 own", 50, 0),
        scenario("requote all 50 own", 25, 0, requote=True),
    ]
    print(report(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
