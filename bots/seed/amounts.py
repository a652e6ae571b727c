"""Human amounts in a seed plan and exact base units: parsing, converting, printing.

An operator writes whole tokens and whole ether ("99.50", 1000); everything the seed job sends
is integer base units. Conversion is exact both ways: an amount with more decimals than its
token is an error, never a rounding.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator, Field


def _human(value: object) -> Decimal:
    """A human amount from TOML: a decimal string or an integer, never a (binary) float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        raise ValueError('give amounts as a string ("99.50") or an integer: floats are inexact')
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError("must be a decimal string or an integer")
    try:
        parsed = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return parsed


Amount = Annotated[Decimal, BeforeValidator(_human), Field(ge=0)]
"""A non-negative human amount (whole tokens or whole ether) from a plan."""
Positive = Annotated[Decimal, BeforeValidator(_human), Field(gt=0)]
"""A positive human amount (or price) from a plan."""


def to_units(amount: Decimal, decimals: int) -> int:
    """Whole tokens to base units, exactly; ValueError when that would need rounding."""
    scaled = Fraction(amount) * 10**decimals
    if scaled.denominator != 1:
        raise ValueError(f"{amount} has more than {decimals} decimal places")
    return int(scaled.numerator)


def format_units(units: int, decimals: int, *, trim: bool = False) -> str:
    """Base units as whole tokens with thousands separators ("2,501,500.00"), exactly
    (Decimal.scaleb would round above 28 digits); display only, never parsed back."""
    whole, frac = divmod(abs(units), 10**decimals)
    text = f"{whole:,}.{frac:0{decimals}d}" if decimals else f"{whole:,}"
    if trim and decimals:
        text = text.rstrip("0").rstrip(".")
    return f"-{text}" if units < 0 else text
