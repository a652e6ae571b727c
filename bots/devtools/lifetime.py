"""Child processes that die with the otcmm process that started them, however it ends.

otcmm starts anvil (tests, demo, backtests, sweeps), sweep workers and the demo's bot
processes. The normal ways out stop them explicitly: `with DevChain(...)` blocks, SIGTERM and
SIGINT turned into `bots.errors.Interrupted` by the CLI so every `finally` runs. That leaves the
parent being killed outright (SIGKILL, the OOM killer, a crashed interpreter), where no code of
the parent runs at all. For that the kernel does the work:

- `PR_SET_PDEATHSIG` (Linux `prctl(2)`): a child asks for a signal when the thread that
  started it ends. Set in the child between fork and exec (`die_with_parent`, for anvil and
  the demo's bots) or first thing in a Python worker (`exit_with_parent`, for sweep workers).
  A parent that died before the call is caught by comparing `getppid()` afterwards.
- The signal follows the *thread* that forked, so children are started from the main thread
  (the CLI, a worker's main thread); a child started from a short-lived thread would die with it.

Elsewhere (macOS) `prctl` does not exist and only the explicit paths apply. Tests kill the
parent with SIGKILL and check that nothing it started outlives it
(`tests/test_cli_signals.py`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's `prctl`, resolved once in the parent (nothing to look up after fork)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the running program: libc included
    except OSError:
        return None
    function = libc.prctl
    function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    function.restype = ctypes.c_int
    prctl: Callable[..., int] = function
    return prctl


_PRCTL = _load_prctl()


def supported() -> bool:
    """True where children can be tied to their parent's life (Linux)."""
    return _PRCTL is not None


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `signum` when this thread ends.

    Does only a system call and a comparison between fork and exec (no imports, no locks).
    """
    parent = os.getpid()
    prctl = _PRCTL

    def preexec() -> None:
        if prctl is None:
            return
        prctl(PR_SET_PDEATHSIG, signum, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: it will never signal
            os.kill(os.getpid(), signum)

    return preexec


def exit_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """Called first thing in a Python child of `parent`: get `signum` when the parent ends.

    Exits at once if `parent` is already gone.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signum, 0, 0)
    if os.getppid() != parent:
        os._exit(128 + signum)
