"""The `otcmm` command line.

Every user-facing failure is an `OtcmmError`: printed as one line on stderr with its exit code
(README, "Exit codes"). A bad command line is argparse's exit 2, in two lines at most
(`bots.cli.parser`). `--debug`, before or after the command, keeps the traceback for bug
reports.

SIGINT, SIGTERM and SIGHUP raise `Interrupted` in the main thread, so every command that
started something (a dev chain, sweep workers, bot processes) stops it on the way out, and the
exit code is 128 + the signal. Commands that must finish a step first (`run`, `seed`, `demo`'s
trading, `devchain`, `price-oracle`) install their own handlers for the time they need them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from bots import __version__
from bots.cli.backtest import register as register_backtest
from bots.cli.bot import register as register_bot
from bots.cli.demo import register as register_demo
from bots.cli.devtools import register as register_devtools
from bots.cli.k8s import register as register_k8s
from bots.cli.keystore import register as register_keystore
from bots.cli.parser import HIDDEN, OtcmmParser, sub_parsers
from bots.cli.seed import register as register_seed
from bots.errors import Interrupted, OtcmmError

Handler = Callable[[argparse.Namespace], int]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def build_parser() -> argparse.ArgumentParser:
    parser = OtcmmParser(
        prog="otcmm",
        description="Automated market making on an on-chain escrow order book.",
    )
    parser.add_argument("--version", action="version", version=f"otcmm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    register_devtools(sub)
    register_demo(sub)
    register_keystore(sub)
    register_bot(sub)
    register_k8s(sub)
    register_seed(sub)
    register_backtest(sub)
    for child in sub_parsers(parser):  # `otcmm run --config x --debug` works too
        child.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        shown = " " + HIDDEN if getattr(args, "hides_values", False) else ": " + " ".join(extra)
        parser.error(f"unrecognized arguments{shown}")
    handler: Handler = args.handler
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_interrupted)
    try:
        return handler(args)
    except OtcmmError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"otcmm: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        stopped_by: int = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"otcmm: stopped by {signal.Signals(stopped_by).name}", file=sys.stderr)
        return 128 + stopped_by
    except BrokenPipeError:  # `otcmm book | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
