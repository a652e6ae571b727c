"""The price anchor on disk: the last price the price guard accepted, kept across restarts.

Without it a bot started while its feed is wrong (or restarted after the feed went wrong) would
take the first reading as the truth and quote around it; when it is the only quoter nothing
else on the book would tell it. So the guard's anchor is written to
`otcmm-<address>.price` in the state directory every time it changes (atomically, see
`bots.atomicfile`) and read back at start: a reading more than `risk.max_price_jump_bps` from
it is never followed by itself.

- No file (a first start): the first sane reading becomes the anchor, logged as such.
- An unreadable or malformed file: the bot refuses to start (exit 2) rather than guess.
- `otcmm run --reset-price-anchor`: the file is ignored and the first sane reading becomes the
  anchor, logged as the operator's decision.
- A write that fails (a full disk): one error line, the bot keeps its anchor in memory and
  tries again at the next change; one info line once a write works again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import structlog

from bots.atomicfile import MAX_RECORD_BYTES, read_small, write_atomic
from bots.errors import ConfigError
from bots.feeds.pricefile import positive_price

log = structlog.get_logger("otcmm.service")

RESET_HINT = "start with --reset-price-anchor to accept the feed's price"


class PriceAnchorFile:
    """The anchor record of one account: `{"price": "<decimal>", "at": "<iso time>"}`."""

    def __init__(self, directory: Path, address: str) -> None:
        self.path = directory / f"otcmm-{address.lower()}.price"
        self.saved: Decimal | None = None
        self._failing = False

    def load(self) -> Decimal | None:
        """The recorded anchor (quote per whole base), None without a file; `ConfigError`
        (one line naming the file) when it cannot be read or holds no sane price."""
        try:
            record = json.loads(read_small(self.path, MAX_RECORD_BYTES).decode("utf-8"))
            price = positive_price(record["price"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else "no sane price in it"
            message = f"price anchor {self.path} is unreadable ({problem}): {RESET_HINT}"
            raise ConfigError(message) from None
        self.saved = price
        return price

    def save(self, price: Decimal) -> bool:
        """Record `price` as the anchor; False (and one error line per run of failures) when
        the file cannot be written. Never raises."""
        if price == self.saved:
            return True
        at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            write_atomic(self.path, json.dumps({"price": str(price), "at": at}))
        except OSError as exc:
            if not self._failing:
                log.error(
                    "price anchor not written; kept in memory",
                    path=str(self.path),
                    error=exc.strerror or str(exc),
                )
            self._failing = True
            return False
        if self._failing:
            log.info("price anchor written again", path=str(self.path))
        self._failing = False
        self.saved = price
        return True
