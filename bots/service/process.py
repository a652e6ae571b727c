"""The bot process from start to exit: checks, crash recovery, then the loop (`loop.py`).

Start-up order matters: SIGTERM/SIGINT handlers come first (`signals`: a signal during start-up
ends it at once, exit 0, nothing quoted); the account lock, the kill switch and the price anchor
(`anchor`) are checked before anything is read from the chain; journaled transactions of a
previous run are rebroadcast and settled before the first tick reads the book. Kubernetes sends
SIGTERM on every rollout, so shutdown is a normal path: the running tick finishes, every own
offer is cancelled and the bot confirms on chain that none is left before it exits 0. A bot
killed harder loses nothing either: its next start rebuilds everything from the chain after
the journal settles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import structlog
from eth_account.signers.local import LocalAccount

from bots.chain.journal import TxJournal
from bots.chain.restart import rebroadcast, wait_until_idle
from bots.chain.rpc import RetryingHTTPProvider, check_connection, connect
from bots.chain.transactor import Transactor, TxEvent
from bots.errors import ChainError, ConfigError
from bots.feeds.sources import FallbackFeed, PriceFeed
from bots.feeds.spec import feed_from_spec
from bots.market.client import MarketClient
from bots.market.deployment import load_deployment, verify_on_chain
from bots.market.probe import require_market
from bots.market.tokens import load_token
from bots.service.anchor import PriceAnchorFile
from bots.service.config import BotConfig
from bots.service.health import HealthServer
from bots.service.journalguard import GuardedJournal
from bots.service.logs import configure_logging
from bots.service.loop import BotProcess, Service
from bots.service.metrics import BotMetrics
from bots.service.preflight import preflight
from bots.service.signals import StartupInterrupted, StopSignal
from bots.service.state import KillSwitchFile, account_lock, journal_lock, state_dir
from bots.tick.executor import Executor
from bots.tick.runner import Bot
from bots.tick.snapshot import ChainView
from strategies.api import LiveOffer

log = structlog.get_logger("otcmm.service")


@dataclass(frozen=True)
class AnchorStart:
    """The price anchor a run starts from (None: the first sane reading), why, and its file."""

    price: Decimal | None
    origin: str
    file: PriceAnchorFile


def build(
    config: BotConfig,
    account: LocalAccount,
    metrics: BotMetrics,
    kill_switch: KillSwitchFile,
    anchor: AnchorStart,
) -> BotProcess:
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
    runtime = config.runtime
    journal = None
    if runtime.journal:
        # resolved: the journal's rewrite replaces the file it names, so a symlink would
        # turn into a file of its own, no longer the one the lock (`journal_lock`) guards
        journal = GuardedJournal(TxJournal(runtime.journal.resolve(), runtime.journal_max_bytes))
    transactor = Transactor(
        w3,
        account,
        receipt_timeout_s=config.runtime.receipt_timeout_s,
        gas_price_cap_wei=config.risk.max_gas_price_wei,
        stuck_after_s=config.runtime.stuck_after_s,
        on_event=_tx_observer(metrics, journal),
        fee_ttl_s=1.0,  # one fee lookup serves all of a tick's transactions
        strict_nonces=True,  # a transaction we did not sign stops the bot
    )
    market = MarketClient(w3, config.market, transactor)
    _require_contracts(config, market)
    base = load_token(market, config.base, config.base_decimals)
    quote = load_token(market, config.quote, config.quote_decimals)
    view = ChainView(market, base, quote, account.address, config.fleet)
    bot = Bot(
        view=view,
        strategy=config.build_strategy(),
        feed=_feed(config, view),
        executor=Executor(market),
        limits=config.risk,
        tolerance=config.reconcile.tolerance(),
        metrics=metrics,
        price_anchor=anchor.price,
        anchor_origin=anchor.origin,
        on_anchor=anchor.file.save,
        external_stops=journal.stops if journal is not None else None,
    )
    if journal is not None:
        _recover(transactor, journal)
    else:
        _settle_pending(transactor)
    return BotProcess(config, bot, transactor, kill_switch)


def _feed(config: BotConfig, view: ChainView) -> PriceFeed:
    def book() -> tuple[list[LiveOffer], list[LiveOffer]]:
        return view.last_book

    feeds = [
        feed_from_spec(spec, base=view.base, quote=view.quote, book=book)
        for spec in (config.feed, *config.fallback_feeds)
    ]
    return FallbackFeed(
        feeds, max_age_s=config.risk.feed_max_age_s, max_skew_s=config.risk.max_feed_skew_s
    )


def _require_contracts(config: BotConfig, market: MarketClient) -> None:
    """`ChainError` (one line, exit 4) unless the deployment file matches the chain and the
    market address holds an OtcMarket (tokens are checked as they load)."""
    if config.deployment is not None:
        deployment = load_deployment(config.deployment)
        if deployment is not None:
            verify_on_chain(market.w3, deployment, config.deployment)
    require_market(market)


def _tx_observer(metrics: BotMetrics, journal: GuardedJournal | None) -> Callable[[TxEvent], None]:
    """The transactor's event hook: metrics, and the journal (whose write failures become the
    `journal` safety stop instead of failing the send: a cancel must always go out)."""

    def observe(event: TxEvent) -> None:
        if event.kind == "signed":
            if journal is not None and event.raw_tx is not None:
                journal.sent(event.nonce, event.tx_hash, event.raw_tx, event.label)
        elif event.kind in ("sent", "replaced"):
            metrics.tx_sent(event.label)
        elif event.kind == "rebroadcast":
            pass  # the node had forgotten it; the journal already holds it
        elif event.kind == "mined":
            metrics.tx_mined(event.label, event.gas_used or 0)
            if journal is not None:
                journal.done(event.tx_hash, used_nonce=event.nonce)
        else:
            metrics.tx_failed(event.label, event.reason or "unknown")
            if event.gas_used:
                metrics.tx_mined(event.label, event.gas_used)  # a revert's gas is paid too
            if journal is not None:  # mined and reverted: its nonce is used; refused: not
                journal.done(event.tx_hash, used_nonce=event.nonce if event.gas_used else None)
        structlog.get_logger("otcmm.tx").debug(
            "tx " + event.kind,
            label=event.label,
            tx_hash=event.tx_hash,
            nonce=event.nonce,
            reason=event.reason,
        )

    return observe


def _recover(transactor: Transactor, journal: GuardedJournal) -> None:
    """Rebroadcast what a previous run signed but the chain has not seen, then let it settle."""
    chain_nonce = int(transactor.w3.eth.get_transaction_count(transactor.address, "latest"))
    for entry in journal.journal.open_entries(chain_nonce):
        log.info("rebroadcasting journaled transaction", tx_hash=entry.tx_hash, nonce=entry.nonce)
        rebroadcast(transactor, entry.raw_tx)
    _settle_pending(transactor)
    journal.compact()


def _settle_pending(transactor: Transactor) -> None:
    """Wait until no transaction of ours is pending, so the first snapshot sees its effects."""
    if transactor.pending_count():
        log.info("waiting for pending transactions of a previous run")
        if not wait_until_idle(transactor, transactor.receipt_timeout_s):
            raise ChainError("transactions of a previous run are still pending; not starting")
    transactor.resync_nonce()


def serve(
    config: BotConfig,
    *,
    clear_kill_switch: bool = False,
    reset_price_anchor: bool = False,
    restore_signals: bool = True,
) -> int:
    """Everything `otcmm run` does, from the config to the exit code. `restore_signals`:
    give SIGTERM/SIGINT/SIGHUP back to the caller's handlers after (else ignore late ones)."""
    configure_logging(config.runtime.log_format, config.runtime.log_level)
    structlog.contextvars.bind_contextvars(bot=config.name)
    stop = StopSignal()
    with stop.installed(restore=restore_signals):
        try:
            return _serve(config, stop, clear_kill_switch, reset_price_anchor)
        except StartupInterrupted as exc:
            log.info(
                "stopped during start-up, before the first tick: nothing quoted", signal=str(exc)
            )
            return 0


