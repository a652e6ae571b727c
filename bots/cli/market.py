"""`otcmm book | balances`: look at a market and its accounts; reads only, no key unlocked.

The market comes from a bot config (`--config`), a seed job's deployment file (`--deployment`:
market and assets by symbol) or explicit flags, flags winning. Before anything is read the node
must serve the expected chain, the market address must hold an `OtcMarket` and both tokens must
be contracts: each failure is one line (exit 2 for input, 4 for the chain).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress

from bots.addresses import checked_address
from bots.cli import argtypes
from bots.cli.seed import RPC_URL_ENV
from bots.errors import ConfigError, KeystoreError
from bots.numbers import count, decimal, whole
from strategies.api import LiveOffer
from strategies.money import Token, offer_price

if TYPE_CHECKING:
    from bots.market.client import MarketClient

PRICE_PLACES = 8


@dataclass(frozen=True)
class MarketRef:
    """Where to read: the node, the market and the pair, and who is who on its book."""

    rpc_url: str
    market: str
    base: str
    quote: str
    chain_id: int | None = None
    base_decimals: int | None = None  # for tokens without decimals()
    quote_decimals: int | None = None
    owners: dict[str, str] = field(default_factory=dict)  # address -> label (own bot, fleet)
    deployment: Path | None = None


def market_ref(args: argparse.Namespace) -> MarketRef:
    """The flags, filled in from `--config` and `--deployment`; `ConfigError` if incomplete."""
    values: dict[str, Any] = {k: getattr(args, k) for k in ("rpc_url", "market", "base", "quote")}
    extra: dict[str, Any] = {
        "base_decimals": args.base_decimals,
        "quote_decimals": args.quote_decimals,
        "deployment": args.deployment,
    }
    if args.config is not None:
        from bots.service.config import load_config

        config = load_config(args.config)
        for key in values:
            values[key] = values[key] or getattr(config, key)
        for key in ("base_decimals", "quote_decimals", "deployment", "chain_id"):
            if extra.get(key) is None:
                extra[key] = getattr(config, key)
        extra["owners"] = _config_owners(config)
    if args.deployment is not None:
        _from_deployment(args.deployment, values, extra)
    values["rpc_url"] = values["rpc_url"] or os.environ.get(RPC_URL_ENV)  # as `seed` does
    missing = [f"--{k.replace('_', '-')}" for k, v in values.items() if not v]
    if missing:
        raise ConfigError(_missing(missing, deployment=args.deployment is not None))
    for key in ("market", "base", "quote"):
        if not str(values[key]).startswith("0x"):
            raise ConfigError(f"--{key}: {values[key]!r} is a symbol: give --deployment too")
        values[key] = _flag_address(f"--{key}", values[key])
    if values["base"] == values["quote"]:
        raise ConfigError(f"--quote: {values['quote']} is also the base: a pair needs 2 tokens")
    return MarketRef(**values, **extra)


def _missing(flags: list[str], *, deployment: bool) -> str:
    """Exactly what is missing, and where else each could come from."""
    shown = [f"--rpc-url (or ${RPC_URL_ENV})" if f == "--rpc-url" else f for f in flags]
    sources = ["a --config"]
    if not deployment and "--market" in flags:
        sources.append("--deployment (the market)")
    return f"missing {', '.join(shown)}: give {'it' if len(flags) == 1 else 'them'}, or " + (
        " or ".join(sources)
    )


def _from_deployment(path: Path, values: dict[str, Any], extra: dict[str, Any]) -> None:
    """Resolve symbols and the market from the seed job's file (`ConfigError` if unusable)."""
    from bots.market.deployment import load_deployment

    deployment = load_deployment(path)
    if deployment is None:
        raise ConfigError(f"--deployment: file not found: {path}")
    for key in ("base", "quote"):
        symbol = values[key]
        if symbol and not symbol.startswith("0x"):
            try:
                values[key] = deployment.address_of(symbol)
            except ConfigError as exc:
                raise ConfigError(f"--{key}: {exc} in {path}") from None
    values["market"] = values["market"] or deployment.require_market()
    if extra.get("chain_id") is None:
        extra["chain_id"] = deployment.chain_id


def _config_owners(config: Any) -> dict[str, str]:
    """The config's bot (by name, "own") and its fleet, as labels for the book's owners."""
    from bots.chain.keystore import keystore_address

    owners = {address: "fleet" for address in config.fleet}
    try:
        owners[checked_address(keystore_address(config.keystore.path))] = f"{config.name} (own)"
    except (KeystoreError, ValueError):
        pass  # a keystore without `address` needs its password to tell it: no label then
    return owners


