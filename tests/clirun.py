"""`otcmm` run the way a user runs it in a test: a separate process, its own clean environment.

The caller's `OTCMM_*` variables are left out (a developer's shell with `$OTCMM_RPC_URL` or
`$OTCMM_KEYSTORE_PASSWORD` set must not change what a test sees); `env` adds the ones a test
means. stdin is closed, so a command that would prompt fails instead of waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NO_ANVIL = {"OTCMM_ANVIL": "/nonexistent/anvil-must-not-start"}  # starting one would be exit 3


def otcmm_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without `OTCMM_*` variables, with `env` on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
    return {**clean, "PYTHONPATH": str(REPO), **(env or {})}


def otcmm(
    *args: str,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m bots.cli *args`, waited for (`timeout` seconds at most), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=otcmm_env(env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec_fn,  # noqa: PLW1509 - tests only: a child set up to die, say
    )
