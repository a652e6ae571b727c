"""Fee fields for a transaction: current fees, the operator's cap, and bumps for a stuck one.

The policy, for every node and every chain: pay at least what the node's pool requires.
- EIP-1559 (a chain with a base fee): tip = the node's suggestion (`eth_maxPriorityFeePerGas`),
  max fee = 2 x base fee + tip, so the max fee stays above the base fee for at least one
  doubling of it and the transaction can be included at once.
- Never an effective gas price of 0: Nethermind's pool drops any transaction from a peer whose
  affordable price, min(max fee, base fee + tip), is 0, and a bot's transactions reach the
  validators from a peer (the RPC node relays them). On a chain with a zero base fee the tip
  is raised to 1 wei; a legacy gas price is at least 1 wei.
All amounts are integers in wei per gas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from bots.errors import TxError

FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
MIN_EFFECTIVE_PRICE_WEI = 1
"""The lowest effective gas price any pool relays from a peer (Nethermind: more than 0)."""
BUMP_DIVISOR = 8
"""A replacement raises every fee field by max fee / 8 + 1 wei: more than the 10% geth and
Nethermind want on each field, and more than the 12.5% OpenEthereum wants on the effective
price, whatever the base fee; anvil wants strictly more."""


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
    """Fee fields for the next transaction: EIP-1559 when the chain has a base fee, else legacy.

    `fields` maps `gasPrice`, or `maxFeePerGas` and `maxPriorityFeePerGas`, to wei per gas.
    """

    fields: dict[str, int]

    @property
    def max_price(self) -> int:
        """The most one unit of gas can cost with these fields (wei)."""
        return max(self.fields.values(), default=0)

    @classmethod
    def of(cls, tx: Mapping[str, Any]) -> Fees | None:
        """The fee fields a transaction already carries, or None when it has none."""
        fields = {key: int(tx[key]) for key in FEE_FIELDS if key in tx}
        return cls(fields) if fields else None

    @classmethod
    def carried(cls, tx: Mapping[str, Any]) -> Fees:
        """`of` for a transaction prepared to carry fees; `AssertionError` if it carries none."""
        fees = cls.of(tx)
        if fees is None:
            raise AssertionError("a prepared transaction always carries fees")
        return fees

    def bumped(self) -> Fees:
        """Fees that replace these in every pool: each field + (max fee // 8 + 1) wei.

        The tip rises by as much as the max fee, so the effective price rises by more than an
        eighth at any base fee (OpenEthereum compares effective prices) and the tip stays at
        most the max fee. From zero fees the bump gives 1 wei.
        """
        step = self.max_price // BUMP_DIVISOR + 1
        return Fees({key: value + step for key, value in self.fields.items()})


def check_cap(fees: Fees, cap_wei: int | None) -> Fees:
    """`fees` unchanged, or `GasPriceCapExceeded` when they could pay more than the cap."""
    if cap_wei is not None and fees.max_price > cap_wei:
        raise GasPriceCapExceeded(fees.max_price, cap_wei)
    return fees


def current_fees(w3: Web3, cap_wei: int | None = None) -> Fees:
    """The fees a transaction sent now carries (see `fees_for_base_fee`).

    Raises `GasPriceCapExceeded` when the result is above `cap_wei`.
    """
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    return check_cap(fees_for_base_fee(w3, base_fee), cap_wei)


def fees_for_base_fee(w3: Web3, base_fee: int | None) -> Fees:
    """The fees a transaction would carry on a block with `base_fee` (None: a legacy chain).

    Asks the node for its tip (or, on a legacy chain, its gas price). Shared by the sender and
    the risk guard, so the gas-cap safety stop and the sender's own cap check compare the
    same number.
    """
    if base_fee is None:
        return legacy_fees(int(w3.eth.gas_price))
    return eip1559_fees(int(base_fee), int(w3.eth.max_priority_fee))


def fees_from_suggestion(base_fee: int | None, suggestion: int | None) -> Fees:
    """`fees_for_base_fee` from a node suggestion already read (the tip, or on a legacy chain
    the gas price): a bot reads it in its snapshot batch instead of asking again."""
    if base_fee is None:
        return legacy_fees(suggestion or 0)
    return eip1559_fees(base_fee, suggestion or 0)


def eip1559_fees(base_fee_wei: int, suggested_tip_wei: int) -> Fees:
    """Max fee 2 x base fee + tip, the tip as suggested but never below what makes the
    effective price (base fee + tip) at least `MIN_EFFECTIVE_PRICE_WEI`."""
    tip = max(suggested_tip_wei, MIN_EFFECTIVE_PRICE_WEI - base_fee_wei, 0)
    return Fees({"maxFeePerGas": 2 * base_fee_wei + tip, "maxPriorityFeePerGas": tip})


def legacy_fees(suggested_price_wei: int) -> Fees:
    """The node's gas price, but at least `MIN_EFFECTIVE_PRICE_WEI`."""
    return Fees({"gasPrice": max(suggested_price_wei, MIN_EFFECTIVE_PRICE_WEI)})


def bump_within_cap(fees: Fees, cap_wei: int | None) -> Fees | None:
    """The bumped fees for replacing a stuck transaction, or None when they would pass the cap."""
    bumped = fees.bumped()
    if cap_wei is not None and bumped.max_price > cap_wei:
        return None
    return bumped
