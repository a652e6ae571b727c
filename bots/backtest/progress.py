"""A progress indicator on stderr: one line redrawn on a terminal, a line per 10% otherwise.

Logs and CI output stay readable (no carriage returns in a file), and a terminal is not flooded.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

REDRAW_S = 0.1


class ProgressLine:
    """Call with (done, total, transactions); `close()` ends the line on a terminal."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self._last_draw = -1.0
        self._last_decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int, txs: int) -> None:
        now = self.clock()
        if self.tty:
            if done < total and now - self._last_draw < REDRAW_S:
                return
            self._last_draw = now
            self.stream.write("\r" + self.text(done, total, txs, now) + "\x1b[K")
            self._drawn = True
        else:
            decile = done * 10 // max(total, 1)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self.text(done, total, txs, now) + "\n")
        self.stream.flush()

    def text(self, done: int, total: int, txs: int, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        return (
            f"{self.label}: step {done}/{total} ({100 * done // max(total, 1)}%), "
            f"{rate:.1f} steps/s, {txs} txs, {left:.0f}s left"
        )

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
