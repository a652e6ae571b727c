"""The bot process around the ticks: truthful readiness, crash loops, fatal stops, locks, the
kill switch record and a shutdown that keeps trying. No chain: the bot and the chain view are
stand-ins, the health server, logging, lock files and the scheduler-free `Service` are real."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

import bots.atomicfile
import bots.chain.journal
import bots.service.loop
from bots.chain.journal import TxJournal
from bots.chain.waits import wait_left
from bots.errors import ChainError, ConfigError, ForeignTransactionError
from bots.service.config import BotConfig, load_config
from bots.service.health import HealthServer
from bots.service.logs import configure_logging
from bots.service.loop import EXIT_OFFERS_LEFT, BotProcess, Service
from bots.service.metrics import BotMetrics
from bots.service.shutdown import cancel_all
from bots.service.signals import StartupInterrupted, StopSignal
from bots.service.state import (
    AccountInUse,
    KillSwitchFile,
    account_lock,
    journal_lock,
    state_dir,
)
from bots.tick.executor import Execution
from bots.tick.pnl import KillSwitchTripped
from bots.tick.reconcile import Plan
from bots.tick.report import TickReport
from strategies.api import LiveOffer
from tests.diskfull import full_disk, temp_files

ADDRESS = "0x" + "ab" * 20


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def config(tmp_path: Path, **runtime: Any) -> BotConfig:
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in runtime.items())
    path = tmp_path / "bot.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "mm"
            rpc_url = "http://127.0.0.1:1"
            market = "{ADDRESS}"
            base = "0x{"11" * 20}"
            quote = "0x{"22" * 20}"
            [keystore]
            path = "key.json"
            [strategy]
            name = "fixed_spread"
            params = {{ spread_bps = 100, size = 100 }}
            [feed]
            kind = "static"
            price = "100"
            [runtime]
            """
        )
        + lines,
        encoding="utf-8",
    )
    return load_config(path, secrets_dir=tmp_path)  # no secret files there


class FakeView:
    """Own offers as the chain reports them; `failures` reads raise first (a garbled node)."""

    def __init__(self, offers: list[LiveOffer], failures: list[Exception] | None = None):
        self.offers = offers
        self.failures = list(failures or [])

    def own_offers_anywhere(self) -> list[LiveOffer]:
        if self.failures:
            raise self.failures.pop(0)
        return list(self.offers)


class FakeExecutor:
    def __init__(self, view: FakeView, errors: list[str] | None = None) -> None:
        self.view = view
        self.errors = list(errors or [])
        self.calls = 0
        self.batches: list[int] = []

    def settle_held(self, wait_s: float = 0.0) -> Execution:
        return Execution()  # nothing held

    def cancel_all(self, offers: list[LiveOffer], batch: int = 60) -> Execution:
        self.calls += 1
        self.batches.append(batch)
        if self.errors:
            return Execution(errors=[self.errors.pop(0)])
        self.view.offers = [o for o in self.view.offers if o not in offers]
        return Execution(cancelled=[o.id for o in offers])


class FakeBot:
    """Raises the queued exceptions tick by tick, then ticks fine."""

    last_offer_ids: tuple[int, ...] = ()

    def __init__(self, view: FakeView, executor: FakeExecutor, raises: list[Exception]):
        self.view, self.executor, self.raises = view, executor, list(raises)
        self.wait_left: float | None = None  # what the last tick could wait for receipts

    def tick(self) -> TickReport:
        self.wait_left = wait_left()
        if self.raises:
            raise self.raises.pop(0)
        return TickReport(0, "noop", Plan((), (), ()), Execution())


class FakeTransactor:
    receipt_timeout_s = 60.0
    relaxed = False
    w3 = SimpleNamespace(provider=None)  # not a RetryingHTTPProvider: no tick budget

    def relax_nonces(self) -> None:
        self.relaxed = True