def _flag_address(flag: str, value: str) -> ChecksumAddress:
    """A typed address, checksummed; `ConfigError` (exit 2) naming `flag` when it is bad."""
    try:
        return checked_address(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def reader(ref: MarketRef) -> tuple[MarketClient, Token, Token]:
    """The market and its two tokens, each checked on chain first (`ChainError`, exit 4)."""
    from bots.chain.rpc import check_connection, connect
    from bots.market.client import MarketClient
    from bots.market.deployment import load_deployment, verify_on_chain
    from bots.market.probe import require_market
    from bots.market.tokens import load_token

    w3 = connect(ref.rpc_url, retries=2)  # an operator at a terminal wants a quick answer
    check_connection(w3, ref.chain_id)
    deployment = load_deployment(ref.deployment) if ref.deployment else None
    if deployment is not None and ref.deployment is not None:
        verify_on_chain(w3, deployment, ref.deployment)
    market = MarketClient(w3, ref.market)
    require_market(market)
    base = load_token(market, ref.base, ref.base_decimals)
    return market, base, load_token(market, ref.quote, ref.quote_decimals)


def _cmd_book(args: argparse.Namespace) -> int:
    ref = market_ref(args)
    market, base, quote = reader(ref)
    bids, asks = market.book(base.address, quote.address)
    print(format_book(bids, asks, base, quote, depth=args.depth, owners=ref.owners))
    return 0


def format_book(
    bids: list[LiveOffer],
    asks: list[LiveOffer],
    base: Token,
    quote: Token,
    depth: int = 20,
    owners: dict[str, str] | None = None,
) -> str:
    """Asks above bids, best prices in the middle with mid and spread between them.

    Prices are quote per whole base (8 places, half-even), sizes whole base tokens, ids hex as
    everywhere in otcmm, owners by label when known (the config's bot, its fleet).
    """
    names = owners or {}

    def row(side: str, offer: LiveOffer, price: Fraction, size: int) -> str:
        owner = names.get(offer.owner, offer.owner)
        shown = decimal(price, PRICE_PLACES)
        return f"{side:<4} {shown:>20} {whole(size, base.decimals):>20} {offer.id:>#22x}  {owner}"

    ask_rows = sorted(
        ((offer_price(base, quote, o.pay_amt, o.buy_amt), o) for o in asks),  # its rate
        key=lambda pair: pair[0],
    )[:depth]
    bid_rows = sorted(
        ((offer_price(base, quote, o.buy_amt, o.pay_amt), o) for o in bids),
        key=lambda pair: -pair[0],
    )[:depth]
    header = (
        f"{'side':<4} {'price ' + quote.symbol:>20} {'size ' + base.symbol:>20} {'id':>22}  owner"
    )
    lines = [header]
    lines += [row("ask", o, p, o.remaining) for p, o in reversed(ask_rows)]
    lines.append(
        _middle(bid_rows[0][0] if bid_rows else None, ask_rows[0][0] if ask_rows else None)
    )
    lines += [row("bid", o, p, o.remaining_buy) for p, o in bid_rows]
    sides = f"{count(len(bids), 'bid')}, {count(len(asks), 'ask')}"
    lines.append(f"{sides} ({base.symbol}/{quote.symbol})")
    return "\n".join(lines)


def _middle(bid: Fraction | None, ask: Fraction | None) -> str:
    """`---- mid 100.00000000  spread 2.00000000 (200.0 bps) ----`, or why there is none."""
    if bid is None or ask is None:
        return f"---- no mid: {'no bids' if bid is None else 'no asks'} ----"
    mid = (bid + ask) / 2
    spread = ask - bid
    bps = decimal(spread / mid * 10_000, 1)
    places = PRICE_PLACES
    return f"---- mid {decimal(mid, places)}  spread {decimal(spread, places)} ({bps} bps) ----"


def _cmd_balances(args: argparse.Namespace) -> int:
    from bots.market.client import escrowed

    ref = market_ref(args)
    addresses = [_flag_address("--address", a) for a in args.address or []]
    if args.config is not None and not addresses:
        addresses.append(_flag_address("--config", _bot_address(args.config)))
    if not addresses:
        raise ConfigError("give --address or a --config whose keystore names the bot's address")
    market, base, quote = reader(ref)
    header = ["address", "gas ETH"]
    header += [f"{t.symbol} {kind}" for t in (base, quote) for kind in ("free", "escrow")]
    rows = [header]
    for owner in addresses:
        locked = escrowed(market.owner_offers(owner))
        row = [owner, whole(int(market.w3.eth.get_balance(owner)), 18, places=6)]
        for token in (base, quote):
            for amount in (market.balance_of(token.address, owner), locked.get(token.address, 0)):
                row.append(whole(amount, token.decimals))
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
    p.add_argument(
        "--deployment",
        type=Path,
        help="the seed job's deployment.json: market and assets by symbol (--base BND30)",
    )
    p.add_argument(
        "--rpc-url", help=f"JSON-RPC endpoint, e.g. http://127.0.0.1:8545 (default ${RPC_URL_ENV})"
    )
    p.add_argument("--market", help="OtcMarket contract address")
    p.add_argument("--base", help="base token: address, or symbol with --deployment")
    p.add_argument("--quote", help="quote token (what prices are in): address or symbol")
    for side in ("base", "quote"):
        p.add_argument(
            f"--{side}-decimals",
            type=argtypes.integer(0, 77),
            metavar="N",
            help=f"decimals of a {side} token that has no decimals() (EIP-20 makes it optional)",
        )


def register(sub: Any) -> None:
    """Add `book` and `balances` to the `otcmm` subparsers."""
    p = sub.add_parser("book", help="print a market's order book as a table")
    _market_flags(p)
    p.add_argument(
        "--depth", type=argtypes.integer(1, 10_000), default=20, help="rows per side (20)"
    )
    p.set_defaults(handler=_cmd_book)

    p = sub.add_parser("balances", help="print gas money, free and escrowed token balances")
    _market_flags(p)
    p.add_argument(
        "--address", action="append", help="account to show (repeatable); default: the config's bot"
    )
    p.set_defaults(handler=_cmd_balances)
