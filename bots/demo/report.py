"""The demo's final report: trades, volume, each bot's P&L and gas, and the conservation check.

Gas is shown in units, in wei paid (native coin: the network's 1 wei base fee plus the tip the
node suggested, per unit) and as the average price per unit, rounded down.

P&L is marked to the reference price at the end: what each bot holds (free + escrowed) valued
in the quote token, minus what it held at the start valued at the same price. So it measures
trading, not the drift of the reference itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bots.market.client import MarketClient
from bots.market.ledger import (
    ConservationResult,
    Holdings,
    TradeTape,
    conservation,
    format_whole,
    gas_used_by,
)
from bots.market.ledger import holdings as read_holdings
from bots.market.ledger import tape as fold_tape
from bots.numbers import decimal
from strategies.money import Token


@dataclass(frozen=True)
class DemoReport:
    base: Token
    quote: Token
    reference: Decimal
    start_block: int
    end_block: int
    holdings: Mapping[str, Holdings]
    trades: TradeTape
    gas: Mapping[str, tuple[int, int]]
    conservation: ConservationResult
    offers_left: Mapping[str, int]
    before: DemoReport | None = None

    def pnl(self, name: str) -> Decimal | None:
        """Change in marked value since the start, at this report's reference price."""
        if self.before is None:
            return None
        now = self.holdings[name].value(self.base, self.quote, self.reference)
        then = self.before.holdings[name].value(self.base, self.quote, self.reference)
        return now - then

    def render(self, exit_codes: Mapping[str, int | None] | None = None) -> str:
        base, quote = self.base, self.quote
        lines = [
            "== otcmm demo report ==",
            f"blocks {self.start_block}..{self.end_block}, reference price "
            f"{self.before.reference if self.before else '?'} -> {self.reference} {quote.symbol}",
            f"trades {self.trades.trades}, volume {format_whole(self.trades.base_volume, base)} "
            f"{base.symbol} / {format_whole(self.trades.quote_volume, quote)} {quote.symbol}",
            "",
            f"{'bot':<14} {'exit':>4} {'Δ ' + base.symbol:>14} {'Δ ' + quote.symbol:>16} "
            f"{'P&L ' + quote.symbol:>14} {'gas used':>12} {'gas paid (wei)':>25} "
            f"{'wei/gas':>13} {'offers left':>11}",
        ]
        for name in self.gas:
            lines.append(self._row(name, (exit_codes or {}).get(name)))
        lines.append("")
        lines.append("conservation check:")
        lines += [f"  {line}" for line in self.conservation.lines]
        lines.append("  => " + ("OK" if self.conservation.ok else "FAILED"))
        return "\n".join(lines)

    def _row(self, name: str, code: int | None) -> str:
        base, quote = self.base, self.quote
        now = self.holdings[name].tokens
        then = self.before.holdings[name].tokens if self.before else now
        d_base = now[base.address] - then[base.address]
        d_quote = now[quote.address] - then[quote.address]
        pnl = self.pnl(name)
        units, wei = self.gas[name]
        per_gas = f"{wei // units:,}" if units else "-"  # base fee + tip, rounded down
        return (
            f"{name:<14} {'-' if code is None else code:>4} {format_whole(d_base, base):>14} "
            f"{format_whole(d_quote, quote):>16} {'-' if pnl is None else decimal(pnl, 2):>14} "
            f"{units:>12,} {wei:>25,} {per_gas:>13} {self.offers_left[name]:>11}"
        )


def build_report(
    market: MarketClient,
    base: Token,
    quote: Token,
    bots: Mapping[str, str],
    initializer: str,
    start_block: int,
    reference: Decimal,
    before: DemoReport | None = None,
) -> DemoReport:
    """Read holdings, the trade tape, gas and conservation from chain into a report."""
    end_block = int(market.w3.eth.block_number)
    tokens = [base, quote]
    events = market.events(start_block, end_block) if end_block >= start_block else []
    return DemoReport(
        base=base,
        quote=quote,
        reference=reference,
        start_block=start_block,
        end_block=end_block,
        holdings={name: read_holdings(market, tokens, a) for name, a in bots.items()},
        trades=fold_tape(events, base, quote),
        gas=gas_used_by(market.w3, bots, start_block) if before else {n: (0, 0) for n in bots},
        conservation=conservation(market, tokens, [*bots.values(), initializer]),
        offers_left={name: len(market.owner_offers(a)) for name, a in bots.items()},
        before=before,
    )
