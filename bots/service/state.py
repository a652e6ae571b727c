"""What a bot keeps on disk besides its journal: a lock per account and the kill switch's state.

**One process per keystore, one per journal.** Two processes signing for one account (an
operator's slip outside Kubernetes) double the quotes and then cancel each other's forever. The
first to start holds an exclusive `flock` on `otcmm-<address>.lock` in the state directory until
it exits (the kernel drops it even on `kill -9`); a second is refused at start-up with the first
one's pid. Likewise `<journal>.journal-lock` beside the journal: two bots (of any accounts)
given one journal file would drop each other's entries when one rewrites it.

**The kill switch stays tripped.** When the loss limit trips, the bot records why in
`otcmm-<address>.killed` before it pulls its quotes and exits; every later start refuses until
an operator looks and starts it with `--clear-kill-switch`. A record that cannot be written
(a full disk) does not stop the stop: the bot still pulls its quotes and exits 7, and says in
one line that the next start will not refuse by itself. The price anchor beside them lives in
`bots.service.anchor`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bots.atomicfile import MAX_RECORD_BYTES, read_small, write_atomic
from bots.errors import ConfigError, OtcmmError
from bots.tick.pnl import KillSwitchTripped

log = structlog.get_logger("otcmm.service")


class AccountInUse(OtcmmError):
    """Another process on this machine already signs for this account (exit 6)."""

    exit_code = 6


def state_dir(configured: Path | None, journal: Path | None) -> Path:
    """Where lock and kill-switch files live: `runtime.state_dir`, else the journal's directory,
    else `<temp dir>/otcmm` (shared by every process of this machine)."""
    if configured is not None:
        return configured
    if journal is not None:
        return journal.parent
    return Path(tempfile.gettempdir()) / "otcmm"


def _prepare(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create state directory {directory}: {exc.strerror}") from None


class ExclusiveLock:
    """An exclusive `flock` on `path` for the life of this process; `refusal(holder pid)` is
    the message of the `AccountInUse` a second process gets."""

    def __init__(self, path: Path, refusal: str) -> None:
        self.path = path
        self.refusal = refusal
        self._fd: int | None = None

    def acquire(self) -> ExclusiveLock:
        """Take the lock or raise `AccountInUse` naming the holder's pid (`ConfigError` when
        the lock file cannot be opened)."""
        _prepare(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AccountInUse(self.refusal.format(pid=holder, lock=self.path)) from None
        try:  # the pid only tells a second process who holds the lock: the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            log.warning("lock held, but its pid not written", error=exc.strerror or str(exc))
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go (closing the file drops the flock); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def account_lock(directory: Path, address: str) -> ExclusiveLock:
    """The lock of one account: `otcmm-<address>.lock` in the state directory."""
    return ExclusiveLock(
        directory / f"otcmm-{address.lower()}.lock",
        f"another otcmm process (pid {{pid}}) already runs with account {address} "
        "(lock {lock}): one process per keystore",
    )


def journal_lock(journal: Path) -> ExclusiveLock:
    """The lock of one journal file: `<journal>.journal-lock` beside it (the journal itself is
    replaced when it is rewritten, so a lock on its own inode would not last), after symlinks
    and `..` are resolved; a journal with hard links is refused (`ConfigError`: its other
    names would be other locks). Two bots of different accounts on one journal would drop
    each other's entries on a rewrite."""
    journal = journal.resolve()  # one file by two names (a symlink, `..`): one lock
    try:
        names = journal.stat().st_nlink
    except OSError:
        names = 1  # not there yet (a first start), or unreadable: the journal says so itself
    if names > 1:
        raise ConfigError(
            f"journal {journal} has {names} names (hard links): another bot may write it under "
            "another name; one journal per bot (give each bot its own runtime.journal)"
        )
    return ExclusiveLock(
        journal.with_name(f"{journal.name}.journal-lock"),
        f"another otcmm process (pid {{pid}}) already writes the journal {journal} "
        "(lock {lock}): one journal per bot (give each bot its own runtime.journal)",
    )


class KillSwitchFile:
    """The record of a tripped kill switch for one account."""

    def __init__(self, directory: Path, address: str) -> None:
        self.path = directory / f"otcmm-{address.lower()}.killed"

    def check(self, clear: bool) -> None:
        """Refuse to start (`KillSwitchTripped`) while tripped, unless `clear` removes it."""
        if clear:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        try:
            record = json.loads(read_small(self.path, MAX_RECORD_BYTES).decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a record")
        except FileNotFoundError:
            return
        except (OSError, ValueError, RecursionError):  # still tripped: say so, never crash
            record = {"reason": "unreadable record", "at": "?"}
        raise KillSwitchTripped(
            f"kill switch tripped at {record.get('at', '?')}: {record.get('reason', '?')}; "
            f"start with --clear-kill-switch once investigated ({self.path})"
        )

    def trip(self, reason: str) -> bool:
        """Record why the switch tripped (atomically: a crash never leaves half a record).

        Never raises: a record that cannot be written (a full disk, ENOSPC) is one error line
        and False; the bot stops all the same, but its next start will not refuse by itself.
        """
        record = {"reason": reason, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(record))
        except OSError as exc:
            log.error(
                "kill switch record not written: the next start will not refuse by itself",
                path=str(self.path),
                error=exc.strerror or str(exc),
            )
            return False
        return True
