"""Fee fields for a transaction: current fees, the operator's cap, and bumps for a stuck one.

The PoA network runs at zero fees (EIP-1559 with a zero base fee, or legacy zero gas price), so
every rule here must also work at 0: a bump from 0 gives 1, never 0 again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from bots.errors import TxError

FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
# Nodes accept a replacement only if it pays at least 10% more (geth, Nethermind); anvil wants
# strictly more. 9/8 plus one wei clears both, at any price including zero.
BUMP_NUM, BUMP_DEN = 9, 8


class GasPriceCapExceeded(TxError):
    """The network's fee is above the operator's cap: a safety stop, not a broken transaction.

    Carries both numbers so the runner can say "no new quotes while gas price X > cap Y" and
    resume by itself once the price falls.
    """

    def __init__(self, price_wei: int, cap_wei: int) -> None:
        super().__init__(f"gas price {price_wei} wei is above the cap of {cap_wei} wei")
        self.price_wei = price_wei
        self.cap_wei = cap_wei


@dataclass(frozen=True)
class Fees:
    """Fee fields for the next transaction: EIP-1559 when the chain has a base fee, else legacy."""

    fields: dict[str, int]

    @property
    def max_price(self) -> int:
        return max(self.fields.values(), default=0)

    @classmethod
    def of(cls, tx: Mapping[str, Any]) -> Fees | None:
        """The fee fields a transaction already carries, or None when it has none."""
        fields = {key: int(tx[key]) for key in FEE_FIELDS if key in tx}
        return cls(fields) if fields else None

    def bumped(self) -> Fees:
        """Every field raised by more than 12.5% (so 0 becomes 1): enough to replace in any pool.

        Both EIP-1559 fields go up, as geth requires; the tip stays at most the max fee.
        """
        return Fees({key: value * BUMP_NUM // BUMP_DEN + 1 for key, value in self.fields.items()})


def check_cap(fees: Fees, cap_wei: int | None) -> Fees:
    """`fees` unchanged, or `GasPriceCapExceeded` when they could pay more than the cap."""
    if cap_wei is not None and fees.max_price > cap_wei:
        raise GasPriceCapExceeded(fees.max_price, cap_wei)
    return fees


def current_fees(w3: Web3, cap_wei: int | None = None) -> Fees:
    """EIP-1559 fees (2 x base fee + tip) or a legacy gas price; a zero-fee PoA chain gets 0.

    Raises `GasPriceCapExceeded` when the result is above `cap_wei`.
    """
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    return check_cap(fees_for_base_fee(w3, base_fee), cap_wei)


def fees_for_base_fee(w3: Web3, base_fee: int | None) -> Fees:
    """The fees a transaction would carry on a block with `base_fee` (None: a legacy chain).

    Shared by the sender and the risk guard, so the gas-cap safety stop and the sender's own
    cap check compare the same number.
    """
    if base_fee is None:
        return Fees({"gasPrice": int(w3.eth.gas_price)})
    tip = int(w3.eth.max_priority_fee) if base_fee > 0 else 0
    return Fees({"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip})


def bump_within_cap(fees: Fees, cap_wei: int | None) -> Fees | None:
    """The bumped fees for replacing a stuck transaction, or None when they would pass the cap."""
    bumped = fees.bumped()
    if cap_wei is not None and bumped.max_price > cap_wei:
        return None
    return bumped
