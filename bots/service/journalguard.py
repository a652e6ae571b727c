"""Journal writes that can never block a cancel: a failed write is a safety stop, not an error.

The journal of signed transactions (`bots.chain.journal`) is written from the transactor's
event hook, inside `send`: an `OSError` there (a full disk, a volume gone read-only) used to
propagate into the send and so stop every transaction, cancels included, leaving the quotes
standing. Here a failed write is caught, logged once, and raises the external safety stop
`journal`: no new makes or takes (a crash now could not be recovered from the journal), while
cancels still go out. While the stop holds, each tick probes the file with a record that
means nothing; the first write that works lifts it.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from bots.chain.journal import TxJournal

log = structlog.get_logger("otcmm.service")


class GuardedJournal:
    """Wraps a `TxJournal`; `problem` says why it cannot be written (None: it can)."""

    def __init__(self, journal: TxJournal) -> None:
        self.journal = journal
        self.problem: str | None = None

    def sent(self, nonce: int, tx_hash: str, raw_tx: bytes, label: str) -> None:
        self._write(lambda: self.journal.sent(nonce, tx_hash, raw_tx, label))

    def done(self, tx_hash: str, used_nonce: int | None = None) -> None:
        self._write(lambda: self.journal.done(tx_hash, used_nonce=used_nonce))

    def compact(self) -> None:
        self._write(self.journal.compact)

    def stops(self) -> dict[str, str]:
        """The external safety stops this journal raises now: `{"journal": why}` or none.
        While failing, probes the file first, so a disk that has room again lifts the stop."""
        if self.problem is not None:
            self._write(self.journal.probe)
        return {} if self.problem is None else {"journal": self.problem}

    def _write(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as exc:
            if self.problem is None:
                self.problem = f"journal {self.journal.path} not writable: {exc.strerror or exc}"
                log.error("journal write failed: no new makes or takes", reason=self.problem)
            return
        if self.problem is not None:
            log.info("journal writable again", path=str(self.journal.path))
            self.problem = None
