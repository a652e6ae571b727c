"""Is that address the contract we think it is? One-line answers before anything is read.

A market address that holds a token (or nothing: a restarted dev chain) must be refused with
the address and what it holds, not with a decoding error from deep inside web3; so must a
token address that holds the market or any other contract without ERC20's views.
"""

from __future__ import annotations

from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.exceptions import Web3Exception

from bots.chain.rpc import RpcUnreachable
from bots.errors import ChainError
from bots.market.reader import MarketReader

_NOBODY = "0x0000000000000000000000000000000000000000"
_ERC20_VIEWS = {  # views every ERC20 has, with calldata asking about address(0)
    "totalSupply": bytes.fromhex("18160ddd"),
    "balanceOf": bytes.fromhex("70a08231") + bytes(32),
}


def require_market(market: MarketReader) -> None:
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


def require_erc20(w3: Web3, address: str, what: str) -> None:
    """Return if `address` answers `totalSupply()` and `balanceOf(address(0))` with one word
    each, as every ERC20 does; else `ChainError` (exit 4) naming `what` ("token USDR").

    EIP-20 makes only name, symbol and decimals optional: a contract that reverts on these two
    views or answers anything but 32 bytes is not a token (the market, a multisig). An
    unreachable node is raised as it is.
    """
    target = Web3.to_checksum_address(address)
    if not w3.eth.get_code(target):
        raise ChainError(f"{what}: no contract at {address}: check the address")
    for view, data in _ERC20_VIEWS.items():
        try:
            answer = bytes(w3.eth.call({"to": target, "data": data}))
            reason = f"{view}() answered {len(answer)} bytes"
        except RpcUnreachable:
            raise  # the node, not the address: its own message says so
        except (ChainError, Web3Exception, ValueError) as exc:
            answer = b""
            reason = str(exc) if isinstance(exc, ChainError) else f"{view}() reverted"
        if len(answer) != 32:
            raise ChainError(
                f"{what}: the contract at {address} is not an ERC20 token ({reason}): "
                "check the address"
            )
