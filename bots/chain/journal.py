"""An append-only on-disk record of the transactions a bot signed, for crash recovery.

The chain is the source of truth for offers; the journal only covers the gap between signing
and mining. A bot killed in that gap may leave a transaction the node has since dropped (a
restarted node forgets its pool). On start the bot rebroadcasts every journaled transaction
whose nonce the chain has not used yet, waits for them to settle, and only then reads its
offers: so it never re-creates offers that a pending transaction is about to create.

The file stays small while the bot runs: once it grows past `max_bytes` it is rewritten
(atomically) with only the entries still open, so its size stays below `max_bytes` plus the
open entries (a bot holds one transaction at a time, a few versions when fees were bumped).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from bots.atomicfile import read_small, write_atomic
from bots.errors import ConfigError

log = structlog.get_logger("otcmm.journal")

DEFAULT_MAX_BYTES = 256 * 1024
PROBE_PAD = 16 * 1024  # hex of a 8 KiB signed transaction: a requote of 60 actions is ~6 KiB
MAX_JOURNAL_READ_BYTES = 64 * 1024 * 1024  # far beyond any compacted journal: refuse, not OOM


@dataclass(frozen=True, slots=True)
class JournalEntry:
    nonce: int
    tx_hash: str
    raw_tx: bytes
    label: str


class TxJournal:
    """JSON lines: `sent` entries carry the signed raw transaction, `done` entries close them."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create journal directory {path.parent}: {exc}") from None
        self._open, self._used = _fold(self._records())
        self._size = path.stat().st_size if path.exists() else 0

    @property
    def size(self) -> int:
        """Bytes in the file now."""
        return self._size

    def sent(self, nonce: int, tx_hash: str, raw_tx: bytes, label: str) -> None:
        entry = JournalEntry(nonce, tx_hash, raw_tx, label)
        self._append(_sent_record(entry))
        self._open[tx_hash] = entry

    def done(self, tx_hash: str, used_nonce: int | None = None) -> None:
        """Close `tx_hash`; `used_nonce` when it was mined (any other version of that nonce is
        dead then: it can never mine)."""
        record: dict[str, object] = {"e": "done", "hash": tx_hash}
        if used_nonce is not None:
            record["nonce"] = used_nonce
            self._used = max(self._used, used_nonce)
        self._append(record)
        self._open.pop(tx_hash, None)
        if self._size > self.max_bytes:
            self._rewrite()

    def open_entries(self, chain_nonce: int) -> list[JournalEntry]:
        """Sent, never closed, and with a nonce the chain has not used: worth rebroadcasting."""
        live = (e for e in self._open.values() if e.nonce >= chain_nonce and e.nonce > self._used)
        return sorted(live, key=lambda e: e.nonce)

    def compact(self) -> None:
        """Start afresh once everything journaled has settled, so the file stays small."""
        self._open, self._used = {}, -1
        self._write([])

    def _rewrite(self) -> None:
        """Keep only what a restart could still need: open entries of unused nonces."""
        keep = [e for e in self._open.values() if e.nonce > self._used]
        self._open = {e.tx_hash: e for e in keep}
        self._write([_sent_record(e) for e in keep])

    def probe(self) -> None:
        """Append a record that means nothing (`{"e":"probe"}`) as large as a big transaction's
        record: raises `OSError` while the file cannot take one, so a caller can tell when the
        journal works again (a tiny probe fit where the next signed transaction did not)."""
        self._append({"e": "probe", "pad": "0" * PROBE_PAD})

    def _write(self, records: list[dict[str, object]]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        write_atomic(self.path, text)  # a failure leaves the old file and no temp file
        self._size = len(text.encode())

    def _records(self) -> list[dict[str, Any]]:
        """The file's records; a line that is not one (a torn last line from a crash
        mid-write, bit rot, another writer) is skipped, with one warning for all of them.
        `ConfigError` (one line) when the path is not a regular file or is over the cap."""
        try:
            data = read_small(self.path, MAX_JOURNAL_READ_BYTES, follow=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"journal {self.path}: {exc.strerror or exc}") from None
        records: list[dict[str, Any]] = []
        damaged = 0
        for line in data.splitlines():
            record = _record(line)
            if record is None:
                damaged += line.strip() != b""
            else:
                records.append(record)
        if damaged:
            log.warning("journal lines skipped: not records", path=str(self.path), lines=damaged)
        return records

    def _append(self, record: dict[str, object]) -> None:
        """One line, fsynced; on `OSError` (a full disk) the file is cut back to its old end,
        so a torn line cannot swallow the next record, and the error propagates."""
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, f"short write: {written} of {len(data)} bytes")
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)
        self._size += len(data)


def _sent_record(entry: JournalEntry) -> dict[str, object]:
    return {
        "e": "sent",
        "nonce": entry.nonce,
        "hash": entry.tx_hash,
        "raw": entry.raw_tx.hex(),
        "label": entry.label,
    }


def _record(line: bytes) -> dict[str, Any] | None:
    """One journal line as a record the fold can use, None if it is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return None
    if not isinstance(record, dict):
        return None
    if record.get("e") == "sent":
        try:
            nonce, raw = record["nonce"], bytes.fromhex(str(record["raw"]))
        except (KeyError, ValueError):
            return None
        if not isinstance(nonce, int) or not raw or not isinstance(record.get("hash"), str):
            return None
    return record


def _fold(records: list[dict[str, Any]]) -> tuple[dict[str, JournalEntry], int]:
    """Open entries by hash, and the highest nonce known to be used, from the file's records
    (`_record` checked each one)."""
    open_: dict[str, JournalEntry] = {}
    used = -1
    for record in records:
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
            if isinstance(record.get("nonce"), int):
                used = max(used, int(record["nonce"]))
    return open_, used