def offer(offer_id: int) -> LiveOffer:
    return LiveOffer(offer_id, ADDRESS, ADDRESS, ADDRESS, 10, 10, 10, 10)


def service(
    tmp_path: Path, raises: list[Exception], offers: list[LiveOffer] | None = None, **runtime: Any
) -> tuple[Service, HealthServer]:
    view = FakeView(offers or [])
    bot = FakeBot(view, FakeExecutor(view), raises)
    process = BotProcess(
        config(tmp_path, **runtime), bot, FakeTransactor(), KillSwitchFile(tmp_path, ADDRESS)
    )  # type: ignore[arg-type]
    health = HealthServer(BotMetrics(), port=0)
    return Service(process, health), health


def readiness(health: HealthServer) -> tuple[int, str]:
    status, _, body = health.respond("/readyz")
    return status, body.decode()


# --- readiness and crash loops --------------------------------------------------------------


def test_readiness_goes_false_after_consecutive_failed_ticks_and_back_after_a_good_one(
    tmp_path: Path,
) -> None:
    crash = ValueError("garbage answer")
    svc, health = service(tmp_path, [crash, crash, crash], unready_after_failures=3)
    health.set_ready(True)

    svc._tick()
    svc._tick()
    assert readiness(health)[0] == 200  # two failures: still within the limit
    svc._tick()
    status, reason = readiness(health)
    assert status == 503 and "3 ticks failed in a row" in reason and "garbage answer" in reason

    svc._tick()
    assert readiness(health) == (200, "ok")


