"""Many bots on one dev chain: N makers and M takers as real `otcmm run` processes, measured.

Run: `.venv/bin/python -m bench.load --makers 10 --takers 4 --minutes 10 --block-time 2`
(defaults: 3 makers, 1 taker, 1 minute, 2 s blocks, 1 s ticks).

A dev chain (anvil, interval mining at `--block-time`) gets the market and two assets from the
seed job, which also funds every bot's own keystore (light scrypt: `$OTCMM_SCRYPT_N`, else
2^10); a seeded reference-price service serves one random walk to all bots. Each bot is an
`otcmm run` process on BND30/EURT with its own keystore, journal, log and metrics port.
Once every bot has ticked, the benchmark measures for `--minutes`: /proc every second, /metrics
every 10 s; then SIGTERM to all, and each must exit 0 having cancelled its offers. Afterwards it
reads every block of the run (transactions by outcome and the true revert reason), checks
conservation and the book, and prints the report (`bench.load_report`). Exit status: 0 when the
run passed its checks, 1 when not (an out-of-gas revert, a bot that did not exit 0,
conservation, offers left), 2 for bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TextIO

from web3 import Web3

from bench import load_procs as procs
from bench.load_chain import logged_failures, mined_txs
from bench.load_fleet import PASSWORD_FILE, BotSpec, RunSettings, bot_config_text, fleet
from bench.load_fleet import seed_plan_text as plan_text
from bench.load_probe import ProcUsage
from bench.load_report import LoadResult, check, render, summary
from bots.chain.journal import DEFAULT_MAX_BYTES
from bots.chain.keystore import Secret
from bots.chain.rpc import connect
from bots.demo.oracle import PriceOracle
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, DevChainParams, dev_accounts
from bots.devtools.network import load_network
from bots.errors import OtcmmError
from bots.market.client import MarketClient
from bots.market.deployment import load_deployment
from bots.market.ledger import conservation
from bots.market.tokens import load_token
from bots.seed.plan import fleet_keystores, load_plan
from bots.seed.run import run_seed

PASSWORD = "otcmm-load-bench-only"  # noqa: S105 - throwaway keys for a throwaway dev chain
SAMPLE_S = 1.0
SCRAPE_S = 10.0
MIN_JOURNAL_BYTES = 4096  # bots.service.config.RuntimeConfig.journal_max_bytes's minimum


@dataclass(frozen=True)
class LoadOptions:
    makers: int = 3
    takers: int = 1
    minutes: float = 1.0
    block_time: int = 2
    tick_interval_s: float = 1.0
    journal_max_bytes: int | None = None
    log_level: str = "info"
    workdir: Path | None = None
    json_path: Path | None = None
    seed: int = 7


@dataclass(frozen=True)
class Window:
    """Where the run sits on the chain, and the machine's load when the bots started."""

    first_block: int
    scrape_block: int
    initializer: str
    load_at_start: str


def run(options: LoadOptions, out: TextIO = sys.stdout) -> LoadResult:
    """Set up the chain and the fleet, run it, stop it, read the chain; the measured result."""
    params = dataclasses.replace(devchain_params(load_network()), block_time=options.block_time)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="otcmm-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out.write(f"load bench files in {workdir}\n")
    specs = fleet(options.makers, options.takers)
    oracle = PriceOracle(Decimal(100), volatility=3.0, step_s=1.0, seed=options.seed)
    with DevChain(params, mode="auto") as chain, oracle:
        w3 = connect(chain.url)
        addresses, initializer = _seed(w3, workdir, specs, params)
        started = _loadavg()
        chain.rpc("evm_setIntervalMining", [options.block_time])
        settings = RunSettings(
            chain.url,
            params.chain_id,
            oracle.url,
            options.tick_interval_s,
            options.journal_max_bytes,
            options.log_level,
        )
        for spec in specs:
            (workdir / f"{spec.name}.toml").write_text(bot_config_text(spec, settings), "utf-8")
        anvil = ProcUsage(chain.pid or 0)
        first_block = int(w3.eth.block_number) + 1
        bots = procs.start(workdir, [(s, addresses[s.name]) for s in specs])
        try:
            out.write(f"started {len(bots)} bots; waiting for their first ticks\n")
            scrape_block = _measure(w3, bots, anvil, options, out)
            out.write("SIGTERM to every bot ...\n")
            procs.stop(bots, anvil)
        finally:
            procs.end_all(bots)
        window = Window(first_block, scrape_block, initializer, started)
        return _result(w3, workdir, bots, anvil, options, window)


def _seed(
    w3: Web3, workdir: Path, specs: list[BotSpec], params: DevChainParams
) -> tuple[dict[str, str], str]:
    """Write the plan, create the keystores, run the seed job: (bot name -> address, funder)."""
    (workdir / "seed.toml").write_text(plan_text(specs), encoding="utf-8")
    password = workdir / PASSWORD_FILE
    password.write_text(PASSWORD + "\n", encoding="utf-8")
    password.chmod(0o600)
    plan = load_plan(workdir / "seed.toml")
    scrypt_n = _scrypt_n()
    addresses = fleet_keystores(plan, Secret(PASSWORD), scrypt_n=scrypt_n)
    (initializer,) = dev_accounts(params, 1)
    run_seed(w3, initializer, plan, workdir / "deployment.json")
    return addresses, str(initializer.address)


