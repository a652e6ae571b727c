"""What the optimiser's and the sweep's worker processes share: how they start, report a
failure and are stopped (`bots.backtest.optworkers`, `bots.backtest.sweeprun`)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from bots.devtools.lifetime import exit_with_parent
from bots.errors import OtcmmError

STOP_GRACE_S = 60.0  # how long a SIGTERMed worker may take to stop its chain before SIGKILL


def init_worker(parent: int, on_sigterm: Callable[[int, FrameType | None], Any]) -> None:
    """First thing in a spawned worker: die with `parent`, leave Ctrl-C to it (a terminal's
    reaches the whole process group: the parent decides), stop on SIGTERM by `on_sigterm`."""
    exit_with_parent(parent, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm)


def send_error(pipe: Connection, exc: BaseException, what: str) -> None:
    """Send ("error", `exc`) to the parent, or its text as an `OtcmmError` when it does not
    pickle (`what` names the sender: "optimise", "sweep")."""
    try:
        pipe.send(("error", exc))
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its text then
        pipe.send(("error", OtcmmError(f"{what}: {type(exc).__name__}: {exc}")))


def stop_processes(processes: Sequence[BaseProcess], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to those still alive (each stops its dev chain on the way out), SIGKILL to any
    still alive `grace_s` later; returns once all have ended."""
    alive = [p for p in processes if p.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
