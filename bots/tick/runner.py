"""One bot tick: snapshot -> decide -> guard -> reconcile -> execute -> observe.

Each step is its own module; this one only wires them in order and reports. The data flows one
way: nothing here remembers offers between ticks, so what the bot does is always a function of
the chain as it is now (plus the price feed), never of a memory that a crash could corrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from bots.feeds.sources import FeedError, PriceFeed, PriceReading
from bots.tick.executor import Execution, Executor
from bots.tick.limits import RiskLimits
from bots.tick.observer import TickMetrics
from bots.tick.reconcile import Plan, Tolerance, reconcile
from bots.tick.risk import Conditions, Guarded, guard
from bots.tick.snapshot import ChainView, Observation
from strategies.api import Decision, Snapshot, Strategy

log = structlog.get_logger("otcmm.bot")


@dataclass(frozen=True, slots=True)
class TickReport:
    tick: int
    outcome: str  # "quote", "noop", "safety_stop", "no_reference", "strategy_error"
    plan: Plan
    execution: Execution
    stops: dict[str, str]


class Bot:
    """Everything one bot needs for a tick; built once by the service, then ticked."""

    def __init__(
        self,
        *,
        view: ChainView,
        strategy: Strategy[Any],
        feed: PriceFeed,
        executor: Executor,
        limits: RiskLimits,
        tolerance: Tolerance,
        metrics: TickMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.view = view
        self.strategy = strategy
        self.feed = feed
        self.executor = executor
        self.limits = limits
        self.tolerance = tolerance
        self.metrics = metrics
        self.clock = clock
        self.ticks = 0

    def tick(self) -> TickReport:
        self.ticks += 1
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(tick=self.ticks)
        self.metrics.tick_started()
        try:
            report = self._tick(self.ticks)
        except Exception:
            self.metrics.tick_finished(time.monotonic() - started, ok=False)
            raise
        finally:
            structlog.contextvars.unbind_contextvars("tick")
        self.metrics.tick_finished(time.monotonic() - started, ok=not report.execution.errors)
        return report

    def _tick(self, tick: int) -> TickReport:
        observation = self.view.read(tick)
        reading = self._read_feed()
        conditions = self._conditions(observation, reading)
        # A stale price is no price: the strategy must not quote around it.
        price = reading.price if reading is not None and conditions.feed_fresh else None
        snapshot = observation.with_price(price)
        decision, outcome = self._decide(snapshot)
        guarded = guard(decision, snapshot, self.limits, conditions)
        plan, takes = self._plan(guarded, snapshot)
        if guarded.stops:
            outcome = "safety_stop"
        elif plan.is_empty and not takes and outcome == "quote":
            outcome = "noop"
        execution = self.executor.execute(plan, takes, (*snapshot.bids, *snapshot.asks))
        self._observe(snapshot, guarded, plan, execution, outcome)
        return TickReport(tick, outcome, plan, execution, guarded.stops)

    def _read_feed(self) -> PriceReading | None:
        try:
            return self.feed.read()
        except FeedError as exc:
            log.warning("price feed unavailable", reason=str(exc))
            return None

    def _decide(self, snapshot: Snapshot) -> tuple[Decision, str]:
        try:
            decision = self.strategy.decide(snapshot)
        except Exception as exc:  # a plug-in bug must not leave stale quotes standing
            log.error("strategy failed; pulling quotes", error=f"{type(exc).__name__}: {exc}")
            return Decision(reason="strategy error"), "strategy_error"
        if snapshot.reference_price is None and not decision.quotes and not decision.takes:
            return decision, "no_reference"
        return decision, "quote"

    def _conditions(self, observation: Observation, reading: PriceReading | None) -> Conditions:
        fresh = reading is not None and self.clock() - reading.observed_at <= (
            self.limits.feed_max_age_s
        )
        return Conditions(
            feed_fresh=fresh,
            gas_price_wei=observation.gas_price_wei,
            native_balance_wei=observation.native_balance_wei,
        )

    def _plan(self, guarded: Guarded, snapshot: Snapshot) -> tuple[Plan, tuple[Any, ...]]:
        if not guarded.may_send:
            return Plan(keep=snapshot.own_offers, cancels=(), makes=()), ()
        plan = reconcile(guarded.decision.quotes, snapshot.own_offers, self.tolerance)
        if not guarded.may_add_risk:
            return Plan(keep=plan.keep, cancels=plan.cancels, makes=()), ()
        return plan, guarded.decision.takes

    def _observe(
        self,
        snapshot: Snapshot,
        guarded: Guarded,
        plan: Plan,
        execution: Execution,
        outcome: str,
    ) -> None:
        metrics = self.metrics
        metrics.decision(outcome)
        metrics.set_safety_stops({reason: True for reason in guarded.stops})
        metrics.set_reference_price(snapshot.reference_price)
        metrics.set_book(**_live_sides(snapshot, plan, execution))
        self._observe_inventory(snapshot)
        for reason, why in guarded.stops.items():
            log.warning("safety stop: no new quotes", stop=reason, reason=why)
        for note in guarded.notes:
            log.info("risk limit applied", note=note)
        for error in execution.errors:
            log.error("transaction failed", error=error)
        if execution.sent_anything or outcome != "noop":
            log.info(
                "tick",
                outcome=outcome,
                reference_price=str(snapshot.reference_price),
                made=len(execution.made),
                cancelled=len(execution.cancelled),
                taken=len(execution.taken),
                kept=len(plan.keep),
                reason=guarded.decision.reason,
            )

    def _observe_inventory(self, snapshot: Snapshot) -> None:
        holdings = {}
        for token in (snapshot.base, snapshot.quote):
            whole = Decimal(snapshot.available(token)).scaleb(-token.decimals)
            holdings[token.address] = whole
            self.metrics.set_inventory(token.symbol, whole)
        if snapshot.reference_price is not None:
            value = holdings[snapshot.base.address] * snapshot.reference_price
            self.metrics.set_mark_to_market(value + holdings[snapshot.quote.address])


def _live_sides(snapshot: Snapshot, plan: Plan, execution: Execution) -> dict[str, int]:
    """Own offers by side after this tick: the plan's result if the requote went through."""
    quote_token = snapshot.quote.address
    applied = len(execution.made) == len(plan.makes) and len(execution.cancelled) == len(
        plan.cancels
    )
    if applied:
        bids = sum(1 for o in plan.keep if o.pay_token == quote_token)
        bids += sum(1 for q in plan.makes if q.side == "bid")
        total = len(plan.keep) + len(plan.makes)
    else:
        bids = sum(1 for o in snapshot.own_offers if o.pay_token == quote_token)
        total = len(snapshot.own_offers)
    return {"bids": bids, "asks": total - bids}
