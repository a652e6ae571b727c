"""`otcmm run`: run a bot (`book` and `balances`, which look at its market, are in `market`)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from bots.cli.market import register as register_market
from bots.errors import Interrupted


def _cmd_run(args: argparse.Namespace) -> int:
    from bots.service.config import load_config
    from bots.service.preflight import preflight

    if args.check:
        config = load_config(args.config)
        account = preflight(config)  # what a run needs: keystore, password, price files
        print(
            f"{args.config}: ok (bot {config.name}, strategy {config.strategy.name}, "
            f"account {account.address})"
        )
        return 0
    try:
        config = load_config(args.config)
        from bots.service.process import serve
    except Interrupted as exc:  # before the bot's own handlers: nothing was started either
        name = signal.Signals(exc.signum).name
        print(f"otcmm: stopped by {name} during start-up: nothing quoted", file=sys.stderr)
        return 0
    return serve(
        config,
        clear_kill_switch=args.clear_kill_switch,
        reset_price_anchor=args.reset_price_anchor,
        restore_signals=False,
    )


def register(sub: Any) -> None:
    """Add `run`, `book` and `balances` to the `otcmm` subparsers."""
    p = sub.add_parser(
        "run",
        help="run a bot from a TOML config until SIGTERM/SIGINT",
        description="Run one bot: one keystore, one strategy, one market pair. Settings come "
        "from the TOML file, overridden by OTCMM_* environment variables (nested with __, "
        "e.g. OTCMM_RISK__MAX_GAS_PRICE_WEI) and by files in $OTCMM_SECRETS_DIR. The keystore "
        "password comes from keystore.password_file or $OTCMM_KEYSTORE_PASSWORD. On SIGTERM the "
        "bot cancels its offers (unless runtime.cancel_on_exit = false) and exits 0. Exit "
        "codes: README, 'Exit codes'.",
    )
    p.add_argument("--config", type=Path, required=True, help="the bot's TOML file")
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the config, unlock the keystore, read the price files; then exit",
    )
    p.add_argument(
        "--clear-kill-switch",
        action="store_true",
        help="start although the kill switch tripped (after an operator has looked why)",
    )
    p.add_argument(
        "--reset-price-anchor",
        action="store_true",
        help="forget the recorded price anchor: the first sane reading of the feed becomes the "
        "anchor (after an operator has checked the feed's price; logged)",
    )
    p.set_defaults(handler=_cmd_run)
    register_market(sub)
