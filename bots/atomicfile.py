"""Replacing a file atomically: a crash or a full disk never leaves half a file.

Shared by every state file a bot writes (the kill switch's record, the price anchor, the
journal's rewrite): the text goes to a temporary file in the same directory, is flushed and
fsynced, and is renamed over the target; the directory is then fsynced (best effort) so the
rename itself survives a power cut. On any failure the temporary file is removed and the
error propagates (an `OSError` such as ENOSPC), leaving the old file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