def _serve(config: BotConfig, stop: StopSignal, clear_kill_switch: bool, reset: bool) -> int:
    account = preflight(config)  # the key tells the address: a keystore need not record it
    address = account.address
    directory = state_dir(config.runtime.state_dir, config.runtime.journal)
    locks = [account_lock(directory, address).acquire()]
    try:
        if config.runtime.journal is not None:
            locks.append(journal_lock(config.runtime.journal).acquire())
        kill_switch = KillSwitchFile(directory, address)
        kill_switch.check(clear=clear_kill_switch)
        anchor = _start_anchor(PriceAnchorFile(directory, address), reset)
        metrics = BotMetrics()
        health = _start_health(config, metrics)
        try:
            log.info("starting", address=account.address, strategy=config.strategy.name)
            process = build(config, account, metrics, kill_switch, anchor)
            service = Service(process, health, stopping=stop.event)
            stop.started()  # a signal from now on: finish the tick, pull every offer
            return service.run()
        finally:
            if health:
                health.stop()
    finally:
        for lock in reversed(locks):
            lock.release()


def _start_anchor(file: PriceAnchorFile, reset: bool) -> AnchorStart:
    """The anchor on record, or none (logged): a first start, or the operator's reset."""
    if reset:
        try:
            previous = str(file.load())
        except ConfigError:
            previous = "unreadable"
        log.warning(
            "price anchor reset by the operator: the next sane reading becomes the anchor",
            previous=previous,
        )
        return AnchorStart(None, "reset by the operator (--reset-price-anchor)", file)
    price = file.load()
    if price is None:
        log.warning("no price anchor on record: the first sane reading becomes the anchor")
        return AnchorStart(None, "no price anchor on record (first start)", file)
    log.info("price anchor loaded", price=str(price), path=str(file.path))
    return AnchorStart(price, "", file)


def _start_health(config: BotConfig, metrics: BotMetrics) -> HealthServer | None:
    port = config.runtime.metrics_port
    if port is None:
        return None
    # A tick blocks at most its budget; only a loop silent for a few of those is wedged and
    # worth a restart.
    liveness = 3 * (config.tick_interval_s + config.tick_budget_s())
    health = HealthServer(
        metrics, host=config.runtime.metrics_host, port=port, liveness_timeout_s=liveness
    ).start()
    health.set_ready(False, "starting")
    log.info("metrics and probes listening", address=health.bound)
    return health
