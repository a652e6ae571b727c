"""The load benchmark's bot processes: started, waited for, watched, stopped with SIGTERM.

Each bot is `python -m bots.cli run --config <workdir>/<name>.toml`, its JSON log in
`<workdir>/logs/<name>.log`, in a session of its own so a Ctrl-C on the benchmark reaches only
the benchmark, which then stops them with SIGTERM (`end_all`). The benchmark never reaps a bot
before reading its CPU time one last time from /proc (see `bench.load_probe`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load_chain import listening_address
from bench.load_fleet import BotSpec, journal_path
from bench.load_probe import JournalWatch, ProcUsage, scrape
from bench.load_report import BotResult
from bots.errors import OtcmmError

READY_TIMEOUT_S = 180.0  # unlock, connect, first tick, for every bot on a busy 2-core machine
STOP_TIMEOUT_S = 150.0  # a bot gives itself runtime.shutdown_timeout_s (60) to cancel
STOP_POLL_S = 0.1


class LoadError(OtcmmError):
    """The benchmark could not run as planned (a bot died before it was ready)."""

    exit_code = 1


@dataclass
class BotProcess:
    result: BotResult
    process: subprocess.Popen[bytes]
    log: Path
    started: float
    url: str | None = None

    @property
    def name(self) -> str:
        return self.result.spec.name


def start(workdir: Path, bots: Sequence[tuple[BotSpec, str]]) -> list[BotProcess]:
    """Start one `otcmm run` per (spec, address); configs must be in `workdir` already."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
    (workdir / "logs").mkdir(exist_ok=True)
    running = []
    for spec, address in bots:
        log = workdir / "logs" / f"{spec.name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                [sys.executable, "-m", "bots.cli", "run", "--config", f"{spec.name}.toml"],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=env,
                start_new_session=True,
            )
        result = BotResult(
            spec, address, ProcUsage(process.pid), JournalWatch(journal_path(workdir, spec.name))
        )
        running.append(BotProcess(result, process, log, time.monotonic()))
    return running


def await_ready(bots: Sequence[BotProcess]) -> None:
    """Wait until every bot serves /metrics and has ticked once; LoadError if one exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(bots)
    while waiting:
        for bot in list(waiting):
            if bot.process.poll() is not None:
                raise LoadError(
                    f"{bot.name} exited {bot.process.returncode} before its first tick;"
                    f" see {bot.log}"
                )
            if bot.url is None:
                address = listening_address(bot.log)
                bot.url = None if address is None else f"http://{address}/metrics"
            reading = scrape(bot.url, time.monotonic()) if bot.url else None
            if reading is not None and reading.total("otcmm_ticks_total") >= 1:
                waiting.remove(bot)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(b.name for b in waiting)
            raise LoadError(f"not ready after {READY_TIMEOUT_S:g}s: {names}")
        time.sleep(0.5)


def sample(bots: Sequence[BotProcess], anvil: ProcUsage) -> None:
    """Read /proc for every process and the size of every journal."""
    anvil.sample()
    for bot in bots:
        bot.result.journal.sample()
        if bot.result.exit_code is None:
            bot.result.usage.sample()


def scrape_all(bots: Sequence[BotProcess]) -> None:
    """Scrape every bot; the first answer opens its window, the latest one closes it."""
    for bot in bots:
        if bot.url is None:
            continue
        reading = scrape(bot.url, time.monotonic())
        if reading is None:
            continue
        if bot.result.first is None:
            bot.result.first = reading
        bot.result.last = reading


def stop(bots: Sequence[BotProcess], anvil: ProcUsage) -> None:
    """SIGTERM every running bot, then reap each once /proc shows it exited (CPU read last)."""
    sent = time.monotonic()
    for bot in bots:
        if bot.process.poll() is None:
            bot.process.send_signal(signal.SIGTERM)
    deadline = sent + STOP_TIMEOUT_S
    while any(b.result.exit_code is None for b in bots):
        for bot in bots:
            if bot.result.exit_code is None and not bot.result.usage.sample():
                _reap(bot, sent)
        if time.monotonic() > deadline:
            for bot in bots:
                if bot.result.exit_code is None:
                    bot.process.kill()
                    _reap(bot, None)
        sample((), anvil)
        time.sleep(STOP_POLL_S)
    for bot in bots:
        bot.result.journal.sample()


def _reap(bot: BotProcess, sent: float | None) -> None:
    code = bot.process.wait()
    now = time.monotonic()
    bot.result.exit_code = code
    bot.result.lifetime_s = now - bot.started
    bot.result.stop_s = None if sent is None else now - sent


def end_all(bots: Sequence[BotProcess], grace_s: float = 10.0) -> None:
    """On the way out of an error or a Ctrl-C: SIGTERM what still runs, SIGKILL after
    `grace_s`. No bot outlives the benchmark (nor the dev chain it trades on)."""
    running = [bot.process for bot in bots if bot.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
