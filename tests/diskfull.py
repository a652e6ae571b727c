"""A full disk for tests: no small full file system can be mounted here, so `fsync` fails."""

from __future__ import annotations

import errno
from pathlib import Path
from types import ModuleType

import pytest


def full_disk(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> None:
    """Every fsync of `module` fails with ENOSPC, as on a full disk."""

    def no_space(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.os, "fsync", no_space)


def temp_files(directory: Path) -> list[Path]:
    """Temporary files an atomic write left behind in `directory`."""
    return [p for p in directory.iterdir() if p.name.endswith(".tmp")]
