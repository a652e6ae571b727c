"""The account's next nonce as this process sees it, and the nonces it accounts for.

A nonce counts as ours from the moment we sign a transaction with it, whether or not the node's
answer arrived. In strict mode (a bot) the chain or the pool showing more transactions than
that means someone else is sending from the account: `ForeignTransactionError`.
"""

from __future__ import annotations

from bots.errors import ForeignTransactionError


class Nonces:
    """`next`: the nonce to sign with (None: ask the node first); `accounted`: nonces below it
    were signed here or known when the process synced (None: nothing known yet)."""

    def __init__(self, address: str, *, strict: bool = False) -> None:
        self.address = address
        self.strict = strict
        self.next: int | None = None
        self.accounted: int | None = None

    def synced(self, pending: int) -> int:
        """Take the node's pending count as the next nonce (checked in strict mode)."""
        self.account_for(pending)
        self.next = pending
        return pending

    def account_for(self, count: int) -> None:
        """The chain or pool shows `count` transactions of the account: all ours?"""
        if self.strict and self.accounted is not None and count > self.accounted:
            raise ForeignTransactionError(
                f"account {self.address} has {count} transactions but this process accounts "
                f"for {self.accounted}: another process or wallet is sending from it"
            )
        self.accounted = max(self.accounted or 0, count)

    def signed(self, nonce: int) -> None:
        self.account_for(nonce)
        self.accounted = max(self.accounted or 0, nonce + 1)

    def relax(self) -> None:
        """Leave strict mode and ask the node next time (after a foreign transaction)."""
        self.strict = False
        self.next = None
