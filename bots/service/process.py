"""The bot process: start-up checks, crash recovery, the tick schedule and a clean shutdown.

Kubernetes sends SIGTERM on every rollout, so shutdown is a normal path, not an accident: the
running tick finishes, then (by default) every own offer is cancelled and the bot confirms on
chain that none is left before it exits 0. A bot killed harder than that loses nothing either:
its next start rebuilds everything from the chain after the journaled transactions settle.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from eth_account.signers.local import LocalAccount
from web3 import Web3

from bots.chain.journal import TxJournal
from bots.chain.keystore import read_password, unlock
from bots.chain.rpc import RetryingHTTPProvider, RpcUnreachable, check_connection, connect
from bots.chain.transactor import Transactor, TxEvent
from bots.errors import ChainError, OtcmmError
from bots.feeds.sources import FallbackFeed, PriceFeed
from bots.feeds.spec import feed_from_spec
from bots.market.client import MarketClient
from bots.market.tokens import load_token
from bots.service.config import BotConfig
from bots.service.health import HealthServer
from bots.service.logs import configure_logging
from bots.service.metrics import BotMetrics
from bots.tick.executor import Executor
from bots.tick.runner import Bot
from bots.tick.snapshot import ChainView
from strategies.api import LiveOffer

log = structlog.get_logger("otcmm.service")
UNREACHABLE_PAUSE_S = 1.0  # between shutdown clean-up passes while the node is unreachable


@dataclass
class BotProcess:
    """A started bot with the handles its shutdown needs."""

    config: BotConfig
    bot: Bot
    transactor: Transactor
    health: HealthServer | None


def unlock_account(config: BotConfig) -> LocalAccount:
    password = read_password(password_file=config.keystore.password_file, prompt=False)
    return unlock(config.keystore.path, password)


def build(config: BotConfig, account: LocalAccount, metrics: BotMetrics) -> BotProcess:
    """Connect, read the pair's tokens and wire the tick's pieces together."""
    rpc = config.rpc
    w3 = connect(
        config.rpc_url,
        timeout_s=rpc.timeout_s,
        retries=rpc.retries,
        backoff_s=rpc.backoff_s,
        deadline_s=rpc.deadline_s,
    )
    if isinstance(w3.provider, RetryingHTTPProvider):
        w3.provider.on_request = lambda _method: metrics.rpc_call()
    check_connection(w3, config.chain_id)
    journal = TxJournal(config.runtime.journal) if config.runtime.journal else None
    transactor = Transactor(
        w3,
        account,
        receipt_timeout_s=config.runtime.receipt_timeout_s,
        gas_price_cap_wei=config.risk.max_gas_price_wei,
        stuck_after_s=config.runtime.stuck_after_s,
        on_event=_tx_observer(metrics, journal),
        fee_ttl_s=1.0,  # one fee lookup serves all of a tick's transactions
    )
    market = MarketClient(w3, config.market, transactor)
    _require_contract(w3, config.market, "market")
    base, quote = load_token(market, config.base), load_token(market, config.quote)
    view = ChainView(market, base, quote, account.address, config.fleet)
    bot = Bot(
        view=view,
        strategy=config.build_strategy(),
        feed=_feed(config, view),
        executor=Executor(market),
        limits=config.risk,
        tolerance=config.reconcile.tolerance(),
        metrics=metrics,
    )
    if journal is not None:
        _recover(transactor, journal)
    else:
        _settle_pending(transactor)
    return BotProcess(config, bot, transactor, None)


def _feed(config: BotConfig, view: ChainView) -> PriceFeed:
    def book() -> tuple[list[LiveOffer], list[LiveOffer]]:
        return view.last_book

    feeds = [
        feed_from_spec(spec, base=view.base, quote=view.quote, book=book)
        for spec in (config.feed, *config.fallback_feeds)
    ]
    return FallbackFeed(feeds, max_age_s=config.risk.feed_max_age_s)


def _require_contract(w3: Web3, address: str, what: str) -> None:
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise ChainError(f"no contract at the configured {what} address {address}")


def _tx_observer(metrics: BotMetrics, journal: TxJournal | None) -> Callable[[TxEvent], None]:
    def observe(event: TxEvent) -> None:
        if event.kind == "signed":
            if journal is not None and event.raw_tx is not None:
                journal.sent(event.nonce, event.tx_hash, event.raw_tx, event.label)
        elif event.kind in ("sent", "replaced"):
            metrics.tx_sent(event.label)
        elif event.kind == "mined":
            metrics.tx_mined(event.label, event.gas_used or 0)
            if journal is not None:
                journal.done(event.tx_hash)
        else:
            metrics.tx_failed(event.label)
            if journal is not None:
                journal.done(event.tx_hash)
        structlog.get_logger("otcmm.tx").debug(
            "tx " + event.kind, label=event.label, tx_hash=event.tx_hash, nonce=event.nonce
        )

    return observe


def _recover(transactor: Transactor, journal: TxJournal) -> None:
    """Rebroadcast what a previous run signed but the chain has not seen, then let it settle."""
    chain_nonce = int(transactor.w3.eth.get_transaction_count(transactor.address, "latest"))
    for entry in journal.open_entries(chain_nonce):
        log.info("rebroadcasting journaled transaction", tx_hash=entry.tx_hash, nonce=entry.nonce)
        transactor.rebroadcast(entry.raw_tx)
    _settle_pending(transactor)
    journal.compact()


def _settle_pending(transactor: Transactor) -> None:
    """Wait until no transaction of ours is pending, so the first snapshot sees its effects."""
    if transactor.pending_count():
        log.info("waiting for pending transactions of a previous run")
        if not transactor.wait_until_idle(transactor.receipt_timeout_s):
            raise ChainError("transactions of a previous run are still pending; not starting")
    transactor.resync_nonce()


class Service:
    """Runs a bot on an APScheduler interval until SIGTERM/SIGINT, then shuts it down."""

    def __init__(self, process: BotProcess, health: HealthServer | None) -> None:
        self.process = process
        self.health = health
        self.stopping = threading.Event()
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

    def _tick(self) -> None:
        if self.stopping.is_set():
            return
        # Ticks run on the scheduler's thread, which has its own logging context.
        structlog.contextvars.bind_contextvars(bot=self.process.config.name)
        if self.health:
            self.health.beat()
        try:
            self.process.bot.tick()
            if self.health:
                self.health.set_ready(True)
        except OtcmmError as exc:
            log.error("tick failed", error=str(exc))
            if self.health:
                self.health.set_ready(False, str(exc))
        except Exception:
            log.exception("tick crashed")
        if self.health:
            self.health.beat()

    def run(self) -> int:
        """Block until a stop signal, then drain and clean up; return the exit code."""
        self.scheduler.start()
        while not self.stopping.wait(timeout=0.5):  # short waits keep signal handling prompt
            pass
        log.info("stop requested; finishing the current tick")
        self.scheduler.shutdown(wait=True)
        if self.health:
            self.health.set_ready(False, "shutting down")
        return self._shutdown()

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        log.info("signal received", signal=signal.Signals(signum).name)
        self.stopping.set()

    def _shutdown(self) -> int:
        config = self.process.config
        if not config.runtime.cancel_on_exit:
            log.info("leaving offers in place (runtime.cancel_on_exit = false)")
            return 0
        left = cancel_all(self.process, config.runtime.shutdown_timeout_s)
        if left:
            log.error("offers still live after shutdown", count=left)
            return 4
        log.info("all own offers cancelled; bye")
        return 0


def cancel_all(process: BotProcess, timeout_s: float) -> int:
    """Cancel every own offer on the market and confirm none is left; return how many are.

    A node that stays broken through a whole retry budget (`RpcUnreachable`) costs a pause
    and another pass while `timeout_s` lasts; after that the error propagates.
    """
    view, executor = process.bot.view, process.bot.executor
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            offers = view.own_offers_anywhere()
            if not offers or time.monotonic() > deadline:
                return len(offers)
            result = executor.cancel_all(offers)
        except RpcUnreachable as exc:
            if time.monotonic() + UNREACHABLE_PAUSE_S > deadline:
                raise
            log.warning("node unreachable while cancelling; trying again", error=str(exc))
            time.sleep(UNREACHABLE_PAUSE_S)
            continue
        for error in result.errors:  # a fill raced the cancel: re-read and try again
            log.warning("cancel failed; retrying", error=error)
        log.info("cancelled own offers", count=len(result.cancelled))


def serve(config: BotConfig) -> int:
    """Everything `otcmm run` does, from the config to the exit code."""
    configure_logging(config.runtime.log_format, config.runtime.log_level)
    structlog.contextvars.bind_contextvars(bot=config.name)
    metrics = BotMetrics()
    health = _start_health(config, metrics)
    account = unlock_account(config)
    log.info("starting", address=account.address, strategy=config.strategy.name)
    process = build(config, account, metrics)
    service = Service(process, health)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, service.request_stop)
    try:
        return service.run()
    finally:
        if health:
            health.stop()


def _start_health(config: BotConfig, metrics: BotMetrics) -> HealthServer | None:
    port = config.runtime.metrics_port
    if port is None:
        return None
    # A tick may legitimately take a receipt timeout or two; only a loop silent for longer
    # than that is wedged and worth a restart.
    liveness = 3 * (config.tick_interval_s + config.runtime.receipt_timeout_s)
    health = HealthServer(
        metrics, host=config.runtime.metrics_host, port=port, liveness_timeout_s=liveness
    ).start()
    health.set_ready(False, "starting")
    log.info("metrics and probes listening", url=health.url)
    return health
