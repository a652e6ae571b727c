"""`otcmm compile | chain-config | devchain`: contracts, the network's renders, a dev chain."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from bots.cli import argtypes
from bots.errors import ConfigError, OtcmmError
from bots.numbers import count


def _cmd_compile(args: argparse.Namespace) -> int:
    from bots.devtools.compiler import build_all, write_artifacts
    from bots.paths import BUILD_DIR

    files = build_all(args.compiler)
    if args.check:
        stale = [path for path, text in files.items() if _read(path) != text]
        for path in stale:
            print(f"out of date: {path.relative_to(BUILD_DIR.parent.parent)}")
        if stale:
            raise OtcmmError("committed artifacts differ from a fresh compile: run `otcmm compile`")
        print(f"{count(len(files), 'artifact')} match a fresh compile")
        return 0
    changed = write_artifacts(files)
    print(
        f"compiled {count(len(files), 'contract')}; {count(len(changed), 'artifact file')} changed"
    )
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _cmd_chain_config(args: argparse.Namespace) -> int:
    from bots.devtools.chainconfig import check_rendered, write_rendered

    if args.action == "render":
        changed = write_rendered()
        print(f"rendered chain-config; {count(len(changed), 'file')} changed")
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
    from bots.devtools.chainconfig import devchain_params
    from bots.devtools.devchain import DevChain, dev_accounts
    from bots.devtools.network import load_network

    params = devchain_params(load_network())
    if args.block_time is not None:
        if args.mode != "interval":
            raise ConfigError("--block-time needs --mode interval (the default)")
        params = dataclasses.replace(params, block_time=args.block_time)
    if args.port:
        require_free_port(args.port)  # a busy port is bad input (exit 2), before anvil starts
    mining = f"a block every {params.block_time} s" if args.mode == "interval" else args.mode
    with DevChain(params, mode=args.mode, port=args.port) as chain:
        print(
            f"dev chain (anvil pid {chain.pid}) on {chain.url}, chain id {params.chain_id}, "
            f"mining: {mining}"
        )
        print("DEV-ONLY prefunded accounts (public mnemonic from chain-config/network.toml):")
        for account in dev_accounts(params, min(params.accounts, 5)):
            print(f"  {account.address}")
        print("Ctrl-C (or SIGTERM) stops it; the chain's state is gone then")
        wait_for_signal()
    return 0


def require_free_port(port: int, host: str = "127.0.0.1") -> None:
    """`ConfigError` (exit 2, as `price-oracle` says of its port) unless `host:port` can be
    listened on now: a port in use is the command line's fault, not the tool's."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise ConfigError(f"--port {port}: cannot listen on {host}:{port}: {why}") from None


def wait_for_signal() -> None:
    """Block until SIGINT, SIGTERM or SIGHUP (a foreground service's normal end)."""
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    while not stop.wait(0.2):
        pass


def register(sub: Any) -> None:
    """Add the developer commands to the `otcmm` subparsers."""
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
    p.add_argument(
        "--block-time",
        type=argtypes.integer(1, 3600),
        metavar="SECONDS",
        help="seconds per block in interval mode (default: the network's AuRa step)",
    )
    p.add_argument(
        "--port", type=argtypes.PORT, default=0, help="JSON-RPC port (default: a free one)"
    )
    p.set_defaults(handler=_cmd_devchain)
