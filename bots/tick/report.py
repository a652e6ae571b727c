"""What a tick did, told twice: structlog lines for people, metrics for dashboards and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from bots.tick.executor import Execution
from bots.tick.observer import TickMetrics
from bots.tick.reconcile import Plan
from bots.tick.risk import Guarded
from strategies.api import Snapshot

log = structlog.get_logger("otcmm.bot")

OUTCOMES = (
    "quote",  # desired quotes sent or kept
    "noop",  # nothing to change
    "safety_stop",  # a stop held back new risk (see stops)
    "no_reference",  # no usable price: quotes pulled
    "strategy_error",  # the plug-in raised: quotes pulled
    "quote_error",  # building or encoding the quotes failed: quotes pulled
    "tx_pending",  # a transaction of an earlier tick is still pending: nothing read or sent
)


@dataclass(frozen=True, slots=True)
class TickReport:
    tick: int
    outcome: str  # one of OUTCOMES
    plan: Plan
    execution: Execution
    stops: dict[str, str] = field(default_factory=dict)


def pending_report(tick: int, pending: str, metrics: TickMetrics) -> TickReport:
    """A tick that only chased a transaction still pending from an earlier tick."""
    metrics.decision("tx_pending")
    log.info("tick", outcome="tx_pending", pending=pending)
    return TickReport(tick, "tx_pending", Plan((), (), ()), Execution(pending=pending))


def observe(
    report: TickReport,
    snapshot: Snapshot,
    guarded: Guarded,
    metrics: TickMetrics,
    pnl: Decimal | None,
) -> None:
    plan, execution = report.plan, report.execution
    metrics.decision(report.outcome)
    metrics.set_safety_stops({reason: True for reason in guarded.stops})
    metrics.set_reference_price(snapshot.reference_price)
    metrics.set_book(**_live_sides(snapshot, plan, execution))
    metrics.set_pnl(pnl)
    _observe_inventory(snapshot, metrics)
    for reason, why in guarded.stops.items():
        log.warning("safety stop: no new quotes", stop=reason, reason=why)
    for note in guarded.notes:
        log.info("risk limit applied", note=note)
    for error in execution.errors:
        log.error("transaction failed", error=error)
    if execution.sent_anything or report.outcome != "noop":
        log.info(
            "tick",
            outcome=report.outcome,
            reference_price=str(snapshot.reference_price),
            made=len(execution.made),
            cancelled=len(execution.cancelled),
            taken=len(execution.taken),
            kept=len(plan.keep),
            pending=execution.pending,
            reason=guarded.decision.reason,
        )


def _observe_inventory(snapshot: Snapshot, metrics: TickMetrics) -> None:
    holdings = {}
    for token in (snapshot.base, snapshot.quote):
        whole = Decimal(snapshot.available(token)).scaleb(-token.decimals)
        holdings[token.address] = whole
        metrics.set_inventory(token.symbol, whole)
    if snapshot.reference_price is not None:
        value = holdings[snapshot.base.address] * snapshot.reference_price
        metrics.set_mark_to_market(value + holdings[snapshot.quote.address])


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
