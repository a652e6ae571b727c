"""Mark-to-market P&L since the bot started, and the kill switch that watches it. Pure.

P&L is what the bot's holdings (free plus escrowed, base and quote) are worth now at the
reference price, minus what its holdings at the first priced tick are worth at the same price:
trading results, not the drift of the price itself. In whole quote tokens, exact (`Decimal`
from exact fractions, 28 significant digits). The kill switch trips when the P&L falls below
`-max_loss`, or `max_drawdown` below its best value so far.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from bots.errors import OtcmmError
from strategies.api import Snapshot


class KillSwitchTripped(OtcmmError):
    """The loss limit was reached: pull everything, stop, stay stopped until cleared (exit 7)."""

    exit_code = 7


class PnlTracker:
    """Remembers the holdings of the first priced tick and the best P&L since."""

    def __init__(self, max_loss: Decimal | None = None, max_drawdown: Decimal | None = None):
        self.max_loss = max_loss
        self.max_drawdown = max_drawdown
        self.start: tuple[int, int] | None = None  # (base units, quote units)
        self.peak = Decimal(0)

    def update(self, snapshot: Snapshot) -> Decimal | None:
        """The P&L at `snapshot` (None without a reference price); raises `KillSwitchTripped`."""
        price = snapshot.reference_price
        if price is None:
            return None
        base, quote = snapshot.available(snapshot.base), snapshot.available(snapshot.quote)
        if self.start is None:
            self.start = (base, quote)
        value = snapshot.base.whole(base - self.start[0]) * Fraction(price)
        value += snapshot.quote.whole(quote - self.start[1])
        pnl = Decimal(value.numerator) / Decimal(value.denominator)
        self.peak = max(self.peak, pnl)
        if self.max_loss is not None and pnl < -self.max_loss:
            raise KillSwitchTripped(
                f"kill switch: P&L {pnl:.6f} {snapshot.quote.symbol} is below -max_loss "
                f"{self.max_loss}"
            )
        if self.max_drawdown is not None and self.peak - pnl > self.max_drawdown:
            raise KillSwitchTripped(
                f"kill switch: P&L {pnl:.6f} {snapshot.quote.symbol} is more than max_drawdown "
                f"{self.max_drawdown} below its peak {self.peak:.6f}"
            )
        return pnl
