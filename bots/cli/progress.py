"""Progress of long commands (the seed job, backtests) on stderr: one library, two audiences.

On a terminal a tqdm bar redraws one line. Anywhere else (a Kubernetes Job's log, CI, a file)
there is no cursor, so plain lines are printed instead, as often as the caller's `plain`
formatter asks: a log shows how far a run got without carriage returns in it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

Update = Callable[[int, int, str], None]
"""`update(done, total, note)`: `done` of `total` steps finished; `note` says what just ran."""
PlainLine = Callable[[int, int, str], str | None]
"""The line to print in a log for an update, or None to print nothing for it."""


@contextmanager
def progress(label: str, unit: str, plain: PlainLine) -> Iterator[Update]:
    """Yield an `Update` that drives a tqdm bar on a terminal, else prints `plain` lines."""
    stream = sys.stderr
    if not stream.isatty():

        def line(done: int, total: int, note: str) -> None:
            text = plain(done, total, note)
            if text is not None:
                print(text, file=stream, flush=True)

        yield line
        return
    with tqdm(desc=label, unit=unit, file=stream, leave=True, dynamic_ncols=True) as bar:

        def redraw(done: int, total: int, note: str) -> None:
            bar.total = total
            bar.set_postfix_str(note[:40], refresh=False)
            bar.update(done - bar.n)

        yield redraw


def every_step(done: int, total: int, note: str) -> str:
    """A line per step: `[3/15] offer ...` (the seed job: each action is worth a line)."""
    return f"[{done}/{total}] {note}"


def every_tenth(label: str) -> PlainLine:
    """A line for the first step and then each time another tenth of the steps is done."""
    last = -1

    def line(done: int, total: int, note: str) -> str | None:
        nonlocal last
        tenth = done * 10 // max(total, 1)
        if tenth == last:
            return None
        last = tenth
        return f"{label}: step {done}/{total} ({100 * done // max(total, 1)}%), {note}"

    return line
