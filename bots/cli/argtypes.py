"""Argument types with ranges: every numeric option says what it accepts.

Each factory returns an argparse `type=` callable that raises `argparse.ArgumentTypeError`
with a message naming the range, so a bad value is argparse's one-line error with exit 2
before any work starts (never an `OverflowError` or a hang later on). The value comes last in
the message ("not in 0..65535: 70000"), where `bots.cli.parser.hide` cuts it off for commands
that handle secrets.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation


def integer(low: int, high: int) -> Callable[[str], int]:
    """An int in [low, high] (decimal digits, optional sign)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"not in {low}..{high}: {value}")
        return value

    parse.__name__ = "integer"
    return parse


def finite(low: float, high: float, *, low_open: bool = True) -> Callable[[str], float]:
    """A finite float in (low, high] (or [low, high] with `low_open=False`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        above = value > low if low_open else value >= low
        if not (math.isfinite(value) and above and value <= high):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"not in {bracket}{low:g}, {high:g}]: {text}")
        return value

    parse.__name__ = "number"
    return parse


def positive_decimal(high: int, low: Decimal | None = None) -> Callable[[str], Decimal]:
    """A finite Decimal in (0, high], or [low, high] when `low` is given, parsed exactly as
    written ("101.50")."""

    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if low is not None:
            if not (value.is_finite() and low <= value <= high):
                raise argparse.ArgumentTypeError(f"not in [{low}, {high:,}]: {text}")
        elif not (value.is_finite() and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"not in (0, {high:,}]: {text}")
        return value

    parse.__name__ = "decimal"
    return parse


PORT = integer(0, 65535)
"""A TCP port; 0 lets the system pick a free one."""
