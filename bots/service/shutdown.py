"""Pulling every own offer at shutdown, whatever the node answers, until a deadline.

Shutdown is where a bot most needs to work and its node is most likely to misbehave (the
cluster is rolling, the node restarts). Every kind of failure is retried with backoff until the
deadline: transport errors and malformed answers (after the RPC client's own retries), a fill
racing a cancel (`UnexpectedRemaining`), nonce errors, a transaction of ours still pending.
Only the chain decides success: the bot re-reads its offers until none is left.

Two bounds keep it honest. Every RPC call of the shutdown, retries included, ends by the
deadline (the provider's time budget, as for a tick), so a node that hangs cannot stretch
`shutdown_timeout_s`. And a gas-fee spike that leaves too little gas money for a batch of
cancels ("insufficient funds": a transaction must be able to pay its whole gas limit at the
max fee up front) halves the batch, down to one cancel per transaction, so what can be pulled
is pulled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog

from bots.chain.rpc import tick_budget
from bots.chain.transactor import Transactor
from bots.market.gas import MAX_ACTIONS_PER_TX
from bots.numbers import count
from bots.tick.executor import Executor
from bots.tick.snapshot import ChainView
from strategies.api import LiveOffer

log = structlog.get_logger("otcmm.service")

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
_NO_FUNDS = "insufficientfunds"  # "insufficient funds for gas * price + value" (geth, anvil,
# Parity/OpenEthereum), "InsufficientFunds" (Nethermind), compared without spaces or underscores


@dataclass(frozen=True)
class Leftovers:
    """What shutdown could not pull: the offers last seen live, or None if it never read them
    (then `last_seen`: the ids the bot's last tick left live, not confirmed since)."""

    offers: tuple[LiveOffer, ...] | None
    last_seen: tuple[int, ...] = ()

    @property
    def clean(self) -> bool:
        return self.offers == ()

    def describe(self) -> str:
        if self.offers is None:
            if not self.last_seen:
                return "could not read the offers from the node: some may still be live"
            return (
                "could not read the offers from the node; the last tick left "
                f"{count(len(self.last_seen), 'own offer')}, some may still be live: "
                + _ids(self.last_seen)
            )
        return f"{count(len(self.offers), 'offer')} still live: {_ids(o.id for o in self.offers)}"


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(hex(offer_id) for offer_id in ids)


def cancel_all(
    view: ChainView,
    executor: Executor,
    transactor: Transactor,
    timeout_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    last_known: Sequence[int] = (),
) -> Leftovers:
    """Cancel every own offer on the market (any pair) and confirm on chain that none is left.

    Keeps trying until `timeout_s` has passed; every RPC call and each transaction's wait end
    by then. `last_known`: the offer ids the bot's last tick left live, named if the node
    never answers.
    """
    with tick_budget(transactor.w3, timeout_s):
        left = _cancel_until(view, executor, transactor, timeout_s, sleep)
    if left.offers is None:
        return Leftovers(None, tuple(last_known))
    return left


def _cancel_until(
    view: ChainView,
    executor: Executor,
    transactor: Transactor,
    timeout_s: float,
    sleep: Callable[[float], None],
) -> Leftovers:
    deadline = time.monotonic() + timeout_s
    backoff = FIRST_BACKOFF_S
    batch = MAX_ACTIONS_PER_TX
    known: tuple[LiveOffer, ...] | None = None
    while True:
        left = deadline - time.monotonic()
        try:
            transactor.receipt_timeout_s = max(0.5, left)
            pending = executor.settle_held(wait_s=min(max(0.0, left), MAX_BACKOFF_S)).pending
            known = tuple(view.own_offers_anywhere())
            if not known:
                return Leftovers(())
            if pending is None:
                batch = min(batch, len(known))
                result = executor.cancel_all(known, batch=batch)
                for error in result.errors:
                    log.warning("cancel failed; retrying", error=error)
                log.info("cancelled own offers", count=len(result.cancelled))
                if batch > 1 and _lacks_funds(result.errors):
                    batch = _halve(batch)
                    continue  # a smaller transaction may fit the gas money: try at once
                if result.cancelled and not result.errors and result.pending is None:
                    backoff = FIRST_BACKOFF_S
                    continue  # confirm on chain right away
        except Exception as exc:  # noqa: BLE001 - any failure: try again until the deadline
            log.warning("cancel failed; retrying", error=f"{type(exc).__name__}: {exc}")
            if batch > 1 and _lacks_funds([str(exc)]):
                batch = _halve(batch)
                continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Leftovers(known)
        sleep(min(backoff, remaining))
        backoff = min(2 * backoff, MAX_BACKOFF_S)


def _lacks_funds(errors: Sequence[str]) -> bool:
    return any(_NO_FUNDS in error.lower().replace(" ", "").replace("_", "") for error in errors)


def _halve(batch: int) -> int:
    smaller = max(1, batch // 2)
    log.warning("not enough gas money for the cancel batch; halving it", batch=smaller)
    return smaller
