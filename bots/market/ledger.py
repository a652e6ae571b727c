"""Who holds what, what traded, and whether every token is accounted for — read from chain.

Used by the demo's live view and final report. The conservation check is the point: each
asset's total supply must equal what the known holders hold plus what the market escrows, and
the market must escrow exactly the remaining amounts of its live offers. A bot that lost a
token, or a contract that created one, fails it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from web3 import Web3

from bots.market.client import MarketClient, escrowed
from bots.market.events import MarketEvent
from bots.numbers import whole
from strategies.money import Token


@dataclass(frozen=True, slots=True)
class Holdings:
    """One account's tokens (free + escrowed, base units) and native balance (wei)."""

    tokens: Mapping[str, int]
    native_wei: int

    def value(self, base: Token, quote: Token, price: Decimal) -> Decimal:
        """Mark to market in whole quote tokens at `price` (report only, never sent)."""
        whole_base = Decimal(self.tokens.get(base.address, 0)).scaleb(-base.decimals)
        whole_quote = Decimal(self.tokens.get(quote.address, 0)).scaleb(-quote.decimals)
        return whole_base * price + whole_quote


@dataclass
class TradeTape:
    """Takes on one pair since a block: count and volume on both legs."""

    trades: int = 0
    base_volume: int = 0
    quote_volume: int = 0
    by_taker: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_price: Decimal | None = None


def format_whole(amount: int, token: Token) -> str:
    """Base units as whole tokens with thousands separators (display only, never sent)."""
    return whole(amount, token.decimals)


def holdings(market: MarketClient, tokens: Sequence[Token], owner: str) -> Holdings:
    """Free balance plus what `owner` has escrowed in live offers, for each token."""
    escrow = escrowed(market.owner_offers(owner))
    amounts = {
        t.address: market.balance_of(t.address, owner) + escrow.get(t.address, 0) for t in tokens
    }
    return Holdings(amounts, int(market.w3.eth.get_balance(Web3.to_checksum_address(owner))))


def tape(events: Sequence[MarketEvent], base: Token, quote: Token) -> TradeTape:
    """Fold `LogTake`s of the base/quote pair (either direction) into counts and volumes."""
    result = TradeTape()
    for event in events:
        if event.kind != "take":
            continue
        if (event.pay_token, event.buy_token) == (base.address, quote.address):
            base_amt, quote_amt = event.pay_amt, event.buy_amt  # an ask was lifted
        elif (event.pay_token, event.buy_token) == (quote.address, base.address):
            base_amt, quote_amt = event.buy_amt, event.pay_amt  # a bid was hit
        else:
            continue
        result.trades += 1
        result.base_volume += base_amt
        result.quote_volume += quote_amt
        if event.taker is not None:
            result.by_taker[event.taker] += 1
        if base_amt:
            whole_base = Decimal(base_amt).scaleb(-base.decimals)
            result.last_price = Decimal(quote_amt).scaleb(-quote.decimals) / whole_base
    return result


@dataclass(frozen=True, slots=True)
class ConservationResult:
    ok: bool
    lines: tuple[str, ...]


def conservation(
    market: MarketClient, tokens: Sequence[Token], holders: Sequence[str]
) -> ConservationResult:
    """Check, per token: supply = holders' free + market balance, and market = live escrow."""
    escrow = escrowed(market.all_offers())
    lines, ok = [], True
    for token in tokens:
        erc20 = market.token(token.address)
        supply = int(erc20.functions.totalSupply().call())
        held = sum(market.balance_of(token.address, h) for h in set(holders))
        in_market = market.balance_of(token.address, market.market_address)
        locked = escrow.get(token.address, 0)
        token_ok = supply == held + in_market and in_market == locked
        ok = ok and token_ok
        lines.append(
            f"{token.symbol}: supply {format_whole(supply, token)} = holders"
            f" {format_whole(held, token)} + market {format_whole(in_market, token)}"
            f" (live offers escrow {format_whole(locked, token)}):"
            f" {'OK' if token_ok else 'MISMATCH'}"
        )
    return ConservationResult(ok, tuple(lines))


def gas_used_by(
    w3: Web3, senders: Mapping[str, str], from_block: int
) -> dict[str, tuple[int, int]]:
    """(gas units, wei paid) per sender name, over every block since `from_block`."""
    by_address = {Web3.to_checksum_address(a): name for name, a in senders.items()}
    totals = {name: (0, 0) for name in senders}
    for number in range(from_block, int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if not isinstance(tx, Mapping):
                continue  # a bare hash: only returned without full_transactions
            sender = by_address.get(Web3.to_checksum_address(tx["from"]))
            if sender is None:
                continue
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            units, wei = totals[sender]
            used = int(receipt["gasUsed"])
            totals[sender] = (units + used, wei + used * int(receipt["effectiveGasPrice"]))
    return totals
