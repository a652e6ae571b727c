"""One transaction of ours on its way to a block: its signed versions, how it is chased, and
the events (`TxEvent`) a sender reports along the way.

While waiting for a receipt the sender keeps the transaction alive: it re-signs a stuck one with
bumped fees (`Fees.bumped`, never above the operator's cap) and rebroadcasts it when the node no
longer knows it (a restarted node forgets its pool). Both are driven by `InFlight.due`, so a
bot can hand a transaction that outlived its tick to the next tick and keep chasing it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from bots.chain.fees import Fees

REBROADCAST_CHECK_S = 2.0  # how often a waiting sender asks whether the node still knows the tx


TxEventKind = Literal["signed", "sent", "mined", "failed", "replaced", "rebroadcast"]


@dataclass(frozen=True)
class TxEvent:
    """One step in a transaction's life, for metrics and a crash-recovery journal.

    "signed" comes just before the raw transaction leaves the process, so a journal that
    records it cannot miss one the node may already hold. "signed", "sent" and "replaced"
    carry the signed `raw_tx` (a journal can rebroadcast it after a restart); "mined" and
    "failed" (reverted on chain) carry `gas_used`. A node's refusal is "failed" without gas.
    "rebroadcast": the node had forgotten a pending transaction and got it again.
    A transaction still pending when a wait ends emits nothing: it is held and may still mine.
    """

    kind: TxEventKind
    label: str
    tx_hash: str
    nonce: int
    gas_used: int | None = None
    raw_tx: bytes | None = None
    reason: str | None = None  # "failed" only: out_of_gas, refused, or the custom error's name


@dataclass
class InFlight:
    """One nonce of ours in the pool: every signed version sent (hash and raw bytes, oldest
    first) and when the next bump and the next "does the node still know it" check are due
    (monotonic seconds)."""

    label: str
    tx: dict[str, Any]
    nonce: int
    fees: Fees
    hashes: list[str]
    raws: list[bytes]
    stuck_after_s: float | None
    started: float
    bumps: int = 0
    next_bump: float = field(init=False)
    next_check: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_bump = self._bump_after(self.started)
        self.next_check = self.started + REBROADCAST_CHECK_S

    def _bump_after(self, now: float) -> float:
        return math.inf if self.stuck_after_s is None else now + self.stuck_after_s

    def bump_due(self, now: float) -> bool:
        if now < self.next_bump:
            return False
        self.next_bump = self._bump_after(now)
        return True

    def check_due(self, now: float) -> bool:
        if now < self.next_check:
            return False
        self.next_check = now + REBROADCAST_CHECK_S
        return True

    def add_version(self, tx_hash: str, raw: bytes, fees: Fees) -> None:
        self.hashes.append(tx_hash)
        self.raws.append(raw)
        self.fees = fees

    @property
    def latest_hash(self) -> str:
        return self.hashes[-1]

    @property
    def latest_raw(self) -> bytes:
        return self.raws[-1]
