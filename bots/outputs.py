"""Output folders checked before the work that fills them, never after.

A backtest that runs to 100% and then finds it cannot write its report has lost the run. Every
command that writes a folder (`backtest --out`, `demo --workdir`, `k8s render --out`) calls
`writable_dir` first: the folder exists afterwards (created with its parents when missing) and
a file could be created in it, or the command stops with one line naming the folder.
"""

from __future__ import annotations

import os
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


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
