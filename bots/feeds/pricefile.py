"""Price files: `timestamp,price` rows, as a CSV feed replays them and a backtest follows them.

Researchers and operators export these from spreadsheets and market-data tools, so the reader
is forgiving about the container (a header row, blank lines, a UTF-8 byte-order mark,
timestamps as unix seconds, milliseconds or ISO-8601) and strict about the content: every
price is a positive `Decimal` parsed from its text, time never goes backwards, and a bad row is
reported with its file and line.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path


class PriceFileError(ValueError):
    """A price file cannot be used; the message names the file (and line) and the problem."""


@dataclass(frozen=True, slots=True)
class PriceRow:
    line: int
    timestamp: float
    price: Decimal


MIN_PRICE_EXPONENT = -30  # a price below 1e-30 or ...
MAX_PRICE_EXPONENT = 30  # ... of 1e31 or more (quote per whole base) is a broken source
MAX_PRICE_DIGITS = 60  # significant digits: more is garbage, and costly to compute with


LAST_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second datetime can show
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def positive_price(value: object) -> Decimal:
    """A finite, sane price > 0 from text or an exact number (JSON floats arrive as `Decimal`).

    The one parser every feed and the price guard share. Sane means at least 1e-30 and below
    1e31 (quote per whole base token) with at most 60 significant digits: a source answering
    `1e999999` is broken, and arithmetic on such a number overflows `Decimal`. Raises
    `ValueError` with a one-line reason (the value cut to 40 characters).
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError(f"not a number: {value!r:.40}")
    if isinstance(value, str) and len(value) > 200:
        raise ValueError(f"not a price: {len(value)} characters")
    if isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value.strip()):
        # Decimal() also takes "1_000", full-width or Arabic-Indic digits and "Infinity":
        # a source sending those is not speaking the format it claims
        raise ValueError(f"not a number: {value!r:.40}")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r:.40}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError(f"not a positive price: {value!r:.40}")
    if not MIN_PRICE_EXPONENT <= price.adjusted() <= MAX_PRICE_EXPONENT:
        raise ValueError(f"not a sane price (outside 1e-30 .. 1e31): {value!r:.40}")
    if len(price.normalize().as_tuple().digits) > MAX_PRICE_DIGITS:
        raise ValueError(f"not a sane price (more than {MAX_PRICE_DIGITS} digits): {value!r:.40}")
    return price


def unix_seconds(value: object) -> float:
    """Seconds from unix seconds, unix milliseconds (> 1e12) or ISO-8601 (naive means UTC)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not a timestamp: {text!r:.40}") from None
            value = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"not a timestamp: {value!r:.40}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a timestamp: {value!r:.40}")
    seconds = seconds / 1000 if seconds > 1e12 else seconds
    if seconds > LAST_TIMESTAMP:
        raise ValueError(f"not a timestamp in 1970 .. 9999: {value!r:.40}")
    return seconds


def read_price_rows(path: Path) -> list[PriceRow]:
    """Every price row of `path`, in file order; `PriceFileError` on the first problem."""
    rows: list[PriceRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheet exports
            reader = csv.reader(handle)
            for raw in reader:
                cells = [cell.strip() for cell in raw]
                if not any(cells) or (not rows and all(c[:1].isalpha() for c in cells)):
                    continue  # blank line or header
                try:
                    rows.append(_row(reader.line_num, cells, rows[-1] if rows else None))
                except ValueError as exc:
                    raise PriceFileError(f"{path}:{reader.line_num}: {exc}") from None
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PriceFileError(f"{path}: not a UTF-8 CSV file: {exc}") from None
    if not rows:
        raise PriceFileError(f"{path}: no price rows")
    return rows


def _row(line: int, cells: list[str], previous: PriceRow | None) -> PriceRow:
    if len(cells) != 2:
        raise ValueError(f"expected 2 columns (timestamp,price), got {len(cells)}")
    stamp = unix_seconds(cells[0])
    if previous is not None and stamp < previous.timestamp:
        raise ValueError("timestamp is earlier than the row before")
    return PriceRow(line, stamp, positive_price(cells[1]))
