"""One tick's view of the chain: the book, own offers, balances, gas price and gas money.

Everything comes from the chain at one block height, every tick: a bot restarted at any moment
rebuilds exactly the state it had, so it cannot lose track of an offer or duplicate one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from web3 import Web3

from bots.chain.fees import fees_for_base_fee
from bots.market.client import MarketClient, escrowed
from strategies.api import LiveOffer, Snapshot
from strategies.money import Token


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot without a reference price yet, plus what only the runner needs."""

    snapshot: Snapshot
    gas_price_wei: int
    native_balance_wei: int
    nonce: int  # transactions the bot's account has mined at the snapshot's block

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
    ) -> None:
        self.market = market
        self.base = base
        self.quote = quote
        self.owner = Web3.to_checksum_address(owner)
        self.fleet = frozenset(fleet)
        self.last_book: tuple[list[LiveOffer], list[LiveOffer]] = ([], [])

    def read(self, tick: int) -> Observation:
        w3 = self.market.w3
        block = w3.eth.get_block("latest")
        number = int(block["number"])
        bids, asks, balances, native, nonce = self.market.pair_view(
            self.base.address, self.quote.address, self.owner, number
        )
        self.last_book = (bids, asks)
        own = tuple(o for o in (*bids, *asks) if o.owner == self.owner)
        gas_price = fees_for_base_fee(w3, block.get("baseFeePerGas")).max_price
        snapshot = Snapshot(
            base=self.base,
            quote=self.quote,
            reference_price=None,
            block_number=number,
            timestamp=int(block["timestamp"]),
            own_address=self.owner,
            own_offers=own,
            bids=tuple(bids),
            asks=tuple(asks),
            balances=balances,
            escrowed=escrowed(own),
            fleet=self.fleet,
            tick=tick,
        )
        return Observation(snapshot, gas_price, native, nonce)

    def own_offers_anywhere(self) -> list[LiveOffer]:
        """Every live offer of this account on the market, on any pair (for a full clean-up)."""
        return self.market.owner_offers(self.owner)
