"""One pair's book, read in full now and then and kept current from the market's logs between.

Reading a book through the market's views costs one `eth_call` per 200 offers and decoding
every offer: fine for a few hundred, not for 10,000 offers every second. So a bot reads the
book in full at start and every `full_read_every` reads, and in between asks only for the
market's logs since its last read, in the same batch as its balances (`MarketClient
.account_view`), and folds them in (`bots.market.book.apply_events`). The chain stays the
source of truth: a full read replaces whatever the logs built, and one is also made whenever the
chain went backwards, the block the book was last read at is no longer on the chain (a reorg, a
reverted dev chain: its hash is checked each read, from the new header or in the same batch),
too many blocks passed to ask logs for, or the caller distrusts the book (`invalidate`: a
transaction of the bot failed, as one built on a book missing a log would).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import structlog

from bots.addresses import checksum
from bots.artifacts import load_artifact
from bots.errors import ChainError
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
        self._hash: str | None = None  # of `_block`, when the caller gave it
        self._since_full = 0
        self._distrust: str | None = None  # why the next read is a full one

    def invalidate(self, why: str) -> None:
        """Read the book in full next time: `why` (logged) says what made it doubtful."""
        if self._offers is not None and self._distrust is None:
            self._distrust = why

    def read(
        self,
        owner: str,
        block: int,
        *,
        header: dict[str, Any] | None = None,
        fee_method: str | None = None,
        extra: Sequence[tuple[str, list[Any]]] = (),
    ) -> PairView:
        """The pair's bids and asks and `owner`'s account at `block` (see `PairView`); `extra`
        calls ride in the same batch (their answers in `PairView.extra`). `header`: the raw
        header of `block` (its `hash` and `parentHash` check the book's last block is still
        on the chain without a call of their own)."""
        view = (
            None
            if self._full_read_due(block)
            else self._follow(owner, block, fee_method, extra, header)
        )
        if view is None:
            view = self.market.pair_view(
                self.base, self.quote, owner, block, fee_method=fee_method, extra=extra
            )
            self._reset({o.id: o for o in (*view.bids, *view.asks)}, block)
        known = None if header is None else header.get("hash")
        self._hash = known if isinstance(known, str) else None
        return view

    def _follow(
        self,
        owner: str,
        block: int,
        fee_method: str | None,
        extra: Sequence[tuple[str, list[Any]]] = (),
        header: dict[str, Any] | None = None,
    ) -> PairView | None:
        """Fold the logs since the last read into the book; the account read in the same batch.
        None when the book's last block is no longer on the chain (then only a full read helps)."""
        assert self._offers is not None  # noqa: S101 - a full read came first
        check = self._hash_check(block, header)
        if check is False:
            self._orphaned()
            return None
        logs_from = self._block + 1 if block > self._block else None
        calls = (
            [*extra, ("eth_getBlockByNumber", [hex(self._block), False])]
            if check is None
            else list(extra)
        )
        try:
            account = self.market.account_view(
                self.base, self.quote, owner, block, fee_method=fee_method, logs_from=logs_from,
                extra=calls,
            )  # fmt: skip
        except ChainError as exc:
            if logs_from is None:
                raise
            # A node that refuses the logs ("more than 10000 results", a pruned index) would
            # fail every tick, each asking for a longer range: read the book whole instead.
            log.warning(
                "the node refused the market's logs; reading the book in full", error=str(exc)
            )
            self._offers = None
            return None
        answers = account.extra
        if check is None:  # the last answer is the book's last block, by number
            answers, last = answers[:-1], answers[-1]
            if not isinstance(last, dict) or _hash_of(last.get("result")) != self._hash:
                self._orphaned()
                return None
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
            answers,
        )

    def _hash_check(self, block: int, header: dict[str, Any] | None) -> bool | None:
        """Whether `header` shows the book's last block still on the chain (True/False), or
        None when it cannot tell (then the batch asks for that block's hash)."""
        if self._hash is None or header is None:
            return True if self._hash is None else None
        key = "hash" if block == self._block else "parentHash" if block == self._block + 1 else None
        seen = None if key is None else header.get(key)
        return None if not isinstance(seen, str) else seen == self._hash

    def _orphaned(self) -> None:
        log.warning(
            "the block the book was read at is no longer on the chain (a reorg); re-read in full",
            block=self._block,
        )
        self._offers = None  # nothing of it can be trusted: no comparison with a full read

    def _full_read_due(self, block: int) -> bool:
        if self._distrust is not None:
            log.info("reading the book in full", why=self._distrust)
            self._distrust, self._offers = None, None  # distrusted: no comparison, no extra call
            return True
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
            if (
                followed is not None
                and {o.id: o for o in (*followed.bids, *followed.asks)} != offers
            ):
                log.warning("the book built from logs differed from the chain; re-read in full")
        self._offers, self._block, self._since_full = offers, block, 0

    def _ours(self, event: MarketEvent | SwitchEvent) -> bool:
        """Trading events of this pair (either direction) and every switch event."""
        if isinstance(event, SwitchEvent):
            return True
        return {event.pay_token, event.buy_token} == {self.base, self.quote}


def _hash_of(block: object) -> str | None:
    return str(block["hash"]) if isinstance(block, dict) and "hash" in block else None
