"""Prometheus metrics for one bot, on a registry of its own.

A private `CollectorRegistry` (not prometheus_client's global one) lets tests and a multi-bot
process hold several `BotMetrics` side by side. Known label values are created up front so a
series exists at 0 before its first event, which keeps `rate()` and absence alerts honest.

Amounts and prices are exported as float: metrics are observations for dashboards and alerts,
never inputs to a transaction, so the rounding is harmless here and only here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bots.tick.report import OUTCOMES
from bots.tick.risk import STOP_REASONS

DECISION_OUTCOMES = OUTCOMES
SAFETY_STOP_REASONS = STOP_REASONS
_SIDES = ("bid", "ask")
_TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BotMetrics:
    """The runner's observations; each method is named after the event that triggers it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        reg = self.registry
        self._ticks = Counter("otcmm_ticks_total", "Ticks started.", registry=reg)
        self._tick_errors = Counter("otcmm_tick_errors_total", "Ticks that raised.", registry=reg)
        self._ticks_skipped = Counter(
            "otcmm_ticks_skipped_total",
            "Ticks that came due while the previous one still ran (not run).",
            registry=reg,
        )
        self._tick_tx_failures = Counter(
            "otcmm_tick_tx_failures_total",
            "Ticks that ran but whose every transaction failed (see otcmm_tx_failed_total).",
            registry=reg,
        )
        self._tick_duration = Histogram(
            "otcmm_tick_duration_seconds", "Tick wall time.", buckets=_TICK_BUCKETS, registry=reg
        )
        self._last_tick = Gauge(
            "otcmm_last_tick_timestamp_seconds", "Unix time the last tick ended.", registry=reg
        )
        self._decisions = Counter(
            "otcmm_decisions_total", "Strategy decisions by outcome.", ["outcome"], registry=reg
        )
        self._safety = Gauge(
            "otcmm_safety_stop", "1 while a safety stop is active.", ["reason"], registry=reg
        )
        self._tx_sent = Counter("otcmm_tx_sent_total", "Txs sent.", ["label"], registry=reg)
        self._tx_failed = Counter(
            "otcmm_tx_failed_total",
            "Txs reverted on chain or refused by the node, by why (reason: out_of_gas, refused,"
            " or the market's custom error).",
            ["label", "reason"],
            registry=reg,
        )
        self._tx_gas = Counter(
            "otcmm_tx_gas_used_total", "Gas used by mined txs.", ["label"], registry=reg
        )
        self._offers = Gauge("otcmm_live_offers", "Own live offers.", ["side"], registry=reg)
        self._inventory = Gauge(
            "otcmm_inventory", "Holdings in whole tokens.", ["token"], registry=reg
        )
        self._mtm = Gauge(
            "otcmm_mark_to_market_quote",
            "Holdings valued in quote tokens at the reference price.",
            registry=reg,
        )
        self._pnl = Gauge(
            "otcmm_pnl_quote",
            "Mark-to-market P&L since start in quote tokens (the kill switch watches it).",
            registry=reg,
        )
        self._reference = Gauge(
            "otcmm_reference_price", "Reference price; NaN when there is none.", registry=reg
        )
        self._rpc_calls = Counter("otcmm_rpc_calls_total", "JSON-RPC calls made.", registry=reg)
        self._init_labels()

    def _init_labels(self) -> None:
        for outcome in DECISION_OUTCOMES:
            self._decisions.labels(outcome=outcome)
        for reason in SAFETY_STOP_REASONS:
            self._safety.labels(reason=reason).set(0)
        for side in _SIDES:
            self._offers.labels(side=side).set(0)
        self._reference.set(math.nan)

    def tick_started(self) -> None:
        """Counted at the start, so a tick that wedges still shows up."""
        self._ticks.inc()

    def tick_finished(self, duration_s: float, ok: bool, txs_failed: bool = False) -> None:
        """Stamp the end time whether or not the tick succeeded. A tick that raised (`ok`
        false) and one whose transactions all failed are counted apart."""
        self._tick_duration.observe(duration_s)
        self._last_tick.set(self._clock())
        if not ok:
            self._tick_errors.inc()
        if txs_failed:
            self._tick_tx_failures.inc()

    def tick_skipped(self) -> None:
        self._ticks_skipped.inc()

    def decision(self, outcome: str) -> None:
        self._decisions.labels(outcome=outcome).inc()

    def set_safety_stops(self, active: Mapping[str, bool]) -> None:
        """Set every known reason (0 when absent); an unknown reason is exported, not dropped."""
        for reason in {*SAFETY_STOP_REASONS, *active}:
            self._safety.labels(reason=reason).set(1 if active.get(reason, False) else 0)

    def tx_sent(self, label: str) -> None:
        self._tx_sent.labels(label=label).inc()

    def tx_mined(self, label: str, gas_used: int) -> None:
        """Call for every mined tx, reverted ones included: their gas was paid too."""
        self._tx_gas.labels(label=label).inc(gas_used)

    def tx_failed(self, label: str, reason: str = "unknown") -> None:
        self._tx_failed.labels(label=label, reason=reason).inc()

    def set_book(self, bids: int, asks: int) -> None:
        self._offers.labels(side="bid").set(bids)
        self._offers.labels(side="ask").set(asks)

    def set_inventory(self, symbol: str, whole_tokens: Decimal) -> None:
        self._inventory.labels(token=symbol).set(float(whole_tokens))

    def set_mark_to_market(self, value_quote: Decimal) -> None:
        self._mtm.set(float(value_quote))

    def set_pnl(self, pnl_quote: Decimal | None) -> None:
        """None (no reference price this tick) leaves the last value in place."""
        if pnl_quote is not None:
            self._pnl.set(float(pnl_quote))

    def set_reference_price(self, price: Decimal | None) -> None:
        """None exports NaN: a stale last price would read as a live one on a dashboard."""
        self._reference.set(math.nan if price is None else float(price))

    def rpc_call(self) -> None:
        self._rpc_calls.inc()

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
