"""`otcmm price-oracle | demo | roundtrip`: the whole product on one machine."""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

from bots.cli import argtypes
from bots.cli.devtools import wait_for_signal
from bots.feeds.pricefile import MIN_PRICE_EXPONENT


def _cmd_price_oracle(args: argparse.Namespace) -> int:
    from bots.demo.oracle import PriceOracle

    oracle = PriceOracle(
        args.start, volatility=args.volatility, step_s=1.0, seed=args.seed, port=args.port
    )
    with oracle:
        print(f"reference price on {oracle.url} (a JSON object with price and timestamp)")
        print("Ctrl-C (or SIGTERM) stops it")
        wait_for_signal()
    return 0


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    from bots.demo.roundtrip import format_steps, run_roundtrip
    from bots.devtools.chainconfig import devchain_params
    from bots.devtools.network import load_network

    params = devchain_params(load_network())
    print(f"starting a dev chain (chain id {params.chain_id}) and deploying the contracts ...")
    print(format_steps(run_roundtrip(params, mode=args.mode)))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from bots.demo.session import WORKDIR_MARKER, DemoOptions, run_demo
    from bots.outputs import owned_dir

    # Before the chain starts: a folder otcmm did not make is refused, nothing written in it.
    workdir = None if args.workdir is None else owned_dir(args.workdir, "--workdir", WORKDIR_MARKER)
    options = DemoOptions(duration_s=args.duration, block_time=args.block_time, workdir=workdir)
    run_demo(options)
    return 0


def register(sub: Any) -> None:
    """Add the demo commands to the `otcmm` subparsers."""
    p = sub.add_parser(
        "price-oracle",
        help="serve a seeded random-walk reference price as JSON (for dev and demo bots)",
    )
    p.add_argument(
        "--port", type=argtypes.PORT, default=8600, help="HTTP port on 127.0.0.1 (8600; 0: free)"
    )
    p.add_argument(
        "--start",
        # A price feed refuses prices below 1e-30 (`bots.feeds.pricefile`): so does the walk.
        type=argtypes.positive_decimal(10**12, low=Decimal(10) ** MIN_PRICE_EXPONENT),
        default=Decimal("100"),
        help="first price, quote per whole base (100)",
    )
    p.add_argument(
        "--volatility",
        type=argtypes.finite(0, 100, low_open=False),
        default=3.0,
        help="annualised, 0..100 (3.0: lively)",
    )
    p.add_argument("--seed", type=argtypes.integer(0, 2**63 - 1), default=7, help="random seed (7)")
    p.set_defaults(handler=_cmd_price_oracle)

    p = sub.add_parser(
        "demo",
        help="the whole product locally: dev chain, seed job, three bots trading, report",
        description="Start a dev chain and a reference-price service, seed the market "
        "(bots/examples/demo/seed.toml), run two makers and a taker as separate processes with "
        "their own keystores, show the market live, stop the bots (they cancel their offers) "
        "and print a report with P&L, gas and a conservation check (exit 1 if it fails).",
    )
    p.add_argument(
        "--duration",
        type=argtypes.finite(0, 86_400),
        default=60.0,
        help="seconds of trading, up to a day (60)",
    )
    p.add_argument(
        "--block-time",
        type=argtypes.integer(1, 60),
        default=1,
        help="seconds per block while trading, 1..60 (1)",
    )
    p.add_argument(
        "--workdir", type=Path, default=None, help="where keys, configs and logs go (a temp dir)"
    )
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("roundtrip", help="one make, partial take and cancel, with gas per step")
    p.add_argument(
        "--mode",
        choices=["auto", "interval"],
        default="auto",
        help="auto mines at once; interval uses the AuRa step time (slower)",
    )
    p.set_defaults(handler=_cmd_roundtrip)
