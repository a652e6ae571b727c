"""An append-only on-disk record of the transactions a bot signed, for crash recovery.

The chain is the source of truth for offers; the journal only covers the gap between signing
and mining. A bot killed in that gap may leave a transaction the node has since dropped (a
restarted node forgets its pool). On start the bot rebroadcasts every journaled transaction
whose nonce the chain has not used yet, waits for them to settle, and only then reads its
offers: so it never re-creates offers that a pending transaction is about to create.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.errors import ConfigError


@dataclass(frozen=True, slots=True)
class JournalEntry:
    nonce: int
    tx_hash: str
    raw_tx: bytes
    label: str


class TxJournal:
    """JSON lines: `sent` entries carry the signed raw transaction, `done` entries close them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create journal directory {path.parent}: {exc}") from None

    def sent(self, nonce: int, tx_hash: str, raw_tx: bytes, label: str) -> None:
        record = {"e": "sent", "nonce": nonce, "hash": tx_hash, "raw": raw_tx.hex(), "label": label}
        self._append(record)

    def done(self, tx_hash: str) -> None:
        self._append({"e": "done", "hash": tx_hash})

    def open_entries(self, chain_nonce: int) -> list[JournalEntry]:
        """Sent, never closed, and with a nonce the chain has not used: worth rebroadcasting."""
        open_: dict[str, JournalEntry] = {}
        for record in self._records():
            if record.get("e") == "sent":
                entry = JournalEntry(
                    int(record["nonce"]),
                    str(record["hash"]),
                    bytes.fromhex(str(record["raw"])),
                    str(record.get("label", "")),
                )
                open_[entry.tx_hash] = entry
            elif record.get("e") == "done":
                open_.pop(str(record.get("hash")), None)
        return sorted((e for e in open_.values() if e.nonce >= chain_nonce), key=lambda e: e.nonce)

    def compact(self) -> None:
        """Start afresh once everything journaled has settled, so the file stays small."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text("", encoding="utf-8")
        os.replace(tmp, self.path)

    def _records(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a crash mid-write carries nothing we sent
        return records

    def _append(self, record: dict[str, object]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
