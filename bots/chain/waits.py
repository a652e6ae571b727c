"""How long the calling thread may still wait for something the chain has to do (a receipt).

A bot's tick sets it to end before the next tick is due (`bots.service.loop`): a transaction
not mined by then is held and settled by the next tick, so a tick that sends never overruns
its interval waiting for a block. RPC calls are bounded separately (`tick_budget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def waits_until(deadline: float) -> Iterator[None]:
    """Within the block, `wait_left()` counts down to `deadline` (`time.monotonic()` seconds);
    nested blocks keep the earlier deadline."""
    outer: float | None = getattr(_local, "until", None)
    _local.until = deadline if outer is None else min(outer, deadline)
    try:
        yield
    finally:
        _local.until = outer


def wait_left() -> float | None:
    """Seconds left to wait in this thread (None: no bound; never below 0)."""
    until: float | None = getattr(_local, "until", None)
    return None if until is None else max(0.0, until - time.monotonic())
