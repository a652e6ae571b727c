"""`otcmm run | book | balances`: run a bot, and look at the market it trades on.

`book` and `balances` read the chain only (no key is unlocked); they take the market from a
bot config or from explicit flags, so an operator can inspect any market.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress

from bots.addresses import checked_address
from bots.errors import ConfigError
from strategies.api import LiveOffer
from strategies.money import Token, offer_price

if TYPE_CHECKING:
    from bots.market.client import MarketClient


@dataclass(frozen=True)
class MarketRef:
    rpc_url: str
    market: str
    base: str
    quote: str
    chain_id: int | None = None
    base_decimals: int | None = None  # for tokens without decimals()
    quote_decimals: int | None = None


def _cmd_run(args: argparse.Namespace) -> int:
    from bots.service.config import load_config

    config = load_config(args.config)
    if args.check:
        print(f"{args.config}: ok (bot {config.name}, strategy {config.strategy.name})")
        return 0
    from bots.service.process import serve

    return serve(
        config,
        clear_kill_switch=args.clear_kill_switch,
        reset_price_anchor=args.reset_price_anchor,
    )


def _market_ref(args: argparse.Namespace) -> MarketRef:
    values = {
        "rpc_url": args.rpc_url,
        "market": args.market,
        "base": args.base,
        "quote": args.quote,
    }
    chain_id = None
    decimals = {"base_decimals": args.base_decimals, "quote_decimals": args.quote_decimals}
    if args.config is not None:
        from bots.service.config import load_config

        config = load_config(args.config)
        chain_id = config.chain_id
        for key in decimals:
            decimals[key] = decimals[key] if decimals[key] is not None else getattr(config, key)
        for key in values:
            values[key] = values[key] or getattr(config, key)
    missing = [f"--{k.replace('_', '-')}" for k, v in values.items() if not v]
    if missing:
        raise ConfigError(f"give --config or all of: {', '.join(missing)}")
    for key in ("market", "base", "quote"):
        values[key] = _flag_address(f"--{key}", values[key])
    if values["base"] == values["quote"]:
        raise ConfigError(f"--quote: {values['quote']} is also the base: a pair needs 2 tokens")
    return MarketRef(chain_id=chain_id, **values, **decimals)


def _flag_address(flag: str, value: str) -> ChecksumAddress:
    """A typed address, checksummed; `ConfigError` (exit 2) naming `flag` when it is bad."""
    try:
        return checked_address(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def _reader(ref: MarketRef) -> tuple[MarketClient, Token, Token]:
    from bots.chain.rpc import check_connection, connect
    from bots.market.client import MarketClient
    from bots.market.tokens import load_token

    w3 = connect(ref.rpc_url, retries=2)  # an operator at a terminal wants a quick answer
    check_connection(w3, ref.chain_id)
    market = MarketClient(w3, ref.market)
    base = load_token(market, ref.base, ref.base_decimals)
    return market, base, load_token(market, ref.quote, ref.quote_decimals)


def _cmd_book(args: argparse.Namespace) -> int:
    market, base, quote = _reader(_market_ref(args))
    bids, asks = market.book(base.address, quote.address)
    print(format_book(bids, asks, base, quote, depth=args.depth))
    return 0


def format_book(
    bids: list[LiveOffer], asks: list[LiveOffer], base: Token, quote: Token, depth: int = 20
) -> str:
    """Asks above bids, best prices in the middle, sizes in whole base tokens."""

    def row(side: str, offer: LiveOffer, price: Fraction, size: int) -> str:
        shown = _decimal(price, 8)
        amount = Decimal(size).scaleb(-base.decimals)
        return f"{side:<4} {shown:>18} {amount:>20} {offer.id:>24}  {offer.owner}"

    ask_rows = sorted(
        ((offer_price(base, quote, o.pay_amt, o.buy_amt), o) for o in asks),  # its rate
        key=lambda pair: pair[0],
    )[:depth]
    bid_rows = sorted(
        ((offer_price(base, quote, o.buy_amt, o.pay_amt), o) for o in bids),
        key=lambda pair: -pair[0],
    )[:depth]
    header = (
        f"{'side':<4} {'price ' + quote.symbol:>18} {'size ' + base.symbol:>20} {'id':>24}  owner"
    )
    lines = [header]
    lines += [row("ask", o, p, o.remaining) for p, o in reversed(ask_rows)]
    lines.append("-" * len(header))
    lines += [row("bid", o, p, o.remaining_buy) for p, o in bid_rows]
    lines.append(f"{len(bids)} bids, {len(asks)} asks ({base.symbol}/{quote.symbol})")
    return "\n".join(lines)


def _decimal(value: Fraction, places: int) -> str:
    return str(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal(1).scaleb(-places))
    )


def _cmd_balances(args: argparse.Namespace) -> int:
    from bots.market.client import escrowed
    from bots.market.ledger import format_whole

    ref = _market_ref(args)
    addresses = [_flag_address("--address", a) for a in args.address or []]
    if args.config is not None and not addresses:
        addresses.append(checked_address(_bot_address(args.config)))
    if not addresses:
        raise ConfigError("give --address or a --config whose keystore names the bot's address")
    market, base, quote = _reader(ref)
    header = ["address", "gas ETH"]
    header += [f"{t.symbol} {kind}" for t in (base, quote) for kind in ("free", "escrow")]
    rows = [header]
    for owner in addresses:
        locked = escrowed(market.owner_offers(owner))
        row = [owner, f"{Decimal(market.w3.eth.get_balance(owner)).scaleb(-18):,.6f}"]
        for token in (base, quote):
            for amount in (market.balance_of(token.address, owner), locked.get(token.address, 0)):
                row.append(format_whole(amount, token))
        rows.append(row)
    print(_table(rows))
    return 0


def _table(rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned numbers, two spaces between columns always."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _bot_address(config_path: Path) -> str:
    from bots.chain.keystore import keystore_address
    from bots.service.config import load_config

    return keystore_address(load_config(config_path).keystore.path)


def _market_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, help="take the RPC URL, market and pair from this bot config"
    )
    p.add_argument("--rpc-url", help="JSON-RPC endpoint, e.g. http://127.0.0.1:8545")
    p.add_argument("--market", help="OtcMarket contract address")
    p.add_argument("--base", help="base token address (what is bought and sold)")
    p.add_argument("--quote", help="quote token address (what prices are in)")
    for side in ("base", "quote"):
        p.add_argument(
            f"--{side}-decimals",
            type=int,
            choices=range(78),
            metavar="N",
            help=f"decimals of a {side} token that has no decimals() (EIP-20 makes it optional)",
        )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a bot from a TOML config until SIGTERM/SIGINT",
        description="Run one bot: one keystore, one strategy, one market pair. Settings come "
        "from the TOML file, overridden by OTCMM_* environment variables (nested with __, "
        "e.g. OTCMM_RISK__MAX_GAS_PRICE_WEI) and by files in $OTCMM_SECRETS_DIR. The keystore "
        "password comes from keystore.password_file or $OTCMM_KEYSTORE_PASSWORD. On SIGTERM the "
        "bot cancels its offers (unless runtime.cancel_on_exit = false) and exits 0.",
    )
    p.add_argument("--config", type=Path, required=True, help="the bot's TOML file")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.add_argument(
        "--clear-kill-switch",
        action="store_true",
        help="start although the kill switch tripped (after an operator has looked why)",
    )
    p.add_argument(
        "--reset-price-anchor",
        action="store_true",
        help="forget the recorded price anchor: the first sane reading of the feed becomes the "
        "anchor (after an operator has checked the feed's price; logged)",
    )
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("book", help="print a market's order book as a table")
    _market_flags(p)
    p.add_argument("--depth", type=int, default=20, help="rows per side (default 20)")
    p.set_defaults(handler=_cmd_book)

    p = sub.add_parser("balances", help="print gas money, free and escrowed token balances")
    _market_flags(p)
    p.add_argument(
        "--address", action="append", help="account to show (repeatable); default: the config's bot"
    )
    p.set_defaults(handler=_cmd_balances)
