"""The `otcmm` command line.

Every user-facing failure is an `OtcmmError`: printed as one line on stderr with its exit code.
`--debug` keeps the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from bots.backtest.cli import register as register_backtest
from bots.bot_cli import register as register_bot
from bots.errors import OtcmmError
from bots.k8s_render import register as register_k8s
from bots.keystore_cli import register as register_keystore
from bots.seed_cli import register as register_seed

Handler = Callable[[argparse.Namespace], int]


def _cmd_compile(args: argparse.Namespace) -> int:
    from bots.compiler import BUILD_DIR, build_all, write_artifacts

    files = build_all(args.compiler)
    if args.check:
        stale = [path for path, text in files.items() if _read(path) != text]
        for path in stale:
            print(f"out of date: {path.relative_to(BUILD_DIR.parent.parent)}")
        if stale:
            raise OtcmmError("committed artifacts differ from a fresh compile: run `otcmm compile`")
        print(f"{len(files)} artifacts match a fresh compile")
        return 0
    changed = write_artifacts(files)
    print(f"compiled {len(files)} contracts; {len(changed)} artifact files changed")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _cmd_chain_config(args: argparse.Namespace) -> int:
    from bots.chainconfig import check_rendered, write_rendered

    if args.action == "render":
        changed = write_rendered()
        print(f"rendered chain-config; {len(changed)} files changed")
        return 0
    stale = check_rendered()
    if stale:
        raise OtcmmError(
            f"rendered chain-config is out of date ({', '.join(p.name for p in stale)}): "
            "run `otcmm chain-config render`"
        )
    print("rendered chain-config matches network.toml")
    return 0


def _cmd_devchain(args: argparse.Namespace) -> int:
    from bots.chainconfig import devchain_params, load_network
    from bots.devchain import DevChain, dev_accounts

    params = devchain_params(load_network())
    with DevChain(params, mode=args.mode, port=args.port) as chain:
        print(
            f"dev chain (anvil pid {chain.pid}) on {chain.url}, chain id {params.chain_id}, "
            f"mining: {args.mode}"
        )
        print("DEV-ONLY prefunded accounts (public mnemonic from chain-config/network.toml):")
        for account in dev_accounts(params, min(params.accounts, 5)):
            print(f"  {account.address}")
        print("Ctrl-C to stop")
        _wait_for_signal()
    return 0


def _cmd_price_oracle(args: argparse.Namespace) -> int:
    from bots.oracle import PriceOracle

    oracle = PriceOracle(
        args.start, volatility=args.volatility, step_s=1.0, seed=args.seed, port=args.port
    )
    with oracle:
        print(f"reference price on {oracle.url} (a JSON object with price and timestamp)")
        print("Ctrl-C to stop")
        _wait_for_signal()
    return 0


def _wait_for_signal() -> None:
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop:
        time.sleep(0.2)


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    from bots.chainconfig import devchain_params, load_network
    from bots.roundtrip import format_steps, run_roundtrip

    params = devchain_params(load_network())
    print(f"starting a dev chain (chain id {params.chain_id}) and deploying the contracts ...")
    print(format_steps(run_roundtrip(params, mode=args.mode)))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from bots.demo import DemoOptions, run_demo

    options = DemoOptions(
        duration_s=args.duration, block_time=args.block_time, workdir=args.workdir
    )
    run_demo(options)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otcmm",
        description="Automated market making on an on-chain escrow order book.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="compile contracts/ into contracts/build/*.json")
    p.add_argument("--check", action="store_true", help="only verify the committed artifacts")
    p.add_argument(
        "--compiler",
        choices=["auto", "native", "solcjs"],
        default="auto",
        help="native solc 0.8.28 if installed (auto), else solc-js from node_modules",
    )
    p.set_defaults(handler=_cmd_compile)

    p = sub.add_parser("chain-config", help="render or check chain-config/rendered/")
    p.add_argument("action", choices=["render", "check"])
    p.set_defaults(handler=_cmd_chain_config)

    p = sub.add_parser("devchain", help="run a local dev chain (anvil) in the foreground")
    p.add_argument(
        "--mode",
        choices=["auto", "interval", "manual"],
        default="interval",
        help="auto: a block per transaction; interval: AuRa-like block time; "
        "manual: mine on evm_mine only",
    )
    p.add_argument("--port", type=int, default=0, help="JSON-RPC port (default: a free one)")
    p.set_defaults(handler=_cmd_devchain)

    p = sub.add_parser(
        "price-oracle",
        help="serve a seeded random-walk reference price as JSON (for dev and demo bots)",
    )
    p.add_argument("--port", type=int, default=8600, help="HTTP port on 127.0.0.1 (8600)")
    p.add_argument("--start", type=Decimal, default=Decimal("100"), help="first price (100)")
    p.add_argument("--volatility", type=float, default=3.0, help="annualised (3.0: lively)")
    p.add_argument("--seed", type=int, default=7, help="random seed (7)")
    p.set_defaults(handler=_cmd_price_oracle)

    p = sub.add_parser(
        "demo",
        help="the whole product locally: dev chain, seed job, three bots trading, report",
        description="Start a dev chain and a reference-price service, seed the market "
        "(bots/examples/demo/seed.toml), run two makers and a taker as separate processes with "
        "their own keystores, show the market live, stop the bots (they cancel their offers) "
        "and print a report with P&L, gas and a conservation check (exit 1 if it fails).",
    )
    p.add_argument("--duration", type=float, default=60.0, help="seconds of trading (60)")
    p.add_argument("--block-time", type=int, default=1, help="seconds per block (1)")
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

    register_keystore(sub)
    register_bot(sub)
    register_k8s(sub)
    register_seed(sub)
    register_backtest(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except OtcmmError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"otcmm: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("otcmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
