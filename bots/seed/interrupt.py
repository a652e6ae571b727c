"""Stopping a seed run on SIGTERM / SIGINT / SIGHUP at a transaction boundary; hooks for tests.

A signal only raises a flag (`Stop`); the run looks at it between transactions, after recording
a signed transaction and while waiting for a receipt, and then raises `SeedInterrupted`, so a
send is never cut in half and the deployment file is never left between two states. A second
signal does not wait: it raises `KeyboardInterrupt` at once (the file is still whole, as every
write is an atomic rename). `Checkpoint` is the test hook at each transaction boundary.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Literal

from bots.errors import OtcmmError
from bots.market.deployment import TxRecord

Stage = Literal["signed", "sent", "mined"]
"""Where a transaction is: recorded but not sent, sent but not seen mined, recorded as mined."""
Checkpoint = Callable[[Stage, TxRecord], None]
"""Called at each stage of each transaction; an exception it raises stops the run right there."""
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: the terminal closed


class SeedInterrupted(OtcmmError):
    """The run stopped at a boundary on a signal; the deployment file says where, a rerun resumes.

    Its exit code is the shell's for a signal: 128 + the signal number (143 for SIGTERM, 130
    for SIGINT).
    """

    def __init__(self, signum: int, where: str) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} {where}: run the seed again to resume")
        self.exit_code = 128 + signum


class Stop:
    """A stop request raised by a signal handler and read by the run at its boundaries."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        self.signum = signum

    def check(self, where: Callable[[], str]) -> None:
        """`SeedInterrupted` saying `where()` if a stop was requested; nothing otherwise."""
        if self.signum is not None:
            raise SeedInterrupted(self.signum, where())


@contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """Turn SIGTERM and SIGINT into a `Stop` request while the block runs (main thread only).

    The previous handlers are restored on exit. A second signal raises `KeyboardInterrupt`.
    """
    stop = Stop()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.request(signum)

    previous = {signum: signal.signal(signum, handle) for signum in SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
