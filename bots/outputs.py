"""Output folders checked before the work that fills them, never after.

A backtest that runs to 100% and then finds it cannot write its report has lost the run. Every
command that writes a folder (`backtest --out`, `demo --workdir`, `k8s render --out`) calls
`writable_dir` first: the folder exists afterwards (created with its parents when missing) and
a file could be created in it, or the command stops with one line naming the folder.

A folder otcmm did not write is never written into: `owned_dir` takes a new or empty folder, or
one that holds the command's marker file from an earlier run (`.otcmm-demo`), and refuses any
other non-empty folder (a user's files must not be overwritten by a typo). `backtest --out`
does the same with its own marker (`bots.backtest.outdir`); `k8s render --out` recognises its
files by their generated header (`bots.k8s.render.foreign_files`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bots.errors import ConfigError


def writable_dir(path: Path, what: str) -> Path:
    """`path`, created if missing, once a probe file could be written and removed in it.

    `what` names the folder in errors ("--out"). Raises `ConfigError` (exit 2) when `path`
    or one of its parents is a file, or the folder cannot be created or written.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file: give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create it: {_reason(exc)}") from None
    probe = path / f".otcmm-probe.{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write in it: {_reason(exc)}") from None
    return path


def owned_dir(path: Path, what: str, marker: str, *, clear: bool = False) -> Path:
    """`path` made ready for a command that marks its folders with `marker` (a file name).

    A missing or empty folder is created and marked; a non-empty one must hold the marker, or
    `ConfigError` (exit 2) names it and nothing is touched. `clear` then deletes everything
    in it but the marker (the command's files of an earlier run). Also `writable_dir`'s checks.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file: give a directory")
    try:
        if path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
            raise ConfigError(
                f"{what} {path}: the folder is not empty and otcmm did not make it (no {marker} "
                "file): choose a new or empty folder"
            )
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it: {_reason(exc)}") from None
    writable_dir(path, what)
    try:
        if clear:
            for child in path.iterdir():
                if child.name == marker:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        (path / marker).write_text(f"written by otcmm ({what})\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write in it: {_reason(exc)}") from None
    return path


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
