"""Signing and sending transactions for one local account.

Keys never leave the process: transactions are signed here and sent raw, a transaction the node
already holds is waited for and never signed twice, success means `status == 1`, and a failure
is a `TxError` saying why (`bots.chain.failure`). A transaction not mined within the caller's
wait is *held*, not given up: `send` raises `TxPending` and refuses every new send until
`settle_held` sees it mined, so a bot tick never blocks for long and never acts on a book a
pending transaction is about to change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxParams, TxReceipt

from bots.addresses import checksum
from bots.artifacts import Artifact
from bots.chain.failure import mined_failure
from bots.chain.fees import Fees, GasPriceCapExceeded, bump_within_cap, check_cap, current_fees
from bots.chain.inflight import InFlight, TxEvent, TxEventKind
from bots.chain.nonces import Nonces
from bots.chain.revert import decode_revert, revert_data
from bots.chain.rpc import budget_left
from bots.chain.txpool import SendResult, first_receipt, is_known, pending_count, send_raw
from bots.chain.waits import wait_left
from bots.errors import ForeignTransactionError, TxError, TxPending

__all__ = ["Fees", "GasPriceCapExceeded", "Transactor", "TxEvent", "current_fees"]

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 5, 4  # estimate * 1.25: state can move before mining
MAX_SEND_ATTEMPTS = 3  # signatures per send when the pool says the nonce is taken
RECEIPT_POLL_S = 0.05  # the first receipt poll: automining dev chains answer at once
MAX_RECEIPT_POLL_S = 0.5  # polls slow down by half each time up to this (PoA blocks: seconds)


class Transactor:
    """Sends transactions from one account, tracking its nonce locally between sends.

    `receipt_timeout_s`: how long `send` waits for a receipt before it holds the transaction
    and raises `TxPending`. `stuck_after_s`: re-sign a transaction not mined after that long
    with fees bumped by more than 12.5% (at most `max_fee_bumps` times, never above
    `gas_price_cap_wei`); None never replaces. `on_event` sees every step (`TxEvent`); an
    exception it raises propagates to the caller of `send`, so it must not raise.
    `fee_ttl_s`: reuse the fees looked up for a transaction for that long (0: look up every
    time); an EIP-1559 max fee is twice the base fee, which rises at most 12.5% a block.
    `strict_nonces`: a nonce taken by a transaction we did not sign raises
    `ForeignTransactionError` instead of moving on to the next nonce.
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
        strict_nonces: bool = False,
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
        self.nonces = Nonces(account.address, strict=strict_nonces)
        self._held: InFlight | None = None

    # ------------------------------------------------------------------ nonces
    def resync_nonce(self) -> int:
        """Take the nonce from the node's pending count: after restarts or foreign sends."""
        pending = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        return self.nonces.synced(pending)

    def relax_nonces(self) -> None:
        """Leave strict mode and resync on the next send: after a foreign transaction was
        detected, the bot must still be able to pull its offers with the next free nonce."""
        self.nonces.relax()

    def abandon_held(self) -> None:
        """Stop chasing the held transaction (it cannot mine: see `Executor.check_nonce`) and
        take the next nonce from the node. Its signed versions stay in the journal."""
        self._held = None
        self.resync_nonce()

    def check_chain_nonce(self, mined: int) -> None:
        """Raise `ForeignTransactionError` when the chain shows more transactions of this account
        than this transactor has signed or known of (strict mode only)."""
        self.nonces.account_for(mined)

    def pending_count(self) -> int:
        """How many transactions of this account wait in the node's pool."""
        return pending_count(self.w3, self.address)

    # ------------------------------------------------------------------ sending
    def transact(
        self, call: ContractFunction, *, gas: int | None = None, headroom: int = 0
    ) -> TxReceipt:
        """Send a contract call and wait for a successful receipt.

        Without `gas`, the limit is the node's estimate plus 25% plus `headroom` (gas the call
        may need beyond the estimate if other transactions land first in its block); the
        calldata is encoded here so web3 never fills in a bare estimate.
        """
        data = call._encode_transaction_data()
        return self.transact_data(
            call.address, data, label=call.fn_name, gas=gas, headroom=headroom
        )

    def transact_data(
        self, to: str, data: str, *, label: str, gas: int | None = None, headroom: int = 0
    ) -> TxReceipt:
        """`transact` for calldata encoded by the caller (the market client's hot calls)."""
        tx = self._base_tx(gas)
        tx.update(to=to, data=data, value=0)
        return self.send(tx, label=label, headroom=headroom)

    def deploy(self, artifact: Artifact, *args: Any) -> tuple[Contract, TxReceipt]:
        """Deploy `artifact` with constructor `args`; return the bound contract and receipt."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self.send({**self._base_tx(None), "data": data}, label=f"deploy {artifact.name}")
        address = receipt["contractAddress"]
        if address is None:
            raise TxError(f"deploy {artifact.name}: receipt has no contract address")
        return self.w3.eth.contract(address=address, abi=artifact.abi), receipt

    def send_value(self, to: str, value_wei: int) -> TxReceipt:
        """Send native coin (gas money)."""
        tx = {**self._base_tx(21_000), "to": checksum(to), "value": value_wei}
        return self.send(tx, label="send value")

    def send(
        self,
        tx: TxParams | Mapping[str, Any],
        *,
        label: str,
        wait_s: float | None = None,
        headroom: int = 0,
    ) -> TxReceipt:
        """Sign, send and wait up to `wait_s` (default `receipt_timeout_s`) for the receipt.

        Fills in what `tx` lacks: chain id, sender, current fees and gas (the node's estimate
        plus 25% plus `headroom`). The nonce is always this transactor's own. Raises `TxError` on
        refusal or revert, `GasPriceCapExceeded` for fees above the cap, and `TxPending` when the
        receipt did not come in time or an earlier transaction is still held.
        """
        if self._held is not None:
            held = self._held
            raise TxPending(
                f"{label}: not sent, {held.label} (nonce {held.nonce}) is still pending",
                held.latest_hash,
            )
        prepared = self._prepare(tx, label, headroom)
        flight = self._submit(prepared, label)
        wait = self._wait(self.receipt_timeout_s if wait_s is None else wait_s)
        try:
            receipt = self._chase(flight, time.monotonic() + wait) if wait > 0 else None
        except Exception:
            self._held = flight  # sent: whatever went wrong while waiting, it may still mine
            raise
        if receipt is None:
            self._held = flight
            raise TxPending(
                f"{label}: not mined within {wait:g}s; held and still chased", flight.latest_hash
            )
        return self._check_status(receipt, flight)

    @property
    def held(self) -> str | None:
        """The label of the transaction still pending from an earlier send, if any."""
        return None if self._held is None else self._held.label

    @property
    def held_nonce(self) -> int | None:  # of the held transaction, if any
        return None if self._held is None else self._held.nonce

    @property
    def held_hashes(self) -> tuple[str, ...]:
        """Every signed version of the held transaction (0x-hex, oldest first); () if none."""
        return () if self._held is None else tuple(self._held.hashes)

    def settle_held(
        self,
        wait_s: float = 0.0,
        *,
        known: TxReceipt | None = None,
        polled: bool = False,
        raise_revert: bool = False,
    ) -> TxReceipt | None:
        """Chase the held transaction for up to `wait_s`; its receipt once mined, else None.

        `known`: its receipt, read already (a tick's snapshot batch asks for it), used without
        polling when it is a version of the held transaction; `polled`: the caller has just
        asked and got none (the chase skips its first poll, still replacing or rebroadcasting
        a stuck transaction). Raises `TxPending` while it is still pending. A held transaction
        that reverted is reported as "failed" and its receipt returned (status 0): the caller
        re-reads the chain; with `raise_revert` it raises that `TxError` (with the reason).
        """
        flight = self._held
        if flight is None:
            return None
        if known is not None and known["transactionHash"].to_0x_hex() in flight.hashes:
            receipt: TxReceipt | None = known
        else:
            deadline = time.monotonic() + self._wait(wait_s)
            receipt = self._chase(flight, deadline, poll=not polled)
        if receipt is None:
            raise TxPending(
                f"{flight.label} (nonce {flight.nonce}) still pending", flight.latest_hash
            )
        self._held = None
        try:
            self._check_status(receipt, flight)
        except TxError:
            if raise_revert:
                raise
            # else reported through on_event ("failed"); the next read of the chain shows it
        return receipt

    def _wait(self, wait_s: float) -> float:
        """`wait_s`, cut to the caller's RPC time budget and its wait bound (a bot tick's)."""
        left = budget_left(self.w3)
        wait = wait_s if left is None else max(0.0, min(wait_s, left - RECEIPT_POLL_S))
        bound = wait_left()
        return wait if bound is None else min(wait, bound)

    def _prepare(
        self, tx: TxParams | Mapping[str, Any], label: str, headroom: int = 0
    ) -> dict[str, Any]:
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
                raise TxError(f"{label}: {decode_revert(revert_data(exc))}") from None
            prepared["gas"] = estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN + headroom
        return prepared

    def _submit(self, tx: dict[str, Any], label: str) -> InFlight:
        """Sign with our next nonce and send, re-signing while the pool says it is taken."""
        message = ""
        for _ in range(MAX_SEND_ATTEMPTS):
            nonce = self.resync_nonce() if self.nonces.next is None else self.nonces.next
            signed = self._sign(tx, nonce)
            tx_hash, raw = signed.hash.to_0x_hex(), bytes(signed.raw_transaction)
            self.nonces.signed(nonce)  # ours from now on, whether or not the node answers
            self._emit("signed", label, tx_hash, nonce, raw_tx=raw)
            flight = InFlight(
                label,
                {**tx, "nonce": nonce},
                nonce,
                Fees.carried(tx),
                [tx_hash],
                [raw],
                self.stuck_after_s,
                time.monotonic(),
            )
            try:
                result, message = self.send_signed(raw, tx_hash)
            except Exception:
                self._held = flight  # the node may have it though its answer was lost
                raise
            if result in ("accepted", "already_known"):
                self.nonces.next = nonce + 1
                self._emit("sent", label, tx_hash, nonce, raw_tx=raw)
                return flight
            if result == "nonce_too_low" and self.nonces.strict:
                self._emit("failed", label, tx_hash, nonce, reason="foreign_nonce")
                raise ForeignTransactionError(
                    f"{label}: nonce {nonce} of {self.address} was used by a transaction this "
                    "process did not sign: another process or wallet is sending from it"
                )
            self.resync_nonce()
            if result == "other":
                self._emit("failed", label, tx_hash, nonce, reason="refused")
                raise TxError(f"{label}: node refused the transaction: {message}")
        self._emit("failed", label, tx_hash, nonce, reason="refused")
        raise TxError(f"{label}: node refused {MAX_SEND_ATTEMPTS} nonces in a row: {message}")

    def send_signed(self, raw_tx: bytes, tx_hash: str) -> tuple[SendResult, str]:
        """Send a transaction signed earlier, as is (`bots.chain.txpool.send_raw`); after a
        transport failure the nonce is asked of the node again."""
        try:
            return send_raw(self.w3, raw_tx, tx_hash)
        except Exception:
            self.nonces.next = None  # the node may or may not have it now: ask it next time
            raise

    def _chase(self, flight: InFlight, deadline: float, poll: bool = True) -> TxReceipt | None:
        """Poll for a receipt of any version until `deadline`, replacing the transaction while
        it is stuck and rebroadcasting it when the node has forgotten it; None if not mined.
        Polls start every 50 ms and slow down to every 0.5 s: a few calls per block, not 20.
        `poll=False`: the caller has just seen no receipt; the first poll is skipped."""
        pause = RECEIPT_POLL_S
        receipt = first_receipt(self.w3, flight.hashes) if poll else None
        while receipt is None:
            now = time.monotonic()  # replacing and rebroadcasting come first: a held
            if flight.bump_due(now):  # transaction is chased by ticks that do not wait
                self._replace(flight)
            elif flight.check_due(now) and not is_known(self.w3, flight.latest_hash):
                self.send_signed(flight.latest_raw, flight.latest_hash)  # a restarted node
                self._emit("rebroadcast", flight.label, flight.latest_hash, flight.nonce)
            if now >= deadline:
                return None
            time.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 3 / 2, MAX_RECEIPT_POLL_S)
            receipt = first_receipt(self.w3, flight.hashes)
        return receipt

    def _replace(self, flight: InFlight) -> None:
        """Re-sign the stuck nonce with bumped fees, unless out of bumps or over the cap."""
        if flight.bumps >= self.max_fee_bumps:
            return
        fees = bump_within_cap(flight.fees, self.gas_price_cap_wei)
        if fees is None:
            flight.bumps = self.max_fee_bumps  # stay under the cap: wait for what is in the pool
            return
        flight.bumps += 1
        signed = self._sign({**flight.tx, **fees.fields}, flight.nonce)
        tx_hash, raw = signed.hash.to_0x_hex(), bytes(signed.raw_transaction)
        self._emit("signed", flight.label, tx_hash, flight.nonce, raw_tx=raw)
        result, _ = self.send_signed(raw, tx_hash)
        if result in ("accepted", "already_known"):
            flight.add_version(tx_hash, raw, fees)
            self._emit("replaced", flight.label, tx_hash, flight.nonce, raw_tx=raw)
        elif result != "underpriced_replacement":
            flight.bumps = self.max_fee_bumps  # the nonce was mined meanwhile, or refused: wait

    def _check_status(self, receipt: TxReceipt, flight: InFlight) -> TxReceipt:
        tx_hash = receipt["transactionHash"].to_0x_hex()
        gas_used = int(receipt["gasUsed"])
        if receipt["status"] != 1:
            failure = mined_failure(self.w3, flight.tx, receipt)
            kind, label, nonce = failure.kind, flight.label, flight.nonce
            self._emit("failed", label, tx_hash, nonce, gas_used=gas_used, reason=kind)
            raise TxError(f"{flight.label}: {failure.text} (tx {tx_hash})", tx_hash)
        self._emit("mined", flight.label, tx_hash, flight.nonce, gas_used=gas_used)
        return receipt

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
        reason: str | None = None,
    ) -> None:
        if self.on_event is not None:
            self.on_event(TxEvent(kind, label, tx_hash, nonce, gas_used, raw_tx, reason))

    def prime_fees(self, fees: Fees) -> None:
        """Fees just read elsewhere (a bot's snapshot): sends within `fee_ttl_s` use them."""
        self._fees = (fees, time.monotonic())

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
