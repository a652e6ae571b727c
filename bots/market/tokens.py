"""ERC20 token metadata as the strategies see it: address, symbol and decimals."""

from __future__ import annotations

from bots.market.client import MarketClient
from strategies.money import Token


def load_token(market: MarketClient, address: str) -> Token:
    """Symbol and decimals as the token contract reports them (config only names addresses)."""
    erc20 = market.token(address)
    return Token(
        address=erc20.address,
        symbol=str(erc20.functions.symbol().call()),
        decimals=int(erc20.functions.decimals().call()),
    )
