"""One tick's view of the chain: the book, own offers, balances, gas price and gas money.

Everything comes from the chain at one block height, every tick: a bot restarted at any moment
rebuilds exactly the state it had, so it cannot lose track of an offer or duplicate one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from web3.types import TxReceipt

from bots.addresses import checksum
from bots.chain.fees import Fees, fees_from_suggestion
from bots.chain.rawrpc import raw_request
from bots.chain.receipts import receipt_calls, receipt_from_answer
from bots.market.client import MarketClient, escrowed
from bots.market.pairbook import PairBook
from strategies.api import LiveOffer, Snapshot
from strategies.money import Token


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot without a reference price yet, plus what only the runner needs."""

    snapshot: Snapshot
    gas_price_wei: int
    native_balance_wei: int
    nonce: int  # transactions the bot's account has mined at the snapshot's block
    fees: Fees  # what a transaction sent now carries (a sender can reuse them this tick)
    held_receipt: TxReceipt | None = None  # of the `held` hashes read with it, if mined by then

    def with_price(self, price: Decimal | None) -> Snapshot:
        return dataclasses.replace(self.snapshot, reference_price=price)


class ChainView:
    """Reads the state one bot trades on: its pair's book and its own account."""

    def __init__(
        self,
        market: MarketClient,
        base: Token,
        quote: Token,
        owner: str,
        fleet: tuple[str, ...] = (),
        header: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """`header` gives the latest block's header (raw JSON-RPC fields) when something else
        already read it: a backtest reads it once for all the agents of a step."""
        self.market = market
        self.book = PairBook(market, base.address, quote.address)
        self._header = header
        self.base = base
        self.quote = quote
        self.owner = checksum(owner)
        self.fleet = frozenset(fleet)
        self.last_book: tuple[list[LiveOffer], list[LiveOffer]] = ([], [])

    def read(self, tick: int, held: Sequence[str] = ()) -> Observation:
        """Two round trips: the latest block's header, then one batch read at its height (the
        book from the market's logs since the last read; see `PairBook`). The receipts of
        `held` (the versions of a transaction still pending from an earlier tick) ride in the
        batch: `Observation.held_receipt` is the one mined at or before the snapshot's block.
        Raises `ChainError` for an error answer (a receipt's included)."""
        if self._header is not None:
            header = self._header()
        else:
            header = raw_request(self.market.w3, "eth_getBlockByNumber", ["latest", False])
        number = int(header["number"], 16)
        base_fee = header.get("baseFeePerGas")
        fee_method = "eth_gasPrice" if base_fee is None else "eth_maxPriorityFeePerGas"
        bids, asks, balances, native, nonce, suggestion, answers = self.book.read(
            self.owner, number, header=header, fee_method=fee_method, extra=receipt_calls(held)
        )
        self.last_book = (bids, asks)
        own = tuple(o for o in (*bids, *asks) if o.owner == self.owner)
        fees = fees_from_suggestion(None if base_fee is None else int(base_fee, 16), suggestion)
        snapshot = Snapshot(
            base=self.base,
            quote=self.quote,
            reference_price=None,
            block_number=number,
            timestamp=int(header["timestamp"], 16),
            own_address=self.owner,
            own_offers=own,
            bids=tuple(bids),
            asks=tuple(asks),
            balances=balances,
            escrowed=escrowed(own),
            fleet=self.fleet,
            tick=tick,
        )
        receipts = [receipt_from_answer(a, h) for a, h in zip(answers, held, strict=True)]
        receipt = _mined_by(number, receipts)
        return Observation(snapshot, fees.max_price, native, nonce, fees, receipt)

    def own_offers_anywhere(self) -> list[LiveOffer]:
        """Every live offer of this account on the market, on any pair (for a full clean-up)."""
        return self.market.owner_offers(self.owner)


def _mined_by(block: int, receipts: list[TxReceipt | None]) -> TxReceipt | None:
    """The receipt among `receipts` of a transaction mined at or before `block`, if any."""
    return next((r for r in receipts if r is not None and r["blockNumber"] <= block), None)
