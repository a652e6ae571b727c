"""Existing tokens of a plan, checked against their contracts before anything is planned.

For each `ExistingAsset`: its address must hold a contract on this chain, and the plan's
`decimals` must agree with the token's `decimals()` when the token has one; EIP-20 makes
`decimals()` optional, and for a token without it (the call reverts or answers anything but
one word) the plan must give them. The plan comes back with every existing token's decimals
known (`SeedPlan.with_decimals`), which is when amounts in those tokens are checked. The
token's own symbol and name play no part: the plan's symbol is the one bots find it by.
"""

from __future__ import annotations

from web3 import Web3
from web3.exceptions import ContractLogicError

from bots.errors import ConfigError
from bots.seed.assets import MAX_DECIMALS, ExistingAsset
from bots.seed.plan import SeedPlan

_DECIMALS = bytes.fromhex("313ce567")  # decimals()


def resolve_existing(w3: Web3, plan: SeedPlan) -> SeedPlan:
    """`plan` with the decimals of every existing token read from the chain and checked.

    Raises `ConfigError` with one `source: assets.N...: message` line per problem: no contract
    at the address, decimals that disagree with the token's, a token without `decimals()` and
    none in the plan, a token with more than 18 decimals, or (from `with_decimals`) an amount
    that is not a whole number of base units at the token's decimals. Transport errors
    propagate.
    """
    problems: list[str] = []
    decimals: dict[str, int] = {}
    for index, asset in plan.existing():
        where = f"{plan.source}: assets.{index}"
        try:
            decimals[asset.symbol] = _checked_decimals(w3, asset)
        except ValueError as exc:
            problems.append(f"{where}{exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return plan.with_decimals(decimals)


def _checked_decimals(w3: Web3, asset: ExistingAsset) -> int:
    """The decimals to use; ValueError with ".field: message" (or ": message") otherwise."""
    token = f"{asset.symbol} at {asset.address}"
    if not w3.eth.get_code(Web3.to_checksum_address(asset.address)):
        raise ValueError(f".address: no contract at {asset.address} on this chain")
    reported = token_decimals(w3, asset.address)
    if reported is None:
        if asset.decimals is None:
            raise ValueError(f": the token {token} has no decimals(): give decimals in the plan")
        return asset.decimals
    if reported > MAX_DECIMALS:
        raise ValueError(f": the token {token} reports {reported} decimals; at most 18 are handled")
    if asset.decimals is not None and asset.decimals != reported:
        raise ValueError(
            f".decimals: the token {token} reports {reported} decimals, the plan says "
            f"{asset.decimals}"
        )
    return reported


def token_decimals(w3: Web3, address: str) -> int | None:
    """What `decimals()` answers at `address`, or None when the token has none.

    None when the call reverts or its answer is not exactly one 32-byte word (EIP-20 makes the
    function optional; a token without it reverts or, with a fallback, answers nothing).
    """
    call = {"to": Web3.to_checksum_address(address), "data": _DECIMALS}
    try:
        data = bytes(w3.eth.call(call))  # type: ignore[arg-type]
    except ContractLogicError:
        return None
    return int.from_bytes(data, "big") if len(data) == 32 else None
