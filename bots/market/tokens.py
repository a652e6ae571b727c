"""ERC20 token metadata as the strategies see it: address, symbol and decimals.

EIP-20 makes `name`, `symbol` and `decimals` optional, and old tokens (MKR, SAI) return
`bytes32` instead of `string`. So metadata is read raw and decoded leniently: a `string` or a
`bytes32`, and for a token without a readable symbol the shortened address stands in (display
only). `decimals` scales every amount, so it is never guessed: a token without it needs the
value from the config (`base_decimals` / `quote_decimals`).
"""

from __future__ import annotations

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.exceptions import Web3Exception

from bots.errors import ChainError, ConfigError
from bots.market.client import MarketClient
from bots.market.probe import require_erc20
from strategies.money import Token

_SYMBOL = bytes.fromhex("95d89b41")  # symbol()
_DECIMALS = bytes.fromhex("313ce567")  # decimals()
MAX_DECIMALS = 77  # 10**77 still fits in a uint256


def load_token(market: MarketClient, address: str, decimals: int | None = None) -> Token:
    """Symbol and decimals as the token contract reports them (config only names addresses).

    `decimals` is the configured value for a token whose contract has no `decimals()`; when
    the contract has one, the two must agree. Raises `ConfigError` when decimals are unknown or
    disagree or `address` is the market itself, `ChainError` when `address` holds no contract
    or one that does not answer like an ERC20 (`bots.market.probe.require_erc20`).
    """
    checksum = Web3.to_checksum_address(address)
    if checksum == market.market_address:
        raise ConfigError(f"{checksum} is the market itself, not a token: check base and quote")
    w3 = market.w3
    if not w3.eth.get_code(checksum):
        raise ChainError(f"no contract at token address {checksum}")
    require_erc20(w3, checksum, "token")  # another market, a multisig: not a token
    symbol = _text(_call(w3, checksum, _SYMBOL)) or f"{checksum[:6]}…{checksum[-4:]}"
    reported = _uint(_call(w3, checksum, _DECIMALS))
    if reported is None and decimals is None:
        raise ConfigError(
            f"token {symbol} ({checksum}) has no decimals(): set base_decimals or "
            "quote_decimals in the config"
        )
    if reported is not None and decimals is not None and reported != decimals:
        raise ConfigError(
            f"token {symbol} ({checksum}) reports {reported} decimals, the config says {decimals}"
        )
    value = reported if reported is not None else decimals
    assert value is not None  # noqa: S101 - both None raised above
    return Token(address=checksum, symbol=symbol, decimals=value)


def _call(w3: Web3, address: str, selector: bytes) -> bytes | None:
    """Raw return data of a no-argument view, or None when the call reverts or fails."""
    try:
        return bytes(w3.eth.call({"to": address, "data": selector}))
    except (Web3Exception, ValueError):
        return None


def _text(data: bytes | None) -> str:
    """A `string` or `bytes32` return value as text; "" when it is neither (or not printable)."""
    if not data:
        return ""
    text = ""
    if len(data) >= 64:
        try:
            text = str(decode(["string"], data)[0])
        except (DecodingError, OverflowError, UnicodeDecodeError, ValueError):
            text = ""
    if not text and len(data) == 32:
        text = data.rstrip(b"\0").decode("utf-8", errors="replace")
    text = text.strip()
    return text if text.isprintable() and len(text) <= 32 else ""


def _uint(data: bytes | None) -> int | None:
    if data is None or len(data) != 32:
        return None
    value = int.from_bytes(data, "big")
    return value if value <= MAX_DECIMALS else None
