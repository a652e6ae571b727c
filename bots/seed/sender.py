"""Signing at a nonce the seed job chooses, sending, and waiting: a transaction never moves.

`bots.chain.transactor.Transactor` re-signs with the next nonce when the pool says a nonce is
taken, which is right for a bot but wrong here: the seed records each transaction (nonce, hash,
signed bytes) before sending it, and a second signature of the same action on another nonce
could mine too (two issues, two deploys). So this sender signs exactly the nonce it is given,
sends exactly those bytes, and when the nonce turns out to be taken it stops with an error and
leaves the record to the next run, which settles it from the chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import rlp
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionIndexingInProgress,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxParams, TxReceipt

from bots.artifacts import Artifact
from bots.chain.fees import current_fees
from bots.chain.revert import decode_revert
from bots.chain.txpool import send_raw
from bots.errors import ChainError, TxError
from bots.seed.interrupt import Stop

RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.05
VALUE_TRANSFER_GAS = 21_000


def create_address(sender: str, nonce: int) -> str:
    """The address a contract-creating transaction from `sender` with `nonce` deploys to.

    `keccak256(rlp([sender, nonce]))[12:]`, checksummed (the CREATE rule of the yellow paper).
    """
    encoded = bytes(rlp.encode([to_canonical_address(sender), nonce]))
    return str(to_checksum_address(keccak(encoded)[12:]))


@dataclass(frozen=True)
class Signed:
    """A signed transaction: its nonce, hash (0x-hex), raw bytes and, for a deploy, the address."""

    nonce: int
    tx_hash: str
    raw: bytes
    creates: str | None = None


class NonceSender:
    """Signs for one account at given nonces; sends raw bytes; waits for receipts."""

    def __init__(
        self, w3: Web3, account: LocalAccount, receipt_timeout_s: float = RECEIPT_TIMEOUT_S
    ) -> None:
        self.w3, self.account, self.address = w3, account, account.address
        self.receipt_timeout_s = receipt_timeout_s
        self._chain_id = int(w3.eth.chain_id)

    def sign_call(self, call: ContractFunction, nonce: int) -> Signed:
        """Sign a contract call at `nonce`, gas estimated now; `TxError` if it would revert."""
        try:
            built = call.build_transaction(self._base(nonce))
        except (ContractCustomError, ContractLogicError) as exc:
            raise TxError(f"{call.fn_name}: {decode_revert(_revert_data(exc))}") from None
        return self._sign(dict(built), nonce)

    def sign_deploy(self, artifact: Artifact, args: tuple[Any, ...], nonce: int) -> Signed:
        """Sign the creation of `artifact` with constructor `args`; `creates` is its address."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            built = factory.constructor(*args).build_transaction(self._base(nonce))
        except (ContractCustomError, ContractLogicError) as exc:
            raise TxError(f"deploy {artifact.name}: {decode_revert(_revert_data(exc))}") from None
        signed = self._sign(dict(built), nonce)
        return Signed(nonce, signed.tx_hash, signed.raw, create_address(self.address, nonce))

    def sign_value(self, to: str, value_wei: int, nonce: int) -> Signed:
        """Sign a plain transfer of `value_wei` wei to `to`."""
        tx = {**self._base(nonce), "to": Web3.to_checksum_address(to), "value": value_wei}
        return self._sign({**tx, "gas": VALUE_TRANSFER_GAS}, nonce)

    def broadcast(self, signed_raw: bytes, tx_hash: str, nonce: int) -> None:
        """Send the signed bytes; the node holding them already (or having mined them) is fine.

        Raises `ChainError` when another transaction took `nonce`, `TxError` on any other
        refusal. Transport errors propagate: the bytes may or may not have arrived, and the
        record the caller wrote first lets the next run find out.
        """
        result, message = send_raw(self.w3, signed_raw, tx_hash)
        if result in ("accepted", "already_known"):
            return
        if result == "nonce_too_low":
            raise ChainError(
                f"nonce {nonce} of {self.address} was used by another transaction "
                "(is something else sending with this key?)"
            )
        raise TxError(f"node refused transaction {tx_hash} (nonce {nonce}): {message}", tx_hash)

    def wait(self, tx_hash: str, stop: Stop | None, where: Callable[[], str]) -> TxReceipt:
        """The receipt of `tx_hash`, polled until it comes, `stop` is requested or time is up.

        Raises `SeedInterrupted` (through `stop.check`) or `TxError` on the deadline.
        """
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except (TransactionNotFound, TransactionIndexingInProgress):
                pass
            if stop is not None:
                stop.check(where)
            if time.monotonic() >= deadline:
                raise TxError(
                    f"transaction {tx_hash} not mined within {self.receipt_timeout_s:g}s; it "
                    "stays recorded: run the seed again once it is mined or dropped",
                    tx_hash,
                )
            time.sleep(RECEIPT_POLL_S)

    def revert_reason(self, tx_hash: str, block: int) -> str:
        """Why a mined transaction reverted: it is replayed as a call on its parent block."""
        tx = self.w3.eth.get_transaction(HexStr(tx_hash))
        call: dict[str, Any] = {
            "from": tx["from"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        if tx.get("to"):
            call["to"] = tx["to"]
        try:
            self.w3.eth.call(cast(TxParams, call), block - 1)
        except (ContractCustomError, ContractLogicError) as exc:
            return decode_revert(_revert_data(exc))
        except Web3RPCError:
            return "reverted"
        return "reverted on chain (the replay succeeded: state changed in between)"

    def _base(self, nonce: int) -> TxParams:
        fees = current_fees(self.w3).fields
        return cast(
            TxParams, {"from": self.address, "chainId": self._chain_id, "nonce": nonce, **fees}
        )

    def _sign(self, tx: dict[str, Any], nonce: int) -> Signed:
        signed = self.account.sign_transaction({**tx, "nonce": nonce})
        return Signed(nonce, signed.hash.to_0x_hex(), bytes(signed.raw_transaction))


def _revert_data(exc: ContractCustomError | ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None
