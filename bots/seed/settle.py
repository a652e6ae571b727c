"""What a mined seed transaction changes in the deployment file, and settling an earlier run.

Every seed transaction is recorded before it is sent (`TxRecord`), so a run that stopped at any
point left at most a few records without a receipt. Before planning anything, the next run
settles them against the chain, after waiting until the initializer has nothing pending:

- mined: adopted. Its receipt completes the record and, when it succeeded, its effect is
  recorded: a deploy's address (code checked at the address the nonce creates), an offering's
  id, a donation. A reverted one only completes the record; its action is planned again. A
  transaction the node knows but has no receipt for yet is waited for.
- not mined, and the chain already counts past its nonce: another transaction used the nonce,
  so this one can never mine; the record is dropped and its action planned again. (Unless it
  is a deploy and its address has code: then the node lost the receipt, and the run refuses
  to guess.)
- not mined, nonce still free: it was never sent, or the pool dropped it. It is sent again,
  byte for byte (same nonce, same hash), by the caller: nothing can be planned twice while it
  could still mine.

`mined` is shared with the normal path, so an adopted transaction reads exactly like one the
run saw through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_typing import HexStr
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.chain.txpool import is_known
from bots.errors import ChainError
from bots.market.client import made_offer_ids
from bots.market.deployment import (
    AssetRecord,
    Deployment,
    DonationRecord,
    OfferingRecord,
    TxRecord,
)

KNOWN_WAIT_S = 60.0
POLL_S = 0.05


@dataclass(frozen=True)
class Settled:
    """The deployment with what could be settled read-only, and what must be sent again."""

    deployment: Deployment
    notes: tuple[str, ...]  # one line per adopted or dropped record
    resend: tuple[TxRecord, ...]  # not mined, nonce free, by nonce: to send again


def settle_recorded(w3: Web3, initializer: str, deployment: Deployment) -> Settled:
    """Adopt the mined records, drop those whose nonce another transaction used (reads only).

    Call it once the initializer has nothing pending, else a pending record counts as free.
    """
    used = int(w3.eth.get_transaction_count(Web3.to_checksum_address(initializer), "latest"))
    notes: list[str] = []
    resend: list[TxRecord] = []
    for record in deployment.in_flight():
        receipt = _receipt(w3, record.tx)
        if receipt is None and is_known(w3, record.tx):  # mined but not indexed yet, or pending
            receipt = _await_receipt(w3, record)
        if receipt is None and record.nonce < used and _has_code(w3, record.creates):
            raise ChainError(
                f"{record.label}: no receipt, but its nonce is used and {record.creates} has code: "
                "the node may have pruned the transaction; check it and edit the record by hand"
            )
        if receipt is not None:
            deployment = mined(w3, deployment, record, receipt)
            outcome = "mined" if receipt["status"] == 1 else "reverted"
            notes.append(f"adopted {record.label}: {outcome} in block {receipt['blockNumber']}")
        elif record.nonce < used or record.raw is None:
            deployment = deployment.without_tx(record.nonce)
            notes.append(f"dropped {record.label}: never mined, its nonce went to another one")
        else:
            resend.append(record)
            notes.append(f"resend {record.label}: never mined, its nonce is still free")
    return Settled(deployment, tuple(notes), tuple(resend))


def mined(w3: Web3, deployment: Deployment, record: TxRecord, receipt: TxReceipt) -> Deployment:
    """`record` completed by its receipt (block, status; signed bytes dropped) and its effect.

    The effect of a successful transaction: "deploy market" sets the market, "deploy asset"
    records the asset (name and decimals read from the new contract), "offer" the offering with
    the id its `LogMake` announced, "donate" the donation. Raises `ChainError` when a deploy's
    receipt names another address than the recorded one or it has no code, or an offer made no
    offer: the chain is not what the record says.
    """
    status = 1 if receipt["status"] == 1 else 0
    block = int(receipt["blockNumber"])
    done = record.model_copy(update={"block": block, "status": status, "raw": None})
    deployment = deployment.with_tx(done)
    if status != 1:
        return deployment
    tx = record.tx
    if record.kind == "deploy market":
        return deployment.model_copy(update={"market": _created(w3, record, receipt)})
    if record.kind == "deploy asset" and record.key is not None:
        token = _token(w3, _created(w3, record, receipt))
        name, decimals = str(token.functions.name().call()), int(token.functions.decimals().call())
        asset = AssetRecord(address=token.address, name=name, decimals=decimals)
        return deployment.with_asset(record.key, asset)
    if record.kind == "offer" and record.key is not None:
        market = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.require_market()),
            abi=load_artifact("OtcMarket").abi,
        )
        ids = made_offer_ids(market, receipt)
        if not ids:
            raise ChainError(f"{record.label} succeeded but made no offer on {market.address}")
        offering = OfferingRecord(tx=tx, offer_id=hex(ids[0]), block=block)
        return deployment.with_offering(record.key, offering)
    if record.kind == "donate" and record.key is not None:
        return deployment.with_donation(record.key, DonationRecord(tx=tx, block=block))
    return deployment


def _created(w3: Web3, record: TxRecord, receipt: TxReceipt) -> str:
    """The recorded deploy address, checked against the receipt and the code on chain."""
    address = receipt.get("contractAddress")
    if record.creates is None or address is None or address != record.creates:
        raise ChainError(
            f"{record.label}: created {address}, but the record predicted {record.creates}"
        )
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise ChainError(f"{record.label}: no code at {address} although the deploy succeeded")
    return str(address)


def _token(w3: Web3, address: str) -> Contract:
    abi = load_artifact("AssetToken").abi
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def _has_code(w3: Web3, address: str | None) -> bool:
    return address is not None and bool(w3.eth.get_code(Web3.to_checksum_address(address)))


def _await_receipt(w3: Web3, record: TxRecord, timeout_s: float = KNOWN_WAIT_S) -> TxReceipt:
    """The receipt of a transaction the node knows, once it has one; `ChainError` after
    `timeout_s` (the caller waited for an idle pool first, so this is rare)."""
    deadline = time.monotonic() + timeout_s
    while (receipt := _receipt(w3, record.tx)) is None:
        if time.monotonic() >= deadline:
            raise ChainError(
                f"{record.label}: the node knows it but has not mined it after {timeout_s:g}s: "
                "run the seed again later"
            )
        time.sleep(POLL_S)
    return receipt


def _receipt(w3: Web3, tx_hash: str) -> TxReceipt | None:
    try:
        return w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except (TransactionNotFound, TransactionIndexingInProgress):
        return None
