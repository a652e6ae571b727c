"""What a restarted bot does about the transactions of its previous run.

A bot journals every transaction it signs before sending it (`bots.chain.journal`). After a
restart, possibly of the node too, it sends the journaled ones again as they are (never signed
anew, so none can execute twice) and waits until none of its account's transactions is
pending, so its first read of the chain already shows what they did.
"""

from __future__ import annotations

import time

from eth_account import Account
from web3 import Web3

from bots.chain.transactor import Transactor
from bots.errors import TxError

IDLE_POLL_S = 0.2


def rebroadcast(transactor: Transactor, raw_tx: bytes) -> str | None:
    """Send a transaction signed earlier again (from a journal, after a node restart).

    Returns its hash while it is pending or mined, or None when another transaction took its
    nonce (it can never mine). The transactor's nonce is asked of the node on its next send.
    Raises `TxError` for a transaction of another account or one the node refuses outright.
    """
    sender = Account.recover_transaction(raw_tx)
    if sender != transactor.address:
        raise TxError(f"rebroadcast: transaction is from {sender}, not {transactor.address}")
    tx_hash = Web3.keccak(raw_tx).to_0x_hex()
    result, message = transactor.send_signed(raw_tx, tx_hash)
    transactor.nonces.next = None
    if result == "other":
        raise TxError(f"rebroadcast: node refused {tx_hash}: {message}", tx_hash)
    return tx_hash if result in ("accepted", "already_known") else None


def wait_until_idle(transactor: Transactor, timeout_s: float) -> bool:
    """Wait until no transaction of the transactor's account is pending; False if some still
    are after `timeout_s`. Then the transactor's nonce is the node's.

    A restarted bot calls this before reading its offers, so it never places again what a
    transaction of its previous run is about to place.
    """
    deadline = time.monotonic() + timeout_s
    while transactor.pending_count() > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(IDLE_POLL_S)
    transactor.resync_nonce()
    return True
