"""The running bot: ticks on a schedule, health that tells the truth, and a clean shutdown.

No tick blocks longer than `BotConfig.tick_budget_s()`: every RPC call of the tick, retries
included, end by then, so a slow node costs ticks, not a wedged bot. A tick waits for the
receipt of what it sent only until 80% of `tick_interval_s` has passed: a transaction not mined
by then is held, and the next tick settles it before it reads the chain (one receipt call). So
a tick that sends never overruns its interval waiting for a block (issue 14: bots whose tick
started just before a block boundary used to miss the next tick).

Readiness follows the ticks: after `runtime.unready_after_failures` failed ticks in a row the
bot reports not ready with the last reason, and ready again after the next good tick. A crash
loop logs one line per tick and the traceback once per distinct failure. Two failures end the
bot instead: transactions from this account that it did not sign (`ForeignTransactionError`)
and the kill switch; both pull every quote first, whatever `cancel_on_exit` says.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bots.chain.rpc import tick_budget
from bots.chain.transactor import Transactor
from bots.chain.waits import waits_until
from bots.errors import ForeignTransactionError, OtcmmError
from bots.service.config import BotConfig
from bots.service.health import HealthServer
from bots.service.shutdown import cancel_all
from bots.service.state import KillSwitchFile
from bots.tick.pnl import KillSwitchTripped
from bots.tick.runner import Bot, TickReport

log = structlog.get_logger("otcmm.service")

EXIT_OFFERS_LEFT = 8  # shutdown could not confirm that every own offer is gone
HOLD_AT_SHARE = 0.8  # a tick waits for its receipts until this share of the interval has passed


@dataclass
class BotProcess:
    """A started bot with the handles its shutdown needs."""

    config: BotConfig
    bot: Bot
    transactor: Transactor
    kill_switch: KillSwitchFile


class Service:
    """Runs a bot on an APScheduler interval until a signal or a fatal failure, then shuts down."""

    def __init__(
        self,
        process: BotProcess,
        health: HealthServer | None,
        stopping: threading.Event | None = None,
    ) -> None:
        """`stopping`: the stop event the signal handlers set (`bots.service.signals`),
        shared with the start-up so that a signal before the loop runs is not lost."""
        self.process = process
        self.health = health
        self.stopping = stopping or threading.Event()
        self.exit_code = 0
        self.failures = 0
        self.tx_failures = 0  # ticks in a row whose every transaction failed
        self.pending_since: float | None = None  # monotonic: ticks held on one transaction
        self._seen: set[tuple[str, str, int]] = set()
        interval = process.config.tick_interval_s
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)})
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=interval,
            max_instances=1,  # never two ticks at once: they would race on the same offers
            coalesce=True,  # a tick that overran is followed by one tick, not a burst
            misfire_grace_time=max(1, int(interval * 10)),
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)

    def _tick(self) -> None:
        if self.stopping.is_set():
            return
        # Ticks run on the scheduler's thread, which has its own logging context.
        structlog.contextvars.bind_contextvars(bot=self.process.config.name)
        self._beat()
        config = self.process.config
        hold_at = time.monotonic() + config.tick_interval_s * HOLD_AT_SHARE
        try:
            with tick_budget(self.process.transactor.w3, config.tick_budget_s()):
                with waits_until(hold_at):
                    report = self.process.bot.tick()
        except (ForeignTransactionError, KillSwitchTripped) as exc:
            self._fatal(exc)
        except Exception as exc:  # noqa: BLE001 - a failed tick is reported; the next one tries
            self._failed(exc)
        else:
            self.failures = 0
            self._ran(report)
        self._beat()

    def _ran(self, report: TickReport) -> None:
        """A tick that ran: ready, unless every transaction of the last ticks that sent failed,
        or ticks have waited on one pending transaction longer than `receipt_timeout_s`."""
        execution = report.done  # a held transaction that reverted once mined counts too
        if execution.all_failed:
            self.tx_failures += 1
        elif execution.sent_anything and not execution.pending:
            self.tx_failures = 0
        now = time.monotonic()
        if report.outcome != "tx_pending":
            self.pending_since = None
        elif self.pending_since is None:
            self.pending_since = now
        runtime = self.process.config.runtime
        if self.health is None:
            return
        held_s = 0.0 if self.pending_since is None else now - self.pending_since
        if self.tx_failures >= runtime.unready_after_failures:
            why = execution.errors[-1] if execution.errors else "failed"
            self.health.set_ready(
                False, f"every transaction of {self.tx_failures} ticks in a row failed: {why}"
            )
        elif held_s > runtime.receipt_timeout_s:  # a stuck transaction: the bot cannot requote
            self.health.set_ready(
                False, f"ticks held {held_s:.0f} s on a pending transaction: {execution.pending}"
            )
        else:
            self.health.set_ready(True)

    def _skipped(self, _event: object) -> None:
        """A tick came due while the last one still ran: counted, logged at debug level."""
        self.process.bot.metrics.tick_skipped()
        log.debug("tick skipped: the previous one is still running")

    def _beat(self) -> None:
        if self.health:
            self.health.beat()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        reason = str(exc) if isinstance(exc, OtcmmError) else f"{type(exc).__name__}: {exc}"
        signature = _signature(exc)
        if isinstance(exc, OtcmmError) or signature in self._seen:
            log.error("tick failed", error=reason, failures_in_a_row=self.failures)
        else:
            self._seen.add(signature)
            log.error("tick crashed", error=reason, failures_in_a_row=self.failures, exc_info=exc)
        limit = self.process.config.runtime.unready_after_failures
        if self.health and self.failures >= limit:
            self.health.set_ready(False, f"{self.failures} ticks failed in a row: {reason}")

    def _fatal(self, exc: OtcmmError) -> None:
        """Stop first (exit code, readiness, the stop event), then try to persist: a record
        that cannot be written (a full disk) must never keep the bot from stopping."""
        log.error("stopping the bot", error=str(exc))
        self.exit_code = exc.exit_code
        self.stopping.set()
        if self.health:
            self.health.set_ready(False, str(exc))
        if isinstance(exc, KillSwitchTripped):
            self.process.kill_switch.trip(str(exc))  # never raises: logs a failure
        else:  # the other sender took our nonces: pull the offers with whatever nonce is free
            self.process.transactor.relax_nonces()

    def run(self) -> int:
        """Block until a stop signal or a fatal failure, then clean up; return the exit code."""
        self.scheduler.start()
        while not self.stopping.wait(timeout=0.5):  # short waits keep signal handling prompt
            pass
        log.info("stop requested; finishing the current tick")
        self.scheduler.shutdown(wait=True)
        if self.health:
            self.health.set_ready(False, "shutting down")
        return self._shutdown()

    def _shutdown(self) -> int:
        config = self.process.config
        if not config.runtime.cancel_on_exit and self.exit_code == 0:
            log.info("leaving offers in place (runtime.cancel_on_exit = false)")
            return 0
        bot = self.process.bot
        left = cancel_all(
            bot.view,
            bot.executor,
            self.process.transactor,
            config.runtime.shutdown_timeout_s,
            last_known=bot.last_offer_ids,
        )
        if not left.clean:
            log.error("shutdown incomplete", offers=left.describe())
            return self.exit_code or EXIT_OFFERS_LEFT
        log.info("all own offers cancelled; bye")
        return self.exit_code


def _signature(exc: BaseException) -> tuple[str, str, int]:
    """The kind of a failure: its type and the innermost line it came from."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__, "", 0
    return type(exc).__name__, frames[-1].filename, frames[-1].lineno or 0
