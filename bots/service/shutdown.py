"""Pulling every own offer at shutdown, whatever the node answers, until a deadline.

Shutdown is where a bot most needs to work and its node is most likely to misbehave (the
cluster is rolling, the node restarts). Every kind of failure is retried with backoff until the
deadline: transport errors and malformed answers (after the RPC client's own retries), a fill
racing a cancel (`UnexpectedRemaining`), nonce errors, a transaction of ours still pending.
Only the chain decides success: the bot re-reads its offers until none is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bots.chain.transactor import Transactor
from bots.numbers import count
from bots.tick.executor import Executor
from bots.tick.snapshot import ChainView
from strategies.api import LiveOffer

log = structlog.get_logger("otcmm.service")

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class Leftovers:
    """What shutdown could not pull: the offers last seen live, or None if it never read them."""

    offers: tuple[LiveOffer, ...] | None

    @property
    def clean(self) -> bool:
        return self.offers == ()

    def describe(self) -> str:
        if self.offers is None:
            return "could not read the offers from the node: some may still be live"
        ids = ", ".join(hex(offer.id) for offer in self.offers)
        return f"{count(len(self.offers), 'offer')} still live: {ids}"


def cancel_all(
    view: ChainView,
    executor: Executor,
    transactor: Transactor,
    timeout_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Leftovers:
    """Cancel every own offer on the market (any pair) and confirm on chain that none is left.

    Keeps trying until `timeout_s` has passed; each transaction waits at most what is left.
    """
    deadline = time.monotonic() + timeout_s
    backoff = FIRST_BACKOFF_S
    known: tuple[LiveOffer, ...] | None = None
    while True:
        left = deadline - time.monotonic()
        try:
            transactor.receipt_timeout_s = max(0.5, left)
            pending = executor.settle_held(wait_s=min(max(0.0, left), MAX_BACKOFF_S))
            known = tuple(view.own_offers_anywhere())
            if not known:
                return Leftovers(())
            if pending is None:
                result = executor.cancel_all(known)
                for error in result.errors:
                    log.warning("cancel failed; retrying", error=error)
                log.info("cancelled own offers", count=len(result.cancelled))
                if result.cancelled and not result.errors and result.pending is None:
                    backoff = FIRST_BACKOFF_S
                    continue  # confirm on chain right away
        except Exception as exc:  # noqa: BLE001 - any failure: try again until the deadline
            log.warning("cancel failed; retrying", error=f"{type(exc).__name__}: {exc}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Leftovers(known)
        sleep(min(backoff, remaining))
        backoff = min(2 * backoff, MAX_BACKOFF_S)