def _scrypt_n() -> int:
    """`$OTCMM_SCRYPT_N` (throwaway keys: light scrypt), else 2^10."""
    raw = os.environ.get("OTCMM_SCRYPT_N", str(2**10))
    try:
        return int(raw)
    except ValueError:
        raise procs.LoadError(f"$OTCMM_SCRYPT_N must be an integer, got {raw!r}") from None


def _measure(
    w3: Web3, bots: list[procs.BotProcess], anvil: ProcUsage, options: LoadOptions, out: TextIO
) -> int:
    """Wait for the fleet, then watch it for the run's length; the block of the last scrape."""
    procs.await_ready(bots)
    procs.scrape_all(bots)
    out.write(f"all bots ticking; measuring for {options.minutes:g} min\n")
    start = time.monotonic()
    end = start + options.minutes * 60
    next_scrape = start + SCRAPE_S
    while (now := time.monotonic()) < end:
        procs.sample(bots, anvil)
        if now >= next_scrape:
            procs.scrape_all(bots)
            next_scrape += SCRAPE_S
        time.sleep(min(SAMPLE_S, max(0.0, end - time.monotonic())))
    procs.sample(bots, anvil)
    scrape_block = int(w3.eth.block_number)
    procs.scrape_all(bots)
    return scrape_block


def _result(
    w3: Web3,
    workdir: Path,
    bots: list[procs.BotProcess],
    anvil: ProcUsage,
    options: LoadOptions,
    window: Window,
) -> LoadResult:
    deployment = load_deployment(workdir / "deployment.json")
    if deployment is None:
        raise procs.LoadError("the seed job wrote no deployment file")
    market = MarketClient(w3, deployment.require_market())
    tokens = [load_token(market, deployment.address_of(s)) for s in ("BND30", "EURT")]
    senders = {bot.result.address: bot.name for bot in bots}
    last_block = int(w3.eth.block_number)
    txs = mined_txs(w3, senders, window.first_block, last_block)
    for bot in bots:
        bot.result.logged = logged_failures(bot.log)
    offers = market.all_offers()
    owners = {Web3.to_checksum_address(a) for a in senders}
    anvil.sample()
    windows = [
        b.result.last.at - b.result.first.at for b in bots if b.result.first and b.result.last
    ]
    return LoadResult(
        header=_header(options, len(bots), window.load_at_start),
        tick_interval_s=options.tick_interval_s,
        window_s=sum(windows) / len(windows) if windows else 0.0,
        journal_max_bytes=options.journal_max_bytes or DEFAULT_MAX_BYTES,
        first_block=window.first_block,
        last_block=last_block,
        scrape_block=window.scrape_block,
        txs=txs,
        bots=[bot.result for bot in bots],
        anvil=anvil,
        bench_cpu_s=time.process_time(),
        bench_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        conservation=conservation(market, tokens, [*senders, window.initializer]),
        offers_left=len(offers),
        bot_offers_left=sum(Web3.to_checksum_address(o.owner) in owners for o in offers),
    )


def _loadavg() -> str:
    """The 1/5/15-minute load averages, e.g. "1.93 1.20 0.88"."""
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _header(options: LoadOptions, count: int, load_at_start: str) -> list[str]:
    return [
        f"{count} bots ({options.makers} makers, {options.takers} takers), each an `otcmm run`"
        f" process, on one anvil dev chain: {options.block_time} s blocks,"
        f" {options.tick_interval_s:g} s ticks, {options.minutes:g} min measured",
        f"machine: {os.cpu_count()} cores ({_cpu_model()}); load average (1/5/15 min)"
        f" {load_at_start} when the bots started, {_loadavg()} at the end",
    ]


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def _journal_bytes(text: str) -> int:
    """The bots' `runtime.journal_max_bytes`, checked here rather than by every bot later."""
    value = int(_positive(int)(text))
    if value < MIN_JOURNAL_BYTES:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_JOURNAL_BYTES}: {text}")
    return value


def parse_args(argv: list[str] | None) -> LoadOptions:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--makers", type=_positive(int), default=3)
    parser.add_argument("--takers", type=_positive(int), default=1)
    parser.add_argument("--minutes", type=_positive(float), default=1.0)
    parser.add_argument("--block-time", type=_positive(int), default=2, help="seconds")
    parser.add_argument("--tick-interval", type=_positive(float), default=1.0, help="seconds")
    parser.add_argument(
        "--journal-max-bytes", type=_journal_bytes, default=None, help="each bot's journal bound"
    )
    parser.add_argument("--log-level", choices=("debug", "info"), default="info")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    return LoadOptions(
        makers=int(args.makers),
        takers=int(args.takers),
        minutes=args.minutes,
        block_time=int(args.block_time),
        tick_interval_s=args.tick_interval,
        journal_max_bytes=args.journal_max_bytes,
        log_level=args.log_level,
        workdir=args.workdir,
        json_path=args.json,
    )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the bots and the chain on the way out
    try:
        result = run(options)
    except KeyboardInterrupt:
        print("interrupted: bots and dev chain stopped", file=sys.stderr)
        return 130
    except OtcmmError as exc:
        print(f"load bench: {exc}", file=sys.stderr)
        return exc.exit_code
    print(render(result))
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(summary(result), indent=1) + "\n", "utf-8")
    return 1 if check(result).failed else 0


if __name__ == "__main__":
    sys.exit(main())
