"""The node's transaction pool: sending raw transactions and what its refusals mean.

Nodes refuse `eth_sendRawTransaction` with free text, and every client words the same situation
its own way. The nonce manager in `bots.chain.transactor` needs only four answers: the nonce
is already used (resync and re-sign), this very transaction is already in the pool (just wait for
it), another transaction of ours holds the nonce (resync and take the next one), or anything else
(give up).
"""

from __future__ import annotations

import time
from typing import Literal

from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import RPCEndpoint, TxReceipt

from bots.addresses import checksum
from bots.chain.receipts import fetch_receipts
from bots.chain.rpc import answer_error_message

KNOWN_CHECKS = 5
KNOWN_CHECK_PAUSE_S = 0.1

SendErrorKind = Literal["nonce_too_low", "already_known", "underpriced_replacement", "other"]
SendResult = Literal["accepted"] | SendErrorKind

# Matched against the lower-cased message with "_" read as " " (Besu answers NONCE_TOO_LOW).
# "Already known" is checked first: it is the one case where nothing must be re-signed.
_WORDINGS: tuple[tuple[SendErrorKind, tuple[str, ...]], ...] = (
    (
        "already_known",
        (
            "already known",  # geth, erigon, reth, Nethermind >= 1.20, Besu
            "alreadyknown",  # Nethermind before it adopted geth's wording
            "already imported",  # anvil; OpenEthereum/Parity "...same hash was already imported."
            "known transaction",  # geth before 1.9.14, Besu "Known transaction"
            "existing tx with same hash",  # erigon INTERNAL_ERROR
        ),
    ),
    (
        "nonce_too_low",
        (
            "nonce too low",  # geth, anvil, erigon, reth, Nethermind >= 1.20, Besu NONCE_TOO_LOW
            "nonce is too low",  # OpenEthereum/Parity "Transaction nonce is too low. ..."
            "oldnonce",  # Nethermind before it adopted geth's wording
        ),
    ),
    (
        "underpriced_replacement",
        (
            "replacement transaction underpriced",  # geth, anvil, erigon, Nethermind >= 1.20
            "replacement underpriced",  # Besu REPLACEMENT_UNDERPRICED
            "another transaction with same nonce",  # OpenEthereum/Parity "...in the queue."
            "replacementnotallowed",  # Nethermind before it adopted geth's wording
        ),
    ),
)


def classify_send_error(message: str) -> SendErrorKind:
    """Sort a node's refusal of a raw transaction into what the sender should do about it.

    Nethermind's `FeeTooLowToCompete` (and geth's plain "transaction underpriced") is "other" on
    purpose: it means the pool is full of better-paying transactions, and a fresh nonce with the
    same fee would be refused the same way.
    """
    text = message.lower().replace("_", " ")
    for kind, wordings in _WORDINGS:
        if any(wording in text for wording in wordings):
            return kind
    return "other"


def send_raw(w3: Web3, raw_tx: bytes, tx_hash: str) -> tuple[SendResult, str]:
    """Send a signed transaction; say how the pool took it, with the node's message if refused.

    "Nonce too low" for a transaction the node already has (mined, or sent twice by a retried
    request whose first answer was lost) counts as already known: it is ours, not a rival.
    Transport failures propagate.
    """
    answer = w3.provider.make_request(
        RPCEndpoint("eth_sendRawTransaction"), ["0x" + raw_tx.hex()]
    )  # straight through the provider: web3's formatting costs more than the send
    if "error" not in answer:
        return "accepted", ""
    message = answer_error_message(answer) or "refused without a message"
    kind = classify_send_error(message)
    if kind == "nonce_too_low" and _known_soon(w3, tx_hash):
        kind = "already_known"
    return kind, message


def _known_soon(w3: Web3, tx_hash: str) -> bool:
    """`is_known`, asked a few times: while a node moves a transaction from its pool into a
    block it can refuse a resend as "nonce too low" yet not report the transaction for a
    moment. Deciding "a rival took our nonce" then would re-sign it with the next nonce and
    execute it twice; the wait only delays the rare case of a genuine rival."""
    for attempt in range(KNOWN_CHECKS):
        if is_known(w3, tx_hash):
            return True
        if attempt + 1 < KNOWN_CHECKS:
            time.sleep(KNOWN_CHECK_PAUSE_S)
    return False


def is_known(w3: Web3, tx_hash: str) -> bool:
    """Whether the node has this transaction, pending or mined."""
    try:
        w3.eth.get_transaction(HexStr(tx_hash))
    except TransactionNotFound:
        return False
    return True


def first_receipt(w3: Web3, hashes: list[str]) -> TxReceipt | None:
    """The receipt of whichever of `hashes` (versions of one nonce) was mined, if any yet: all
    versions asked in one round trip, raw (`bots.chain.receipts`), newest first."""
    for receipt in fetch_receipts(w3, list(reversed(hashes))):
        if receipt is not None:
            return receipt
    return None


def pending_count(w3: Web3, address: str) -> int:
    """How many transactions of `address` wait in the node's pool (pending minus mined nonce)."""
    owner = checksum(address)
    pending = int(w3.eth.get_transaction_count(owner, "pending"))
    return max(0, pending - int(w3.eth.get_transaction_count(owner, "latest")))
