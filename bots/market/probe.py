"""Is that address the contract we think it is? One-line answers before anything is read.

A market address that holds a token (or nothing: a restarted dev chain) must be refused with
the address and what it holds, not with a decoding error from deep inside web3.
"""

from __future__ import annotations

from eth_abi.exceptions import DecodingError
from web3.exceptions import Web3Exception

from bots.chain.rpc import RpcUnreachable
from bots.errors import ChainError
from bots.market.client import MarketClient

_NOBODY = "0x0000000000000000000000000000000000000000"


def require_market(market: MarketClient) -> None:
    """Return if `market.market_address` answers like an `OtcMarket`; else `ChainError` (exit 4).

    Checks that the address holds code and that `deadlineOf(address(0))`, a view only the
    market has, answers with one word: an ERC20 or another contract reverts (the node refuses
    the call) or answers something else. An unreachable node is raised as it is.
    """
    address = market.market_address
    if not market.w3.eth.get_code(address):
        raise ChainError(f"no contract at the market address {address}: check the address")
    try:
        market.deadline_of(_NOBODY)
    except RpcUnreachable:
        raise  # the node, not the address: its own message says so
    except (ChainError, Web3Exception, DecodingError, ValueError, OverflowError) as exc:
        why = str(exc) if isinstance(exc, ChainError) else type(exc).__name__
        raise ChainError(
            f"the contract at {address} is not an OtcMarket (deadlineOf: {why}): "
            "check the market address"
        ) from None
