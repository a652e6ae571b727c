"""Signing and sending transactions for one local account.

Keys never leave the process: transactions are signed here and sent raw. Every wait has a
timeout, success means `status == 1` (not "the receipt has logs"), and a revert surfaces as a
`TxError` with the decoded custom error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted
from web3.types import TxParams, TxReceipt

from bots.artifacts import Artifact
from bots.errors import TxError
from bots.revert import decode_revert

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5  # estimate * 1.2: state can move between estimate and mining


@dataclass(frozen=True)
class Fees:
    """Fee fields for the next transaction: EIP-1559 when the chain has a base fee, else legacy."""

    fields: dict[str, int]

    @property
    def max_price(self) -> int:
        return max(self.fields.values(), default=0)


def current_fees(w3: Web3, cap_wei: int | None = None) -> Fees:
    """EIP-1559 fees (2 x base fee + tip) or a legacy gas price; a zero-fee PoA chain gets 0."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        fees = Fees({"gasPrice": int(w3.eth.gas_price)})
    else:
        tip = int(w3.eth.max_priority_fee) if base_fee > 0 else 0
        fees = Fees({"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip})
    if cap_wei is not None and fees.max_price > cap_wei:
        raise TxError(f"gas price {fees.max_price} wei is above the cap of {cap_wei} wei")
    return fees


class Transactor:
    """Sends transactions from one account, tracking its nonce locally between sends."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        receipt_timeout_s: float = 60.0,
        gas_price_cap_wei: int | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.receipt_timeout_s = receipt_timeout_s
        self.gas_price_cap_wei = gas_price_cap_wei
        self._chain_id = int(w3.eth.chain_id)
        self._next_nonce: int | None = None

    def resync_nonce(self) -> int:
        """Take the nonce from the node's pending count: after restarts or foreign sends."""
        self._next_nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        return self._next_nonce

    def transact(self, call: ContractFunction, *, gas: int | None = None) -> TxReceipt:
        """Send a contract call and wait for a successful receipt."""
        tx = self._base_tx(gas)
        try:
            built = call.build_transaction(cast(TxParams, tx))
        except (ContractCustomError, ContractLogicError) as exc:
            raise TxError(f"{call.fn_name}: {decode_revert(_revert_data(exc))}") from None
        return self.send(built, label=call.fn_name)

    def deploy(self, artifact: Artifact, *args: Any) -> tuple[Contract, TxReceipt]:
        """Deploy `artifact` with constructor `args`; return the bound contract and receipt."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        built = factory.constructor(*args).build_transaction(cast(TxParams, self._base_tx(None)))
        receipt = self.send(built, label=f"deploy {artifact.name}")
        address = receipt["contractAddress"]
        if address is None:
            raise TxError(f"deploy {artifact.name}: receipt has no contract address")
        return self.w3.eth.contract(address=address, abi=artifact.abi), receipt

    def send_value(self, to: str, value_wei: int) -> TxReceipt:
        """Send native coin (gas money)."""
        tx = {**self._base_tx(21_000), "to": Web3.to_checksum_address(to), "value": value_wei}
        return self.send(tx, label="send value")

    def send(self, tx: TxParams | dict[str, Any], *, label: str) -> TxReceipt:
        """Sign, send and wait; raises `TxError` on revert or timeout."""
        nonce = self.resync_nonce() if self._next_nonce is None else self._next_nonce
        tx = {**tx, "nonce": nonce, "chainId": self._chain_id}
        if "gas" not in tx:
            estimate = int(self.w3.eth.estimate_gas(cast(TxParams, tx)))
            tx["gas"] = estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except ValueError as exc:
            self.resync_nonce()
            raise TxError(f"{label}: node refused the transaction: {exc}") from None
        self._next_nonce = nonce + 1
        return self._await_success(tx_hash.to_0x_hex(), tx, label)

    def _await_success(self, tx_hash: str, tx: dict[str, Any], label: str) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash,  # type: ignore[arg-type]
                timeout=self.receipt_timeout_s,
                poll_latency=0.05,
            )
        except TimeExhausted:
            raise TxError(
                f"{label}: not mined within {self.receipt_timeout_s:.0f}s", tx_hash
            ) from None
        if receipt["status"] != 1:
            reason = self._replay_reason(tx, receipt["blockNumber"])
            raise TxError(f"{label}: {reason} (tx {tx_hash})", tx_hash)
        return receipt

    def _replay_reason(self, tx: dict[str, Any], block_number: int) -> str:
        """Re-run a failed transaction as a call on its parent block to learn why it reverted."""
        call = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self.w3.eth.call(cast(TxParams, call), block_number - 1)
        except (ContractCustomError, ContractLogicError) as exc:
            return decode_revert(_revert_data(exc))
        except ValueError as exc:
            return f"reverted ({exc})"
        return "reverted on chain (the replay succeeded: state changed in between)"

    def _base_tx(self, gas: int | None) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": self.address}
        tx.update(current_fees(self.w3, self.gas_price_cap_wei).fields)
        if gas is not None:
            tx["gas"] = gas
        return tx


def _revert_data(exc: ContractCustomError | ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None
