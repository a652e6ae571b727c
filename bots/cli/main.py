"""The `otcmm` command line.

Every user-facing failure is an `OtcmmError`: printed as one line on stderr with its exit code.
`--debug` keeps the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bots.cli.backtest import register as register_backtest
from bots.cli.bot import register as register_bot
from bots.cli.demo import register as register_demo
from bots.cli.devtools import register as register_devtools
from bots.cli.k8s import register as register_k8s
from bots.cli.keystore import register as register_keystore
from bots.cli.seed import register as register_seed
from bots.errors import OtcmmError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otcmm",
        description="Automated market making on an on-chain escrow order book.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    register_devtools(sub)
    register_demo(sub)
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
