"""What a tick reports as it runs: the metrics interface the runner writes to.

The tick only knows this protocol; the service implements it with Prometheus
(`bots.service.metrics.BotMetrics`) and serves it, so the tick never imports the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol


class TickMetrics(Protocol):
    """Observations of one bot's ticks; each method is named after the event that calls it."""

    def tick_started(self) -> None: ...

    def tick_finished(self, duration_s: float, ok: bool, txs_failed: bool = False) -> None:
        """`ok`: the tick ran to the end; `txs_failed`: it sent and every transaction failed."""

    def tick_skipped(self) -> None:
        """A tick came due while the previous one was still running."""

    def decision(self, outcome: str) -> None: ...

    def set_safety_stops(self, active: Mapping[str, bool]) -> None: ...

    def set_reference_price(self, price: Decimal | None) -> None: ...

    def set_book(self, bids: int, asks: int) -> None: ...

    def set_inventory(self, symbol: str, whole_tokens: Decimal) -> None: ...

    def set_mark_to_market(self, value_quote: Decimal) -> None: ...

    def set_pnl(self, pnl_quote: Decimal | None) -> None: ...
