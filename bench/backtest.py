"""Speed of a backtest: steps/s and transactions/s, next to anvil's raw transaction ceiling.

Run: `.venv/bin/python -m bench.backtest [--steps N] [--profile]`. A backtest of 3 bots (a
fixed_spread maker, a noise taker and an informed taker) runs N steps (2 000 by default) through
`bots.backtest.engine.run_backtest`, exactly as `otcmm backtest` runs it. The yardstick is
measured in the same run on a fresh dev chain: the one-by-one ceiling, `offer` transactions
built, signed and sent with web3 by one Python thread as fast as it goes, automine (issue 14's
definition; the aim is a backtest at half of it or more), and, for scale, plain transfers
signed and sent raw. Then: where the loop's time goes (wall seconds per phase) and the JSON-RPC
calls per step. `--profile` adds cProfile's top entries. Figures vary by machine and load;
nothing is asserted beyond the run being correct.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bots.backtest.analytics import analyse
from bots.backtest.engine import run_backtest
from bots.backtest.results import RunResult
from bots.backtest.scenario import Scenario
from bots.chain.fees import eip1559_fees
from bots.chain.rpc import connect
from bots.chain.transactor import Transactor
from bots.cli.progress import every_tenth, progress
from bots.demo.roundtrip import deploy_market, fund
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.network import load_network
from bots.service.logs import configure_logging

T = TypeVar("T")
RAW_TRANSFERS = 2_000
README = Path(__file__).resolve().parents[1] / "README.md"
RECORDED = re.compile(
    r"Speed \(`python -m bench\.backtest`[^)]*\):\s+\*\*([\d,.]+)\s+steps/s,\s+([\d,.]+)\s+tx/s\*\*"
)


def scenario(steps: int) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "bench",
            "seed": 1,
            "steps": steps,
            "block_interval_s": 60,
            "market": {
                "base": {"symbol": "BND", "decimals": 4},
                "quote": {"symbol": "EURT", "decimals": 2},
            },
            "path": {"kind": "gbm", "start": "100", "volatility": 0.5},
            "bots": [
                {
                    "name": "mm",
                    "strategy": {
                        "name": "fixed_spread",
                        "params": {"spread_bps": 20, "levels": 2, "size": 100_000},
                    },
                    "inventory": {"base": 10**8, "quote": 10**9},
                }
            ],
            "flow": [
                {
                    "kind": "noise",
                    "name": "noise",
                    "probability": 0.5,
                    "inventory": {"base": 10**8, "quote": 10**9},
                },
                {
                    "kind": "informed",
                    "name": "informed",
                    "edge_bps": 2,
                    "budget_quote": 10**6,
                    "budget_base": 10**5,
                    "inventory": {"base": 10**8, "quote": 10**9},
                },
            ],
        }
    )


def offer_ceiling(count: int) -> float:
    """The one-by-one ceiling (issue 14's yardstick): `offer` transactions built, signed and
    sent with web3 from one Python thread, automine, as fast as it goes (tx/s)."""
    params = devchain_params(load_network())
    with DevChain(params, mode="auto") as chain:
        w3 = connect(chain.url)
        deployer, maker = dev_accounts(params, 2)
        m = deploy_market(w3, deployer)
        fund(m, Transactor(w3, maker), 10**15, 10**15)
        offer = m.market.functions.offer
        fees = eip1559_fees(params.base_fee, 0).fields
        nonce = int(w3.eth.get_transaction_count(maker.address))
        started = time.perf_counter()
        for i in range(count):
            tx = offer(100, m.base.address, 100 + i, m.quote.address).build_transaction(
                {"from": maker.address, "gas": 300_000, "nonce": nonce + i, **fees}
            )
            last = w3.eth.send_raw_transaction(maker.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(last, timeout=60, poll_latency=0.001)
        rate = count / (time.perf_counter() - started)
        if receipt["status"] != 1:
            raise SystemExit("offer ceiling: the last offer reverted")
        return rate


def raw_throughput(count: int) -> tuple[float, float]:
    """(signed tx/s, send-only tx/s): value transfers, one account, automine."""
    params = devchain_params(load_network())
    with DevChain(params, mode="auto") as chain:
        w3 = connect(chain.url)
        sender, receiver = dev_accounts(params, 2)
        base = {
            "to": receiver.address,
            "value": 1,
            "gas": 21_000,
            **eip1559_fees(params.base_fee, 0).fields,  # the network's fee policy, no tip
            "chainId": params.chain_id,
            "type": 2,
        }
        started = time.perf_counter()
        for nonce in range(count):
            signed = sender.sign_transaction({**base, "nonce": nonce})
            last = w3.eth.send_raw_transaction(signed.raw_transaction)
        w3.eth.wait_for_transaction_receipt(last, timeout=30, poll_latency=0.001)
        signed_rate = count / (time.perf_counter() - started)
        presigned = [
            sender.sign_transaction({**base, "nonce": count + i}).raw_transaction
            for i in range(count)
        ]
        started = time.perf_counter()
        for raw in presigned:
            last = w3.eth.send_raw_transaction(raw)
        w3.eth.wait_for_transaction_receipt(last, timeout=30, poll_latency=0.001)
        send_rate = count / (time.perf_counter() - started)
        mined = int(w3.eth.get_transaction_count(sender.address))
        if mined != 2 * count:
            raise SystemExit(f"raw throughput: {mined} of {2 * count} transfers mined")
        return signed_rate, send_rate


def recorded(readme: Path = README) -> tuple[float, float] | None:
    """The (steps/s, tx/s) the README's "Backtesting" section records, None if it has none."""
    try:
        match = RECORDED.search(readme.read_text(encoding="utf-8"))
    except OSError:
        return None
    if match is None:
        return None
    return float(match[1].replace(",", "")), float(match[2].replace(",", ""))


def against_readme(steps_s: float, tx_s: float, figure: tuple[float, float] | None) -> str:
    if figure is None:
        return "README figure: none found (README.md, Backtesting, 'Speed (...)')"
    return (
        f"against the README's figure ({figure[0]:g} steps/s, {figure[1]:g} tx/s): "
        f"x{steps_s / figure[0]:.2f} steps/s, x{tx_s / figure[1]:.2f} tx/s"
    )


def profiled(enabled: bool, call: Callable[[], T]) -> tuple[T, str]:
    if not enabled:
        return call(), ""
    profile = cProfile.Profile()
    result = profile.runcall(call)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    return result, text.getvalue()


def report(
    result: RunResult, ceilings: tuple[float, float], signed: float, send_only: float
) -> str:
    steps = len(result.steps)
    loop = result.loop_s
    rate = result.txs / loop
    ceiling = max(ceilings)
    lines = [
        f"backtest: 3 bots (fixed_spread maker, noise, informed), {steps} steps, "
        f"{result.txs} transactions, blocks {result.scenario.blocks}",
        f"  {steps / loop:8.1f} steps/s   {rate:8.1f} tx/s   "
        f"(loop {loop:.1f} s; wall {result.wall_s:.1f} s with chain start, setup and reads)",
        f"one-by-one ceiling, same machine and run: {ceiling:8.1f} offer tx/s (web3 build, sign,"
        f" send; {ceilings[0]:.1f} before the backtest, {ceilings[1]:.1f} after: the higher)"
        f"  ->  ratio {rate / ceiling:.2f}",
        f"anvil, for scale: {signed:8.1f} transfers/s signed+sent, {send_only:.1f} pre-signed",
        against_readme(steps / loop, rate, recorded()),
        "",
        f"{'where the time goes':<40}{'seconds':>9}{'ms/step':>9}{'share':>7}",
        "-" * 65,
    ]
    total = sum(result.timings.values())
    for phase, seconds in sorted(result.timings.items(), key=lambda kv: -kv[1]):
        lines.append(
            f"{phase:<40}{seconds:>9.2f}{1000 * seconds / steps:>9.2f}"
            f"{100 * seconds / total:>6.1f}%"
        )
    calls = sum(result.rpc_calls.values())
    top = sorted(result.rpc_calls.items(), key=lambda kv: -kv[1])
    lines.append("")
    lines.append(f"JSON-RPC calls: {calls / steps:.1f} per step; by method (per step):")
    lines += [f"  {method:<28}{count / steps:>7.2f}" for method, count in top]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000, help="steps of the backtest (2000)")
    parser.add_argument("--profile", action="store_true", help="add cProfile's top entries")
    parser.add_argument(
        "--yardstick",
        type=int,
        default=RAW_TRANSFERS,
        metavar="N",
        help=f"transactions per ceiling measurement ({RAW_TRANSFERS})",
    )
    args = parser.parse_args(argv)
    configure_logging("console", "error")
    before = offer_ceiling(args.yardstick)  # the machine's load can change during the run:
    with progress("bench", "step", every_tenth("bench")) as update:
        result, profile = profiled(
            args.profile,
            lambda: run_backtest(
                scenario(args.steps), progress=lambda n, total, txs: update(n, total, f"{txs} txs")
            ),
        )
    analysis = analyse(result)
    if not analysis.ok:
        raise SystemExit("conservation or accounting check failed: the figures mean nothing")
    after = offer_ceiling(args.yardstick)  # measured before and after, the higher one counts
    signed, send_only = raw_throughput(args.yardstick)
    print(report(result, (before, after), signed, send_only))
    if profile:
        print("\ncProfile, top 15 by own time (profiling slows the run):")
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
