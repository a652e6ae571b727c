"""One pair's book, read in full now and then and kept current from the market's logs between.

Reading a book through the market's views costs one `eth_call` per 200 offers and decoding
every offer: fine for a few hundred, not for 10,000 offers every second. So a bot reads the
book in full at start and every `full_read_every` reads, and in between asks only for the
market's logs since its last read, in the same batch as its balances (`MarketClient
.account_view`), and folds them in (`bots.market.book.apply_events`). The chain stays the
source of truth: a full read replaces whatever the logs built, and one is also made whenever the
chain went backwards (a reorg, a reset dev chain) or too many blocks passed to ask logs for.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import structlog

from bots.addresses import checksum
from bots.artifacts import load_artifact
from bots.market.book import apply_events
from bots.market.client import MarketClient, PairView
from bots.market.events import MarketEvent, RawLogDecoder, SwitchEvent
from strategies.api import LiveOffer

log = structlog.get_logger("otcmm.book")

FULL_READ_EVERY = 300  # reads: about five minutes of one-second ticks
MAX_LOG_BLOCKS = 1_000  # a longer gap reads the book in full rather than ask for its logs


@functools.cache
def market_log_decoder() -> RawLogDecoder:
    """One decoder of the market's logs per process: the books of a backtest's agents decode
    the same logs, and the decoder remembers what it decoded."""
    return RawLogDecoder(load_artifact("OtcMarket").abi)


class PairBook:
    """The offers of `base`/`quote` in both directions, as of the last block read."""

    def __init__(
        self,
        market: MarketClient,
        base: str,
        quote: str,
        *,
        full_read_every: int = FULL_READ_EVERY,
    ) -> None:
        self.market = market
        self.base, self.quote = checksum(base), checksum(quote)
        self.full_read_every = full_read_every
        self._decoder = market_log_decoder()
        self._offers: dict[int, LiveOffer] | None = None
        self._block = -1
        self._since_full = 0

    def read(
        self,
        owner: str,
        block: int,
        *,
        fee_method: str | None = None,
        extra: Sequence[tuple[str, list[Any]]] = (),
    ) -> PairView:
        """The pair's bids and asks and `owner`'s account at `block` (see `PairView`); `extra`
        calls ride in the same batch (their answers in `PairView.extra`)."""
        if self._full_read_due(block):
            view = self.market.pair_view(
                self.base, self.quote, owner, block, fee_method=fee_method, extra=extra
            )
            self._reset({o.id: o for o in (*view.bids, *view.asks)}, block)
            return view
        return self._follow(owner, block, fee_method, extra)

    def _follow(
        self,
        owner: str,
        block: int,
        fee_method: str | None,
        extra: Sequence[tuple[str, list[Any]]] = (),
    ) -> PairView:
        """Fold the logs since the last read into the book; the account read in the same batch."""
        assert self._offers is not None  # noqa: S101 - a full read came first
        logs_from = self._block + 1 if block > self._block else None
        account = self.market.account_view(
            self.base, self.quote, owner, block, fee_method=fee_method, logs_from=logs_from,
            extra=extra,
        )  # fmt: skip
        if account.logs:
            events = [e for e in self._decoder.decode(account.logs) if self._ours(e)]
            self._offers = apply_events(self._offers, events)
        self._block, self._since_full = block, self._since_full + 1
        bids = [o for o in self._offers.values() if o.pay_token == self.quote]
        asks = [o for o in self._offers.values() if o.pay_token == self.base]
        return PairView(
            bids,
            asks,
            account.balances,
            account.native_wei,
            account.nonce,
            account.fee_suggestion,
            account.extra,
        )

    def _full_read_due(self, block: int) -> bool:
        return (
            self._offers is None
            or block < self._block
            or block - self._block > MAX_LOG_BLOCKS
            or self._since_full >= self.full_read_every
        )

    def _reset(self, offers: dict[int, LiveOffer], block: int) -> None:
        """Take a full read; first, if the logs could have brought the book to `block` too,
        check they did (a difference is a bug or a reorg: the full read wins either way)."""
        if self._offers is not None and self._block < block <= self._block + MAX_LOG_BLOCKS:
            followed = self._follow(self.market.market_address, block, None)
            if {o.id: o for o in (*followed.bids, *followed.asks)} != offers:
                log.warning("the book built from logs differed from the chain; re-read in full")
        self._offers, self._block, self._since_full = offers, block, 0

    def _ours(self, event: MarketEvent | SwitchEvent) -> bool:
        """Trading events of this pair (either direction) and every switch event."""
        if isinstance(event, SwitchEvent):
            return True
        return {event.pay_token, event.buy_token} == {self.base, self.quote}
