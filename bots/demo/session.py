"""`otcmm demo`: the whole product on one machine, from an empty chain to a checked report.

Starts a dev chain with AuRa-like block times and a shared reference-price service, seeds the
market from `bots/examples/demo/seed.toml` (deploys, issues, funds, makes an initial offering),
then runs three bots as separate processes, each with its own keystore: two makers with
different strategies and a noise taker. It shows the market live, stops the bots the way
Kubernetes would (SIGTERM: they cancel their offers), and ends with a report whose
conservation check decides the exit code.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TextIO

from web3 import Web3

from bots.chain.keystore import Secret, keystore_address
from bots.chain.rpc import connect
from bots.demo.liveview import LiveView
from bots.demo.oracle import PriceOracle
from bots.demo.report import DemoReport, build_report
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.lifetime import die_with_parent
from bots.devtools.network import load_network
from bots.errors import OtcmmError
from bots.market.client import MarketClient
from bots.market.deployment import load_deployment
from bots.market.tokens import load_token
from bots.outputs import owned_dir
from bots.seed.plan import fleet_keystores, load_plan
from bots.seed.run import format_report, run_seed

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "demo"  # `bots` package data
BOT_NAMES = ("maker-spread", "maker-as", "taker-noise")
DEMO_PASSWORD = "otcmm-demo-only"  # noqa: S105 - throwaway keys for a throwaway dev chain
DEMO_SCRYPT_N = 2**14  # throwaway keys: fast to unlock; production keystores keep the default
STOP_TIMEOUT_S = 90.0
START_TIMEOUT_S = 120.0
WORKDIR_MARKER = ".otcmm-demo"


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 60.0
    block_time: int = 1
    refresh_s: float = 3.0
    workdir: Path | None = None
    reference: Decimal = Decimal("100")
    volatility: float = 3.0
    seed: int = 7


class DemoError(OtcmmError):
    """The demo ran but something it checks went wrong (a bot died, conservation failed)."""

    exit_code = 1


def prepare_workdir(workdir: Path | None) -> Path:
    """Copy the example plan and bot configs next to a password file for the demo's keys.

    `workdir` must be new, empty or an earlier demo's (it holds `WORKDIR_MARKER`), else
    `ConfigError` before anything starts; an earlier demo's files are deleted first (its
    deployment, journals and logs belong to a chain that is gone), so a rerun starts afresh.
    """
    target = workdir or Path(tempfile.mkdtemp(prefix="otcmm-demo-"))
    owned_dir(target, "--workdir", WORKDIR_MARKER, clear=True)
    for source in EXAMPLE_DIR.glob("*.toml"):
        shutil.copy(source, target / source.name)
    password = target / "password"
    password.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    password.chmod(0o600)
    return target


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> DemoReport:
    """Run the demo end to end; raise `DemoError` if a bot failed or conservation broke."""
    params = dataclasses.replace(devchain_params(load_network()), block_time=options.block_time)
    workdir = prepare_workdir(options.workdir)
    out.write(f"demo files in {workdir}\n")
    oracle = PriceOracle(
        options.reference, volatility=options.volatility, step_s=1.0, seed=options.seed
    )
    # Seeding mines a block per transaction; trading then runs on AuRa-like block times.
    with DevChain(params, mode="auto") as chain, oracle:
        w3 = connect(chain.url)
        out.write(f"dev chain on {chain.url} (chain id {params.chain_id})\n")
        plan = load_plan(workdir / "seed.toml")
        fleet_keystores(plan, Secret(DEMO_PASSWORD), scrypt_n=DEMO_SCRYPT_N)
        (initializer,) = dev_accounts(params, 1)
        seeded = run_seed(w3, initializer, plan, workdir / "deployment.json")
        out.write(format_report(seeded) + "\n")
        chain.rpc("evm_setIntervalMining", [options.block_time])
        out.write(f"mining a block every {options.block_time}s from now on\n")
        return _trade(w3, chain.url, oracle, workdir, options, str(initializer.address), out)


def _trade(
    w3: Web3,
    rpc_url: str,
    oracle: PriceOracle,
    workdir: Path,
    options: DemoOptions,
    initializer: str,
    out: TextIO,
) -> DemoReport:
    deployment = load_deployment(workdir / "deployment.json")
    if deployment is None:
        raise DemoError("the seed job wrote no deployment file")
    market = MarketClient(w3, deployment.require_market())
    base = load_token(market, deployment.address_of("BND30"))
    quote = load_token(market, deployment.address_of("EURT"))
    bots = {name: keystore_address(workdir / "keys" / f"{name}.json") for name in BOT_NAMES}
    start_block = int(w3.eth.block_number)
    start_reference = oracle.price
    before = build_report(market, base, quote, bots, initializer, start_block, start_reference)
    env = {**os.environ, "OTCMM_RPC_URL": rpc_url, "OTCMM_FEED__URL": oracle.url}
    with _bot_processes(workdir, env, out) as processes:
        view = LiveView(
            market, base, quote, bots, start_block, out, others={"initializer": initializer}
        )
        _watch(view, oracle, processes, options)
    codes = {name: process.returncode for name, process in processes.items()}
    report = build_report(
        market, base, quote, bots, initializer, start_block, oracle.price, before=before
    )
    out.write(report.render(codes) + "\n")
    failed = [f"{name} exited {code}" for name, code in codes.items() if code != 0]
    if failed or not report.conservation.ok:
        reasons = failed + ([] if report.conservation.ok else ["conservation check failed"])
        raise DemoError("demo failed: " + "; ".join(reasons))
    return report


@contextmanager
def _bot_processes(
    workdir: Path, env: dict[str, str], out: TextIO
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start one `otcmm run` per bot (logs in workdir/logs); SIGTERM and reap them on exit."""
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in BOT_NAMES:
            with (logs / f"{name}.log").open("ab") as log:
                processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                    [
                        sys.executable,
                        "-m",
                        "bots.cli",
                        "run",
                        "--config",
                        str(workdir / f"{name}.toml"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    env=env,
                    start_new_session=True,  # Ctrl-C reaches the demo only; it stops the bots
                    # A demo killed outright takes its chain with it: nothing left to cancel on.
                    preexec_fn=die_with_parent(signal.SIGKILL),  # noqa: PLW1509 - a prctl call
                )
            out.write(f"started {name} (pid {processes[name].pid}), log {logs / (name + '.log')}\n")
        _await_started(processes, logs)
        yield processes
    finally:
        _stop(processes, out)


def _await_started(processes: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    """Wait until every bot has logged "starting" (its stop handlers are in place from then on,
    so a SIGTERM stops it cleanly) or has exited; `DemoError` after `START_TIMEOUT_S`."""
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = set(processes)
    while waiting:
        for name in sorted(waiting):
            text = (logs / f"{name}.log").read_bytes()
            if b'"starting"' in text or processes[name].poll() is not None:
                waiting.discard(name)
        if waiting and time.monotonic() > deadline:
            raise DemoError(f"not started after {START_TIMEOUT_S:g}s: {', '.join(sorted(waiting))}")
        if waiting:
            time.sleep(0.1)


def _stop(processes: dict[str, subprocess.Popen[bytes]], out: TextIO) -> None:
    out.write("stopping the bots (SIGTERM: each cancels its offers) ...\n")
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out.write(f"{name} did not stop in {STOP_TIMEOUT_S:g}s: killed\n")
            process.kill()
            process.wait()


def _watch(
    view: LiveView,
    oracle: PriceOracle,
    processes: dict[str, subprocess.Popen[bytes]],
    options: DemoOptions,
) -> None:
    """Refresh the view until the time is up, Ctrl-C/SIGTERM arrives or a bot dies."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, request_stop) for s in stops}
    try:
        deadline = time.monotonic() + options.duration_s
        while not stop.is_set() and time.monotonic() < deadline:
            view.refresh(oracle.price)
            dead = [name for name, p in processes.items() if p.poll() is not None]
            if dead:
                view.out.write(f"exited early: {', '.join(dead)}\n")
                return
            stop.wait(min(options.refresh_s, max(0.0, deadline - time.monotonic())))
        view.refresh(oracle.price)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
