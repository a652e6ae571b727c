"""Cost of one bot tick on a real anvil: process CPU, wall time and JSON-RPC calls, printed.

Run: `.venv/bin/python -m bench.tick`. A fixed_spread bot quoting 25 levels a side (50 live
offers) is built by `bots.service.process.build`, exactly as `otcmm run` builds it, so the RPC
count is what a real bot sends: every request that reaches the node is counted by the provider's
`on_request` hook, below web3's cache. CPU is this process's (`time.process_time`), so anvil's
own work is not in it; wall time includes it. Figures vary by machine; nothing here is asserted
beyond the bot doing what the scenario expects.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from web3 import Web3

from bots.chain.rpc import RetryingHTTPProvider
from bots.chain.transactor import Transactor
from bots.demo.roundtrip import Market, deploy_market, fund
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.network import load_network
from bots.feeds.sources import FallbackFeed, StaticFeed
from bots.market.client import PAGE_SIZE
from bots.service.config import BotConfig
from bots.service.logs import configure_logging
from bots.service.metrics import BotMetrics
from bots.service.process import build
from bots.service.state import KillSwitchFile
from bots.tick.runner import Bot, TickReport

LEVELS = 25  # per side: 50 live offers
NO_CHANGE_TICKS = 20
REQUOTE_TICKS = 6
# The price alternates by 4%, more than the ladder is wide (0.5% + 24 x 0.1%), so each of those
# ticks can keep none of the 50 offers: it cancels 50 and makes 50 (two requote transactions).
PRICES = ("100", "104")
STRATEGY = {"spread_bps": 100, "levels": LEVELS, "level_spacing_bps": 10, "size": 1_00}
FUNDS = 10**9  # base units of each token (2 decimals): plenty for 25 levels a side


@dataclass
class Sample:
    """Totals over `ticks` ticks of one kind, and the methods the last one called."""

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


def bench_config(chain: DevChain, m: Market) -> BotConfig:
    return BotConfig(
        name="bench",
        rpc_url=chain.url,
        chain_id=chain.params.chain_id,
        market=m.market.address,
        base=m.base.address,
        quote=m.quote.address,
        keystore={"path": "unused.json"},  # build() takes the account as given
        strategy={"name": "fixed_spread", "params": STRATEGY},
        feed={"kind": "static", "price": "100"},
        risk={"max_open_offers": 2 * LEVELS},
        runtime={"metrics_port": None},
    )


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
        check(report, label)
        calls += len(counter.methods)
        last = list(counter.methods)
    return Sample(label, ticks, cpu, wall, calls, Counter(last))


def check(report: TickReport, label: str) -> None:
    """The scenario must be the one we claim to measure, or the figures mean nothing."""
    if report.execution.errors:
        raise SystemExit(f"{label}: tick failed: {report.execution.errors}")
    expected = 0 if label == "no change" else 2 * LEVELS
    if (len(report.execution.made), len(report.execution.cancelled)) != (expected, expected):
        raise SystemExit(
            f"{label}: made {len(report.execution.made)}, cancelled "
            f"{len(report.execution.cancelled)}; expected {expected} of each"
        )


def run() -> tuple[int, list[Sample]]:
    """Start a dev chain, place 50 offers, time the ticks; return (offers placed, samples)."""
    params = devchain_params(load_network())
    with DevChain(params, mode="auto") as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        deployer, maker = dev_accounts(params, 2)
        m = deploy_market(w3, deployer)
        fund(m, Transactor(w3, maker), FUNDS, FUNDS)
        kill_switch = KillSwitchFile(Path(tempfile.mkdtemp(prefix="otcmm-bench-")), maker.address)
        bot = build(bench_config(chain, m), maker, BotMetrics(), kill_switch).bot
        provider = bot.view.market.w3.provider
        if not isinstance(provider, RetryingHTTPProvider):
            raise SystemExit("bots.service.process.build no longer uses RetryingHTTPProvider")
        counter = CallCounter()
        provider.on_request = counter
        first = bot.tick()
        placed = len(first.execution.made)
        if placed != 2 * LEVELS or first.execution.errors:
            raise SystemExit(f"first tick placed {placed} offers: {first.execution.errors}")
        samples = [
            measure(bot, counter, "no change", NO_CHANGE_TICKS, lambda _: None),
            measure(
                bot,
                counter,
                "requote all",
                REQUOTE_TICKS,
                lambda i: set_price(bot, PRICES[(i + 1) % 2]),
            ),
        ]
        return placed, samples


def report(placed: int, samples: list[Sample]) -> str:
    lines = [
        f"fixed_spread, {LEVELS} levels a side: {placed} live offers; "
        f"offers per page (bots.market.client.PAGE_SIZE): {PAGE_SIZE}",
        "",
        f"{'tick':<14}{'ticks':>6}{'CPU ms/tick':>14}{'wall ms/tick':>14}{'RPC calls/tick':>16}",
        "-" * 64,
    ]
    for s in samples:
        lines.append(
            f"{s.label:<14}{s.ticks:>6}{1000 * s.cpu_s / s.ticks:>14.1f}"
            f"{1000 * s.wall_s / s.ticks:>14.1f}{s.calls / s.ticks:>16.1f}"
        )
    for s in samples:
        methods = ", ".join(f"{name} x{count}" for name, count in sorted(s.methods.items()))
        lines.append(f"\nmethods in one '{s.label}' tick ({s.methods.total()} calls): {methods}")
    return "\n".join(lines)


def main() -> int:
    configure_logging("console", "warning")  # keep the figures readable; a no-op tick logs
    placed, samples = run()  # nothing at "info" anyway
    print(report(placed, samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
