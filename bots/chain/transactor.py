"""Signing and sending transactions for one local account.

Keys never leave the process: transactions are signed here and sent raw. The nonce is tracked
locally and resynced from the node whenever its pool disagrees ("nonce too low", "replacement
underpriced"); a transaction the node already holds is waited for, never signed twice. Every wait
has a deadline, a transaction stuck in the pool can be replaced with higher fees (never above
the operator's cap), success means `status == 1` (not "the receipt has logs"), and a revert
surfaces as a `TxError` with the decoded custom error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxParams, TxReceipt

from bots.artifacts import Artifact
from bots.chain.fees import Fees, GasPriceCapExceeded, bump_within_cap, check_cap, current_fees
from bots.chain.revert import decode_revert
from bots.chain.rpc import rpc_error_message
from bots.chain.txpool import SendResult, first_receipt, pending_count, send_raw
from bots.errors import TxError

__all__ = ["Fees", "GasPriceCapExceeded", "Transactor", "TxEvent", "current_fees"]

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5  # estimate * 1.2: state can move between estimate and mining
MAX_SEND_ATTEMPTS = 3  # signatures per send when the pool says the nonce is taken
RECEIPT_POLL_S = 0.05
IDLE_POLL_S = 0.2

TxEventKind = Literal["signed", "sent", "mined", "failed", "replaced"]


@dataclass(frozen=True)
class TxEvent:
    """One step in a transaction's life, for metrics and a crash-recovery journal.

    "signed" comes just before the raw transaction leaves the process, so a journal that
    records it cannot miss one the node may already hold. "signed", "sent" and "replaced"
    carry the signed `raw_tx` (a journal can rebroadcast it after a restart); "mined" and
    "failed" (reverted on chain) carry `gas_used`. A node's refusal is "failed" without gas.
    A receipt timeout emits nothing: the transaction may still mine.
    """

    kind: TxEventKind
    label: str
    tx_hash: str
    nonce: int
    gas_used: int | None = None
    raw_tx: bytes | None = None


@dataclass
class _InFlight:
    """One nonce of ours in the pool, and the hashes of every signed version of it sent."""

    label: str
    tx: dict[str, Any]
    nonce: int
    fees: Fees
    hashes: list[str]
    bumps: int = 0


class Transactor:
    """Sends transactions from one account, tracking its nonce locally between sends.

    `stuck_after_s`: re-sign a transaction not mined after that long with fees bumped by more
    than 12.5% (at most `max_fee_bumps` times, never above `gas_price_cap_wei`); None never
    replaces. `on_event` sees every step (`TxEvent`); an exception it raises propagates to the
    caller of `send`, so it must not raise (after "sent" the transaction is already out).
    `fee_ttl_s`: reuse the fees looked up for a transaction for that long (0: look up every
    time). An EIP-1559 max fee is twice the base fee, which rises at most 12.5% a block, so
    reusing it within a block time or two is safe and saves a round trip per transaction.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        receipt_timeout_s: float = 60.0,
        gas_price_cap_wei: int | None = None,
        stuck_after_s: float | None = None,
        max_fee_bumps: int = 3,
        on_event: Callable[[TxEvent], None] | None = None,
        fee_ttl_s: float = 0.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.receipt_timeout_s = receipt_timeout_s
        self.gas_price_cap_wei = gas_price_cap_wei
        self.stuck_after_s = stuck_after_s
        self.max_fee_bumps = max_fee_bumps
        self.on_event = on_event
        self.fee_ttl_s = fee_ttl_s
        self._fees: tuple[Fees, float] | None = None  # (fees, when looked up: monotonic)
        self._chain_id = int(w3.eth.chain_id)
        self._next_nonce: int | None = None

    def resync_nonce(self) -> int:
        """Take the nonce from the node's pending count: after restarts or foreign sends."""
        self._next_nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        return self._next_nonce

    def pending_count(self) -> int:
        """How many transactions of this account wait in the node's pool."""
        return pending_count(self.w3, self.address)

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Wait until no transaction of this account is pending; False if some still are.

        A restarted bot calls this before reading its offers, so it never places again what a
        transaction of its previous run is about to place.
        """
        deadline = time.monotonic() + timeout_s
        while self.pending_count() > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(IDLE_POLL_S)
        self.resync_nonce()
        return True

    def rebroadcast(self, raw_tx: bytes) -> str | None:
        """Send a transaction signed earlier again (from a journal, after a node restart).

        Returns its hash while it is pending or mined, or None when another transaction took
        its nonce (it can never mine). The local nonce is resynced on the next send.
        """
        sender = Account.recover_transaction(raw_tx)
        if sender != self.address:
            raise TxError(f"rebroadcast: transaction is from {sender}, not {self.address}")
        tx_hash = Web3.keccak(raw_tx).to_0x_hex()
        result, message = self._send_raw(raw_tx, tx_hash)
        self._next_nonce = None
        if result == "other":
            raise TxError(f"rebroadcast: node refused {tx_hash}: {message}", tx_hash)
        return tx_hash if result in ("accepted", "already_known") else None

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

    def send(self, tx: TxParams | Mapping[str, Any], *, label: str) -> TxReceipt:
        """Sign, send and wait; raises `TxError` on refusal, revert or timeout.

        Fills in what `tx` lacks: chain id, sender, current fees and gas (estimate + 20%). The
        nonce is always this transactor's own. Fees above the cap raise `GasPriceCapExceeded`.
        """
        prepared = self._prepare(tx, label)
        flight = self._submit(prepared, label)
        receipt = self._await_receipt(flight)
        return self._check_status(receipt, flight)

    def _prepare(self, tx: TxParams | Mapping[str, Any], label: str) -> dict[str, Any]:
        prepared = {key: value for key, value in tx.items() if key != "nonce"}
        prepared["chainId"] = self._chain_id
        prepared.setdefault("from", self.address)
        fees = Fees.of(prepared)
        if fees is None:
            prepared.update(current_fees(self.w3, self.gas_price_cap_wei).fields)
        else:
            check_cap(fees, self.gas_price_cap_wei)
        if "gas" not in prepared:
            try:
                estimate = int(self.w3.eth.estimate_gas(cast(TxParams, prepared)))
            except (ContractCustomError, ContractLogicError) as exc:
                raise TxError(f"{label}: {decode_revert(_revert_data(exc))}") from None
            prepared["gas"] = estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN
        return prepared

    def _submit(self, tx: dict[str, Any], label: str) -> _InFlight:
        """Sign with our next nonce and send, re-signing while the pool says it is taken."""
        message = ""
        for _ in range(MAX_SEND_ATTEMPTS):
            nonce = self.resync_nonce() if self._next_nonce is None else self._next_nonce
            signed = self._sign(tx, nonce)
            tx_hash = signed.hash.to_0x_hex()
            self._emit("signed", label, tx_hash, nonce, raw_tx=bytes(signed.raw_transaction))
            result, message = self._send_raw(signed.raw_transaction, tx_hash)
            if result in ("accepted", "already_known"):
                self._next_nonce = nonce + 1
                flight = _InFlight(label, {**tx, "nonce": nonce}, nonce, _fees(tx), [tx_hash])
                self._emit("sent", label, tx_hash, nonce, raw_tx=bytes(signed.raw_transaction))
                return flight
            self.resync_nonce()
            if result == "other":
                self._emit("failed", label, tx_hash, nonce)
                raise TxError(f"{label}: node refused the transaction: {message}")
        self._emit("failed", label, tx_hash, nonce)
        raise TxError(f"{label}: node refused {MAX_SEND_ATTEMPTS} nonces in a row: {message}")

    def _send_raw(self, raw_tx: bytes, tx_hash: str) -> tuple[SendResult, str]:
        try:
            return send_raw(self.w3, raw_tx, tx_hash)
        except Exception:
            self._next_nonce = None  # the node may or may not have it now: ask it next time
            raise

    def _await_receipt(self, flight: _InFlight) -> TxReceipt:
        """Poll for a receipt of any version of the transaction, replacing it while stuck."""
        now = time.monotonic()
        deadline, next_bump = now + self.receipt_timeout_s, self._bump_time(now)
        while (receipt := first_receipt(self.w3, flight.hashes)) is None:
            now = time.monotonic()
            if now >= deadline:
                self._next_nonce = None  # if the pool dropped it, its nonce is free again
                message = f"{flight.label}: not mined within {self.receipt_timeout_s:g}s"
                raise TxError(message, flight.hashes[-1])
            if now >= next_bump:
                self._replace(flight)
                next_bump = self._bump_time(now)
            time.sleep(RECEIPT_POLL_S)
        return receipt

    def _bump_time(self, now: float) -> float:
        return math.inf if self.stuck_after_s is None else now + self.stuck_after_s

    def _replace(self, flight: _InFlight) -> None:
        """Re-sign the stuck nonce with bumped fees, unless out of bumps or over the cap."""
        if flight.bumps >= self.max_fee_bumps:
            return
        fees = bump_within_cap(flight.fees, self.gas_price_cap_wei)
        if fees is None:
            flight.bumps = self.max_fee_bumps  # stay under the cap: wait for what is in the pool
            return
        flight.bumps, flight.fees = flight.bumps + 1, fees
        signed = self._sign({**flight.tx, **fees.fields}, flight.nonce)
        tx_hash = signed.hash.to_0x_hex()
        self._emit(
            "signed", flight.label, tx_hash, flight.nonce, raw_tx=bytes(signed.raw_transaction)
        )
        result, _ = self._send_raw(signed.raw_transaction, tx_hash)
        if result in ("accepted", "already_known"):
            flight.hashes.append(tx_hash)
            raw_tx = bytes(signed.raw_transaction)
            self._emit("replaced", flight.label, tx_hash, flight.nonce, raw_tx=raw_tx)
        elif result != "underpriced_replacement":
            flight.bumps = self.max_fee_bumps  # the nonce was mined meanwhile, or refused: wait

    def _check_status(self, receipt: TxReceipt, flight: _InFlight) -> TxReceipt:
        tx_hash = receipt["transactionHash"].to_0x_hex()
        gas_used = int(receipt["gasUsed"])
        if receipt["status"] != 1:
            self._emit("failed", flight.label, tx_hash, flight.nonce, gas_used=gas_used)
            reason = self._replay_reason(flight.tx, receipt["blockNumber"])
            raise TxError(f"{flight.label}: {reason} (tx {tx_hash})", tx_hash)
        self._emit("mined", flight.label, tx_hash, flight.nonce, gas_used=gas_used)
        return receipt

    def _replay_reason(self, tx: dict[str, Any], block_number: int) -> str:
        """Re-run a failed transaction as a call on its parent block to learn why it reverted."""
        call = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self.w3.eth.call(cast(TxParams, call), block_number - 1)
        except (ContractCustomError, ContractLogicError) as exc:
            return decode_revert(_revert_data(exc))
        except Web3RPCError as exc:
            return f"reverted ({rpc_error_message(exc)})"
        return "reverted on chain (the replay succeeded: state changed in between)"

    def _sign(self, tx: dict[str, Any], nonce: int) -> SignedTransaction:
        return self.account.sign_transaction({**tx, "nonce": nonce})

    def _emit(
        self,
        kind: TxEventKind,
        label: str,
        tx_hash: str,
        nonce: int,
        *,
        gas_used: int | None = None,
        raw_tx: bytes | None = None,
    ) -> None:
        if self.on_event is not None:
            self.on_event(TxEvent(kind, label, tx_hash, nonce, gas_used, raw_tx))

    def _current_fees(self) -> Fees:
        now = time.monotonic()
        if self._fees is not None and now - self._fees[1] < self.fee_ttl_s:
            return check_cap(self._fees[0], self.gas_price_cap_wei)
        fees = current_fees(self.w3, self.gas_price_cap_wei)
        self._fees = (fees, now)
        return fees

    def _base_tx(self, gas: int | None) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": self.address}
        tx.update(self._current_fees().fields)
        if gas is not None:
            tx["gas"] = gas
        return tx


def _fees(tx: Mapping[str, Any]) -> Fees:
    fees = Fees.of(tx)
    if fees is None:
        raise AssertionError("a prepared transaction always carries fees")
    return fees


def _revert_data(exc: ContractCustomError | ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None
