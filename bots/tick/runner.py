"""One bot tick: snapshot -> decide -> guard -> reconcile -> execute -> observe.

Each step is its own module; this one only wires them in order. The data flows one way: offers
are never remembered between ticks, so what the bot does is always a function of the chain as
it is now (plus the price feed and the price guard's anchor, which the service keeps on disk
through `on_anchor`), never of a memory that a crash could corrupt. Two things end a tick early:
a transaction of ours still pending from an earlier tick (nothing is read or sent until it
settles, since the book is about to change), and a transaction from this account that we did
not sign (`ForeignTransactionError` propagates: the service stops the bot).

Everything after the chain read is a protected path: a bug (any exception that is not an
`OtcmmError`) in the feed, the price guard, the P&L, the strategy or the quotes' encoding
pulls the bot's quotes. In the price and P&L part the tick then still raises, so it counts as
failed; `KillSwitchTripped` and the other `OtcmmError`s propagate to the service as they are.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog

from bots.errors import OtcmmError
from bots.feeds.sources import FeedError, PriceFeed, PriceReading
from bots.tick.executor import Execution, Executor
from bots.tick.limits import RiskLimits
from bots.tick.observer import TickMetrics
from bots.tick.pnl import PnlTracker
from bots.tick.priceguard import PriceGuard
from bots.tick.reconcile import Plan, Tolerance, reconcile
from bots.tick.report import TickReport, observe, pending_report
from bots.tick.risk import Conditions, Guarded, guard, plan_shortfall
from bots.tick.snapshot import ChainView, Observation
from strategies.api import Decision, Quote, Snapshot, Strategy, Take

log = structlog.get_logger("otcmm.bot")

__all__ = ["Bot", "TickReport"]


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
        price_anchor: Decimal | None = None,
        anchor_origin: str = "no price anchor on record",
        on_anchor: Callable[[Decimal], object] | None = None,
        external_stops: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        """`price_anchor`: the last accepted price of an earlier run (None: the first sane
        reading becomes the anchor, logged with `anchor_origin`); `on_anchor` is called with
        every new anchor (the service persists it); `external_stops` gives the safety stops
        raised outside the tick, `{reason: why}`, read once per tick."""
        self.view = view
        self.strategy = strategy
        self.feed = feed
        self.executor = executor
        self.limits = limits
        self.tolerance = tolerance
        self.metrics = metrics
        self.clock = clock
        self.ticks = 0
        self.last_offer_ids: tuple[int, ...] = ()  # own offers live after the last tick
        self.price_guard = PriceGuard(
            min_price=limits.min_price,
            max_price=limits.max_price,
            max_move_bps=limits.max_price_move_bps,
            max_jump_bps=limits.max_price_jump_bps,
            confirmations=limits.price_confirmations,
            confirm_s=limits.price_confirm_s,
            anchor=price_anchor,
            max_drift_bps=limits.max_price_drift_bps,
            drift_window_s=limits.price_drift_window_s,
        )
        self.anchor_origin = anchor_origin
        self.on_anchor = on_anchor
        self.external_stops = external_stops
        self.pnl = PnlTracker(limits.max_loss, limits.max_drawdown)

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
        failed = report.done.all_failed
        self.metrics.tick_finished(time.monotonic() - started, ok=True, txs_failed=failed)
        return report

    def _tick(self, tick: int) -> TickReport:
        held = self.executor.held_hashes()
        observation = self.view.read(tick, held)  # a held transaction's receipt rides along
        self.executor.check_nonce(observation.nonce)  # first: it may abandon a held one
        settled = Execution()
        if held:  # settled only when mined by the snapshot's block, which then shows it
            receipt = observation.held_receipt
            settled = self.executor.settle_held(known=receipt, polled=True)
            if settled.pending is not None:
                return pending_report(tick, settled.pending, self.metrics)
        self.executor.prime_fees(observation.fees)
        try:
            conditions, price = self._conditions(observation, self._read_feed())
            snapshot = observation.with_price(price)
            pnl = self.pnl.update(snapshot)
        except OtcmmError:
            raise
        except Exception as exc:  # a bug in the price or P&L path: pull, then count as failed
            self._pull(observation.snapshot, exc)
            raise
        decision, outcome = self._decide(snapshot)
        try:
            guarded = guard(decision, snapshot, self.limits, conditions)
            plan, takes = self._plan(guarded, snapshot)
            deadline = self._deadline(snapshot)
            offers = (*snapshot.bids, *snapshot.asks)
            execution = self.executor.execute(plan, takes, offers, deadline=deadline)
            self._keep_switch_alive(guarded, plan, execution, snapshot)
        except OtcmmError:
            raise
        except Exception as exc:  # building or encoding the quotes failed: pull them
            log.error("quotes could not be built; pulling them", error=f"{type(exc).__name__}")
            guarded = Guarded(Decision(reason="quote error"), {})
            plan, takes = Plan(keep=(), cancels=_cancel_all(snapshot), makes=()), ()
            execution = self.executor.execute(plan, ())
            outcome = "quote_error"
        self.last_offer_ids = _live_after(snapshot, execution)
        if guarded.stops:
            outcome = "safety_stop"
        elif plan.is_empty and not takes and outcome == "quote":
            outcome = "noop"
        report = TickReport(tick, outcome, plan, execution, guarded.stops, settled)
        if report.done.errors:  # one built on a book missing a log fails until a full read
            self.view.book.invalidate(f"a transaction failed: {report.done.errors[0]}")
        observe(report, snapshot, guarded, self.metrics, pnl)
        return report

    def _pull(self, snapshot: Snapshot, exc: Exception) -> None:
        """Cancel every own offer of `snapshot` after `exc` broke the tick (best effort)."""
        log.error("price or P&L check failed; pulling quotes", error=f"{type(exc).__name__}")
        cancels = _cancel_all(snapshot)
        if not cancels:
            return
        try:
            execution = self.executor.execute(Plan(keep=(), cancels=cancels, makes=()), ())
        except Exception as pull:  # noqa: BLE001 - the tick fails with the first error anyway
            log.error("pulling quotes failed", error=f"{type(pull).__name__}: {pull}")
            return
        self.last_offer_ids = _live_after(snapshot, execution)
        for error in execution.errors:
            log.error("pulling quotes failed", error=error)

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

    def _conditions(
        self, observation: Observation, reading: PriceReading | None
    ) -> tuple[Conditions, Decimal | None]:
        """The safety-stop facts and the price the strategy may use (None: none).

        A reading is fresh when it is at most `feed_max_age_s` old and at most
        `max_feed_skew_s` in the future; a fresh one must then pass the price guard.
        """
        price: Decimal | None = None
        stop: tuple[str, str] | None = None
        fresh = False
        if reading is not None:
            age = self.clock() - reading.observed_at
            fresh = -self.limits.max_feed_skew_s <= age <= self.limits.feed_max_age_s
        if fresh and reading is not None:
            anchor = self.price_guard.last
            check = self.price_guard.check(reading.price, self.clock())
            price = check.price
            if check.stop is not None:
                stop = (check.stop, check.reason)
            if check.first:
                log.warning(
                    "price anchor set from the feed", price=str(price), why=self.anchor_origin
                )
            if price is not None and price != anchor and self.on_anchor is not None:
                self.on_anchor(price)
        external = self.external_stops() if self.external_stops is not None else {}
        conditions = Conditions(
            feed_fresh=fresh,
            gas_price_wei=observation.gas_price_wei,
            native_balance_wei=observation.native_balance_wei,
            price_stop=stop,
            external=tuple(external.items()),
        )
        return conditions, price

    def _plan(self, guarded: Guarded, snapshot: Snapshot) -> tuple[Plan, tuple[Take, ...]]:
        if not guarded.may_send:
            return Plan(keep=snapshot.own_offers, cancels=(), makes=()), ()
        live = snapshot.own_offers
        unguarded: tuple[tuple[int, int], ...] = ()
        if self.limits.offer_ttl_s:  # offers without the switch are replaced
            live = tuple(o for o in snapshot.own_offers if o.guarded)
            unguarded = tuple((o.id, o.remaining) for o in snapshot.own_offers if not o.guarded)
        plan = reconcile(guarded.decision.quotes, live, self.tolerance)
        plan = dataclasses.replace(plan, cancels=plan.cancels + unguarded)
        if not guarded.may_add_risk:
            return Plan(keep=plan.keep, cancels=plan.cancels, makes=()), ()
        makes = _affordable(plan, snapshot)
        return dataclasses.replace(plan, makes=makes), guarded.decision.takes

    def _deadline(self, snapshot: Snapshot) -> int | None:
        """The dead-man's switch deadline for offers made now (None: switch not used)."""
        ttl = self.limits.offer_ttl_s
        return snapshot.timestamp + ttl if ttl else None

    def _keep_switch_alive(
        self, guarded: Guarded, plan: Plan, execution: Execution, snapshot: Snapshot
    ) -> None:
        """Refresh the switch when the kept offers are past half their time to live. Not in a
        safety stop or with a transaction pending: then the offers run out, as meant."""
        ttl = self.limits.offer_ttl_s
        kept = [offer for offer in plan.keep if offer.guarded]
        if not ttl or not kept or not guarded.may_add_risk or execution.pending:
            return
        if execution.refreshed is not None:
            return
        if min(offer.deadline for offer in kept) - snapshot.timestamp >= ttl // 2:
            return
        refresh = self.executor.refresh_deadline(snapshot.timestamp + ttl)
        execution.refreshed, execution.pending = refresh.refreshed, refresh.pending
        execution.errors += refresh.errors


def _affordable(plan: Plan, snapshot: Snapshot) -> tuple[Quote, ...]:
    """The plan's makes, least competitive dropped until the free balance plus what the
    plan's cancels release pays for them (kept offers keep their escrow)."""
    makes = list(plan.makes)
    while makes and plan_shortfall(makes, plan.cancels, snapshot):
        short = plan_shortfall(makes, plan.cancels, snapshot)
        worst = max(
            (q for q in makes if q.pay_token in short),
            key=lambda q: q.price if q.side == "ask" else -q.price,
        )
        makes.remove(worst)
        log.info("make dropped: the free balance cannot pay for it", side=worst.side)
    return tuple(makes)


def _live_after(snapshot: Snapshot, execution: Execution) -> tuple[int, ...]:
    """Own offer ids live once `execution` went through (a pending one: as before it)."""
    live = {offer.id for offer in snapshot.own_offers} - set(execution.cancelled)
    return tuple(sorted(live | set(execution.made)))


def _cancel_all(snapshot: Snapshot) -> tuple[tuple[int, int], ...]:
    return tuple((offer.id, offer.remaining) for offer in snapshot.own_offers)
