"""One way to show numbers to people: thousands separators, exact tokens, no "-0.00", "1 bot".

Display only: nothing formatted here is ever sent or parsed back. Token amounts are converted
from base units with integer arithmetic (exact at any size); rounding to fewer places is
half-even and said so by the caller's column header or label.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

_PRECISION = 100  # digits: a uint256 has 78, so no amount is ever rounded by the context


def whole(units: int, decimals: int, places: int | None = None) -> str:
    """Base units as whole tokens: `whole(123456, 2)` is "1,234.56".

    `places` (default: all `decimals`) rounds half-even for summaries ("whole tokens": 0).
    Never prints a negative zero.
    """
    with localcontext() as context:
        context.prec = _PRECISION
        return decimal(Decimal(units).scaleb(-decimals), decimals if places is None else places)


def decimal(value: Decimal | Fraction | float | int, places: int) -> str:
    """`value` rounded half-even to `places` decimals, with separators: "12,345.68".

    A value that rounds to zero prints without a sign ("0.00", never "-0.00"); NaN prints
    "nan" and infinities "inf"/"-inf" (a report must not crash on them).
    """
    with localcontext() as context:
        context.prec = _PRECISION
        if isinstance(value, Fraction):
            number = Decimal(value.numerator) / Decimal(value.denominator)
        else:
            number = Decimal(value)
        if not number.is_finite():
            return "nan" if number.is_nan() else ("-inf" if number < 0 else "inf")
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        if rounded == 0:
            rounded = abs(rounded)
        return f"{rounded:,.{places}f}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`count(1, "bot")` is "1 bot", `count(3, "bot")` "3 bots", separators from 1,000 on."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
