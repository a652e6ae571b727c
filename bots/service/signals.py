"""SIGTERM, SIGINT and SIGHUP from the first line of `otcmm run` to its exit: one shared stop event.

The handlers are installed before anything slow happens (unlocking the key, connecting,
settling a previous run's transactions), because a process that installs them late ignores
SIGTERM meanwhile when it runs as a container's PID 1, and dies without a word otherwise.
While the bot is *starting*, a signal interrupts the start-up at once (`StartupInterrupted`,
raised from the handler: a blocking RPC call or wait ends there) and `otcmm run` exits 0:
nothing was quoted yet. Once the tick loop runs, a signal only sets the event; the loop finishes
its tick and the shutdown pulls every offer.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import structlog

log = structlog.get_logger("otcmm.service")

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: the terminal closed


class StartupInterrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """A stop signal arrived during start-up. A `BaseException`, so that no `except Exception`
    on the way (a retry loop) can swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignal:
    """The stop event, set by SIGTERM/SIGINT/SIGHUP; raises `StartupInterrupted` while
    `starting`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.starting = True

    def handle(self, signum: int, _frame: FrameType | None = None) -> None:
        log.info("signal received", signal=signal.Signals(signum).name, starting=self.starting)
        self.event.set()
        if self.starting:
            self.starting = False  # a second signal must not interrupt the clean-up
            raise StartupInterrupted(signum)

    def started(self) -> None:
        """The tick loop takes over: from now on a signal only sets the event."""
        self.starting = False

    @contextmanager
    def installed(self, *, restore: bool = True) -> Iterator[StopSignal]:
        """Handle SIGTERM, SIGINT and SIGHUP inside the block (main thread only). After it,
        the previous handlers come back, or with `restore=False` (a process about to exit
        with the block's result: `otcmm run`) a late signal is only logged, so a second
        Ctrl-C after a clean stop cannot turn exit 0 into 130."""
        previous = {signum: signal.signal(signum, self.handle) for signum in SIGNALS}
        try:
            yield self
        finally:
            self.starting = False  # nothing left to interrupt
            for signum, handler in previous.items():
                signal.signal(signum, handler if restore else self._late)

    @staticmethod
    def _late(signum: int, _frame: FrameType | None = None) -> None:
        log.info("signal received while exiting: ignored", signal=signal.Signals(signum).name)
