"""Replacing a file atomically: a crash or a full disk never leaves half a file; reading a
small state file without trusting what sits at its path (`read_small`).

Shared by every state file a bot writes (the kill switch's record, the price anchor, the
journal's rewrite): the text goes to a temporary file in the same directory, is flushed and
fsynced, and is renamed over the target; the directory is then fsynced (best effort) so the
rename itself survives a power cut. On any failure the temporary file is removed and the
error propagates (an `OSError` such as ENOSPC), leaving the old file as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

MAX_RECORD_BYTES = 4_096  # a state record (kill switch, price anchor) is a line of JSON


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace `path` with `text` (UTF-8, file mode `mode`); raises `OSError`, leaving no
    temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


@contextlib.contextmanager
def replaced(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix) for a writer that wants a file name (csv,
    matplotlib's `savefig`): renamed over `path` when the block ends normally, removed when it
    raises. A report file is thus whole or absent, never half written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sync_directory(directory: Path) -> None:
    """Make a rename durable; some file systems refuse to fsync a directory (ignored)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_small(path: Path, max_bytes: int, *, follow: bool = False) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them.

    A state file is read without trusting what sits at its path: a FIFO would block the start
    forever, `/dev/zero` or a huge file would eat the memory, and a symlink (unless `follow`)
    points where the bot never wrote. Each is an `OSError` (`FileNotFoundError` when absent)
    whose `strerror` says what is wrong; the read never blocks and never reads past the cap.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "a symbolic link, not a file the bot wrote") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes:,} bytes")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew while read
        raise OSError(errno.EFBIG, f"larger than {max_bytes:,} bytes")
    return data