def test_ticks_held_on_one_pending_transaction_too_long_make_the_bot_unready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that cannot mine (a nonce gap, a fee the pool will not take) held every
    tick at tx_pending while /readyz said 200 (red team 2): nothing alerted."""
    svc, health = service(tmp_path, [], receipt_timeout_s=60)
    pending = TickReport(0, "tx_pending", Plan((), (), ()), Execution(pending="requote held"))
    clock = iter([1_000.0, 1_030.0, 1_061.0, 1_062.0])
    monkeypatch.setattr(bots.service.loop.time, "monotonic", lambda: next(clock))

    svc._ran(pending)
    svc._ran(pending)
    assert readiness(health)[0] == 200  # 30 s: a slow block, not a stuck transaction
    svc._ran(pending)
    status, reason = readiness(health)
    assert status == 503 and "held 61 s on a pending transaction: requote held" in reason
    svc._ran(TickReport(0, "noop", Plan((), (), ()), Execution()))
    assert readiness(health) == (200, "ok")


def test_a_tick_waits_for_receipts_only_until_its_next_tick_is_due(tmp_path: Path) -> None:
    svc, _ = service(tmp_path, [])
    interval = svc.process.config.tick_interval_s
    svc._tick()
    left = svc.process.bot.wait_left  # type: ignore[attr-defined]
    assert left is not None and 0 < left <= 0.8 * interval  # then the transaction is held
    assert wait_left() is None  # the bound ends with the tick


def test_a_crash_loop_logs_one_line_per_tick_and_the_traceback_once(tmp_path: Path) -> None:
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    crashes: list[Exception] = []
    for _ in range(5):
        try:
            {}["missing"]
        except KeyError as exc:
            crashes.append(exc)
    svc, _ = service(tmp_path, crashes)

    for _ in range(5):
        svc._tick()

    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    failed = [line for line in lines if line["event"] in ("tick crashed", "tick failed")]
    assert len(failed) == 5
    assert sum("Traceback" in line.get("exception", "") for line in lines) == 1
    assert [line["failures_in_a_row"] for line in failed] == [1, 2, 3, 4, 5]


def test_a_failing_otcmm_error_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    svc, _ = service(tmp_path, [ChainError("cannot reach RPC at http://node:8545: refused")])

    svc._tick()

    (line,) = [json.loads(raw) for raw in buf.getvalue().splitlines()]
    assert line["event"] == "tick failed" and "exception" not in line


# --- fatal failures -------------------------------------------------------------------------


def test_a_foreign_transaction_stops_the_bot_and_pulls_every_offer(tmp_path: Path) -> None:
    svc, health = service(
        tmp_path,
        [ForeignTransactionError("another process or wallet is sending")],
        offers=[offer(1), offer(2)],
        cancel_on_exit=False,  # a fatal stop pulls the quotes anyway
    )

    svc._tick()

    assert svc.stopping.is_set() and readiness(health)[0] == 503
    assert svc.process.transactor.relaxed  # the cancels must not trip on the rival's nonces
    assert svc._shutdown() == 6
    assert svc.process.bot.view.offers == []


def test_the_kill_switch_is_recorded_and_refuses_the_next_start(tmp_path: Path) -> None:
    svc, _ = service(tmp_path, [KillSwitchTripped("kill switch: P&L -150 below -max_loss 100")])

    svc._tick()

    assert svc._shutdown() == 7
    record = KillSwitchFile(tmp_path, ADDRESS)
    with pytest.raises(KillSwitchTripped, match="P&L -150 below -max_loss 100"):
        record.check(clear=False)
    record.check(clear=True)  # an operator clears it
    record.check(clear=False)


# --- shutdown that keeps trying -------------------------------------------------------------


def test_shutdown_retries_malformed_answers_and_racing_fills_until_the_book_is_empty() -> None:
    view = FakeView(
        [offer(1), offer(2)],
        failures=[json.JSONDecodeError("Expecting value", "{trunc", 6), ChainError("reset")],
    )
    executor = FakeExecutor(view, errors=["requote: UnexpectedRemaining(id=1, ...)"])

    left = cancel_all(view, executor, FakeTransactor(), 30, sleep=lambda _s: None)  # type: ignore[arg-type]

    assert left.clean and view.offers == [] and executor.calls == 2


@pytest.mark.parametrize(
    "refusal",
    [
        "requote: node refused the transaction: insufficient funds for gas * price + value",
        "requote: node refused the transaction: InsufficientFunds, Account balance is too low",
    ],
)
def test_shutdown_halves_the_cancel_batch_while_the_gas_money_cannot_pay_for_it(
    refusal: str,
) -> None:
    view = FakeView([offer(1), offer(2), offer(3), offer(4)])
    executor = FakeExecutor(view, errors=[refusal] * 3)

    left = cancel_all(view, executor, FakeTransactor(), 30, sleep=lambda _s: None)  # type: ignore[arg-type]

    assert left.clean and executor.batches == [4, 2, 1, 1]


def test_shutdown_that_cannot_finish_names_the_offers_left(tmp_path: Path) -> None:
    svc, _ = service(tmp_path, [], offers=[offer(7)], shutdown_timeout_s=0.2)
    svc.process.bot.executor.errors = ["refused"] * 1000  # type: ignore[attr-defined]

    assert svc._shutdown() == EXIT_OFFERS_LEFT


# --- one process per keystore ---------------------------------------------------------------


def test_a_second_lock_on_the_same_account_is_refused_with_the_holder_pid(tmp_path: Path) -> None:
    first = account_lock(tmp_path, ADDRESS).acquire()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from bots.service.state import account_lock;"
            f"account_lock(Path({str(tmp_path / 'other')!r}), {ADDRESS!r}).acquire();"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with pytest.raises(AccountInUse, match=r"pid \d+"):
            account_lock(tmp_path, ADDRESS).acquire()
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(AccountInUse, match=f"pid {holder.pid}"):
            account_lock(tmp_path / "other", ADDRESS).acquire()
    finally:
        holder.kill()
        holder.wait()
        first.release()
    account_lock(tmp_path, ADDRESS).acquire().release()  # free again once released
    account_lock(tmp_path / "other", ADDRESS).acquire().release()  # and when the holder died


def test_state_lives_with_the_journal_unless_configured(tmp_path: Path) -> None:
    assert state_dir(tmp_path / "s", tmp_path / "j" / "journal.jsonl") == tmp_path / "s"
    assert state_dir(None, tmp_path / "j" / "journal.jsonl") == tmp_path / "j"
    assert state_dir(None, None).name == "otcmm"


def test_metrics_listen_on_loopback_unless_configured(tmp_path: Path) -> None:
    assert config(tmp_path).runtime.metrics_host == "127.0.0.1"
    with HealthServer(BotMetrics(), port=0) as health:
        assert health.bound.startswith("127.0.0.1:")


# --- a kill switch record on a full disk ----------------------------------------------------


def test_a_kill_switch_record_that_cannot_be_written_still_stops_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while recording the kill switch used to escape `_fatal` before the stop was
    set: the bot kept ticking, and the temp file stayed behind."""
    buf = io.StringIO()
    configure_logging("json", stream=buf)
    svc, health = service(
        tmp_path, [KillSwitchTripped("kill switch: P&L -150 below -max_loss 100")], [offer(3)]
    )
    full_disk(monkeypatch, bots.atomicfile)

    svc._tick()

    assert svc.stopping.is_set() and readiness(health)[0] == 503
    assert svc._shutdown() == 7 and svc.process.bot.view.offers == []
    assert temp_files(tmp_path) == []
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    (unwritten,) = [line for line in lines if line["event"].startswith("kill switch record")]
    assert unwritten["error"] == "No space left on device"


