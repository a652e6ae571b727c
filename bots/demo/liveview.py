"""The demo's screen: book top, trades, volume and each bot's inventory, refreshed from chain.

On a terminal it redraws in place; in a log (CI, `make demo | tee`) it prints one compact block
per refresh so the run reads as a history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TextIO

from web3 import Web3

from bots.market.client import MarketClient
from bots.market.ledger import TradeTape, format_whole, holdings, tape
from bots.numbers import count
from strategies.api import LiveOffer
from strategies.money import Token, offer_price

CLEAR = "\x1b[H\x1b[J"


def _price(value: Fraction | Decimal | None, places: int = 4) -> str:
    if value is None:
        return "-"
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else value
    )
    return f"{exact:,.{places}f}"


class LiveView:
    """Keeps a running trade tape from `start_block` and renders the market on demand."""

    def __init__(
        self,
        market: MarketClient,
        base: Token,
        quote: Token,
        bots: Mapping[str, str],
        start_block: int,
        out: TextIO,
        others: Mapping[str, str] | None = None,
    ) -> None:
        self.market = market
        self.base, self.quote = base, quote
        self.bots = {name: Web3.to_checksum_address(a) for name, a in bots.items()}
        named = {**(others or {}), **self.bots}
        self.names: dict[str, str] = {Web3.to_checksum_address(a): n for n, a in named.items()}
        self.tape = TradeTape()
        self._next_block = start_block
        self.out = out
        self.redraw = out.isatty()

    def refresh(self, reference: Decimal | None) -> str:
        """Read what happened since the last refresh and print the screen; return its text."""
        head = int(self.market.w3.eth.block_number)
        if head >= self._next_block:
            fresh = tape(self.market.events(self._next_block, head), self.base, self.quote)
            _add(self.tape, fresh)
            self._next_block = head + 1
        text = self.render(head, reference)
        self.out.write((CLEAR if self.redraw else "") + text + "\n")
        self.out.flush()
        return text

    def render(self, block: int, reference: Decimal | None) -> str:
        bids, asks = self.market.book(self.base.address, self.quote.address)
        best_bid = max(bids, key=self._bid_price, default=None)
        best_ask = min(asks, key=self._ask_price, default=None)
        lines = [
            f"block {block}  reference {_price(reference)} {self.quote.symbol}  "
            f"bid {self._quote(best_bid, self._bid_price)}  "
            f"ask {self._quote(best_ask, self._ask_price)}"
            f"  ({count(len(bids), 'bid')}, {count(len(asks), 'ask')})",
            f"trades {self.tape.trades}  volume {format_whole(self.tape.base_volume, self.base)} "
            f"{self.base.symbol} / {format_whole(self.tape.quote_volume, self.quote)} "
            f"{self.quote.symbol}"
            f"  last {_price(self.tape.last_price)}",
        ]
        tokens = [self.base, self.quote]
        for name, address in self.bots.items():
            held = holdings(self.market, tokens, address)
            live = sum(1 for o in (*bids, *asks) if o.owner == address)
            lines.append(
                f"  {name:<14} {format_whole(held.tokens[self.base.address], self.base):>14} "
                f"{self.base.symbol}  "
                f"{format_whole(held.tokens[self.quote.address], self.quote):>16} "
                f"{self.quote.symbol}  offers {live}"
            )
        return "\n".join(lines)

    def _bid_price(self, offer: LiveOffer) -> Fraction:
        return offer_price(self.base, self.quote, offer.buy_amt, offer.pay_amt)

    def _ask_price(self, offer: LiveOffer) -> Fraction:
        return offer_price(self.base, self.quote, offer.pay_amt, offer.buy_amt)

    def _quote(self, offer: LiveOffer | None, price_of: Callable[[LiveOffer], Fraction]) -> str:
        if offer is None:
            return "-"
        owner = self.names.get(offer.owner, offer.owner[:8])
        return f"{_price(price_of(offer))} ({owner})"


def _add(total: TradeTape, fresh: TradeTape) -> None:
    total.trades += fresh.trades
    total.base_volume += fresh.base_volume
    total.quote_volume += fresh.quote_volume
    for taker, takes in fresh.by_taker.items():
        total.by_taker[taker] += takes
    if fresh.last_price is not None:
        total.last_price = fresh.last_price
