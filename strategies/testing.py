"""Snapshot builders for testing strategies (ours and third-party ones) without a chain."""

from __future__ import annotations

from decimal import Decimal

from strategies.api import LiveOffer, Snapshot
from strategies.money import Token, ask_amounts, bid_amounts

BASE = Token("0x000000000000000000000000000000000000b45e", "WETH", 18)
QUOTE = Token("0x00000000000000000000000000000000000a007e", "USDC", 6)
ME = "0x00000000000000000000000000000000000000a1"


def make_snapshot(
    reference_price: Decimal | None = Decimal("2000"),
    base_balance: int = 10 * BASE.one,
    quote_balance: int = 20_000 * QUOTE.one,
    **fields: object,
) -> Snapshot:
    """A WETH/USDC snapshot with free balances; any other :class:`Snapshot` field by keyword."""
    values: dict[str, object] = {
        "base": BASE,
        "quote": QUOTE,
        "reference_price": reference_price,
        "block_number": 100,
        "timestamp": 1_700_000_000,
        "own_address": ME,
        "balances": {BASE.address: base_balance, QUOTE.address: quote_balance},
    }
    values.update(fields)
    return Snapshot(**values)  # type: ignore[arg-type]


def ask_offer(
    id: int, price: Decimal, size: int, owner: str = ME, base: Token = BASE, quote: Token = QUOTE
) -> LiveOffer:
    """A live offer selling ``size`` base units at ``price`` (quote rounded up, like a maker)."""
    pay, buy = ask_amounts(base, quote, size, price)
    return LiveOffer(id, owner, base.address, quote.address, pay, buy, pay, buy)


def bid_offer(
    id: int, price: Decimal, size: int, owner: str = ME, base: Token = BASE, quote: Token = QUOTE
) -> LiveOffer:
    """A live offer buying ``size`` base units at ``price`` (quote rounded down)."""
    pay, buy = bid_amounts(base, quote, size, price)
    return LiveOffer(id, owner, quote.address, base.address, pay, buy, pay, buy)
