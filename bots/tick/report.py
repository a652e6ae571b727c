"""What a tick did, told twice: structlog lines for people, metrics for dashboards and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from bots.numbers import whole
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
    execution: Execution  # what this tick sent
    stops: dict[str, str] = field(default_factory=dict)
    settled: Execution = field(default_factory=Execution)  # an earlier tick's, mined by now

    @property
    def done(self) -> Execution:
        """What went through (or failed) during this tick: the settled held transaction's
        changes and errors, then this tick's own."""
        return self.execution.with_settled(self.settled)


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
    done = report.done
    for error in done.errors:
        log.error("transaction failed", error=error)
    if done.sent_anything or report.outcome != "noop":
        # A tick whose every transaction failed is a warning that says so ("result": "failed"),
        # not a "quote" with "made": 0.
        emit = log.warning if done.all_failed else log.info
        emit(
            "tick",
            outcome=report.outcome,
            result=_result(done),
            reference_price=str(snapshot.reference_price),
            made=len(done.made),
            cancelled=len(done.cancelled),
            taken=len(done.taken),
            kept=len(plan.keep),
            failed=len(done.errors),
            pending=done.pending,
            reason=guarded.decision.reason,
        )
    _note_idle(report, snapshot, guarded.decision.reason)


def _result(execution: Execution) -> str:
    """What became of the tick's transactions, in one word."""
    if execution.all_failed:
        return "failed"
    if execution.pending:
        return "pending"
    if execution.errors:
        return "partly failed"
    return "sent" if execution.sent_anything else "nothing to send"


IDLE_TICKS = 3  # idle ticks in a row before the one warning
_idle_ticks: dict[str, int] = {}  # per account: idle ticks in a row; -1 once warned


def _note_idle(report: TickReport, snapshot: Snapshot, reason: str | None) -> None:
    """Warn once per account and process when a bot has quoted nothing, held no offers and
    sent nothing for `IDLE_TICKS` ticks in a row (unfunded, or its strategy has nothing to
    do): such a bot would otherwise log nothing at all after "starting"."""
    account = snapshot.own_address.lower()
    seen = _idle_ticks.get(account, 0)
    if seen < 0:
        return
    idle = report.outcome == "noop" and not snapshot.own_offers and not report.plan.makes
    if not idle:
        _idle_ticks[account] = 0
        return
    if seen + 1 < IDLE_TICKS:
        _idle_ticks[account] = seen + 1
        return
    _idle_ticks[account] = -1
    tokens = (snapshot.base, snapshot.quote)
    held = {t.symbol: whole(snapshot.available(t), t.decimals) for t in tokens}
    log.warning(
        "idle: no quotes and no offers",
        ticks=IDLE_TICKS,
        reason=reason or "(the strategy gave none)",
        balances=held,
        reference_price=str(snapshot.reference_price),
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