# --- signals during start-up ----------------------------------------------------------------


def test_a_signal_during_start_up_interrupts_it_and_later_only_sets_the_stop_event() -> None:
    stop = StopSignal()
    with stop.installed(), pytest.raises(StartupInterrupted, match="SIGTERM"):
        signal.raise_signal(signal.SIGTERM)  # the handler runs before this call returns
        pytest.fail("the start-up went on after SIGTERM")
    assert stop.event.is_set()

    again = StopSignal()
    with again.installed():
        again.started()
        signal.raise_signal(signal.SIGTERM)
        assert again.event.is_set()  # no exception: the loop finishes its tick, then stops
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_one_journal_by_two_names_is_one_lock(tmp_path: Path) -> None:
    """A symlinked folder or a `..` in the path names the same journal: the second bot is
    refused all the same."""
    (tmp_path / "state").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "state")
    first = journal_lock(tmp_path / "state" / "journal.jsonl").acquire()
    try:
        for other in (
            tmp_path / "alias" / "journal.jsonl",
            tmp_path / "state" / ".." / "state" / "journal.jsonl",
        ):
            with pytest.raises(AccountInUse, match="one journal per bot"):
                journal_lock(other).acquire()
    finally:
        first.release()
    journal_lock(tmp_path / "alias" / "journal.jsonl").acquire().release()


def test_a_journal_that_is_a_symlink_stays_one_lock_after_its_rewrite(tmp_path: Path) -> None:
    """The rewrite replaces the file the bot writes: the bot writes the link's target, so the
    link stays a link and a second bot on it still finds the lock (red team 5: the rewrite
    replaced the link with a file of its own and the second bot started)."""
    (tmp_path / "journal.jsonl").write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "journal.jsonl")
    first = journal_lock(link).acquire()
    try:
        journal = TxJournal(link.resolve())  # as `bots.service.process.build` opens it
        journal.sent(0, "0x" + "ab" * 32, b"\x01", "make")
        journal.compact()
        assert link.is_symlink()
        with pytest.raises(AccountInUse, match="one journal per bot"):
            journal_lock(link).acquire()
    finally:
        first.release()


def test_a_journal_with_hard_links_is_refused(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text("")
    os.link(tmp_path / "journal.jsonl", tmp_path / "other.jsonl")
    with pytest.raises(ConfigError, match="2 names"):
        journal_lock(tmp_path / "other.jsonl")
