"""Statistics of an equity curve: drawdown and the annualised Sharpe ratio, and when the latter
means something.

**When a Sharpe ratio is shown.** The Sharpe ratio here is the mean over the standard deviation
of per-step returns, times the square root of steps per year. Estimated from a window of
`T` years, its standard error is about ``sqrt((1 + SR_step**2 / 2) / n) * sqrt(steps per year)``
(Lo 2002, i.i.d. returns; `n` returns), which is ``~ 1 / sqrt(T)`` whatever the step length:
about 42 for a 5-hour morning, 3.5 for a month, 1 for a year. So `sharpe` is reported only when
the window spans at least `SHARPE_MIN_DAYS` (90) days and `SHARPE_MIN_RETURNS` (30) returns
(a standard error of about 2 at 90 days); otherwise it is None and the estimate is kept, marked,
as `sharpe_short_window`, with `sharpe_stderr` beside either.

Floats are fine here: these are statistics, not money.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

YEAR_S = 365 * 24 * 3600
DAY_S = 24 * 3600
SHARPE_MIN_DAYS = 90
SHARPE_MIN_RETURNS = 30


def max_drawdown(equity: Sequence[float]) -> tuple[float, float | None]:
    """Largest fall from a running peak, in quote tokens and as a share of that peak."""
    if not equity:
        return 0.0, None
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    worst = int(np.argmax(falls))
    peak = float(peaks[worst])
    return float(falls[worst]), (float(falls[worst]) / peak if peak > 0 else None)


def sharpe(equity: Sequence[float], times: Sequence[int]) -> float | None:
    """Annualised Sharpe ratio of per-step returns (no risk-free rate): mean / std x
    sqrt(steps per year), the step length being the path's average. None without variation,
    with fewer than 2 returns or with a non-positive equity."""
    values = np.asarray(equity, dtype=float)
    if len(values) < 3 or len(times) < 2 or np.any(values[:-1] <= 0):
        return None
    returns = np.diff(values) / values[:-1]
    std = float(np.std(returns, ddof=1))
    step_s = (times[-1] - times[0]) / (len(times) - 1)
    if std == 0 or step_s <= 0 or not math.isfinite(std):
        return None
    return float(np.mean(returns)) / std * math.sqrt(YEAR_S / step_s)


@dataclass(frozen=True)
class SharpeVerdict:
    """The Sharpe estimate of a window and whether the window is long enough to show it."""

    value: float | None  # the estimate; None without variation
    shown: bool  # the window passes the rule of the module docstring
    window_days: float
    returns: int
    stderr: float | None  # approximate standard error of `value` (Lo 2002, i.i.d.)

    @property
    def sharpe(self) -> float | None:
        """The estimate when the window is long enough, else None."""
        return self.value if self.shown else None

    @property
    def short_window(self) -> float | None:
        """The estimate when the window is too short (marked: not to be trusted), else None."""
        return None if self.shown else self.value


def window_ok(times: Sequence[int]) -> bool:
    """Whether a window of step `times` (unix seconds) is long enough to show a Sharpe ratio."""
    if len(times) < 2:
        return False
    return len(times) >= SHARPE_MIN_RETURNS and times[-1] - times[0] >= SHARPE_MIN_DAYS * DAY_S


def judge_sharpe(equity: Sequence[float], times: Sequence[int]) -> SharpeVerdict:
    """`sharpe` of `equity` (start, then one value per step at `times`) with the window rule."""
    value = sharpe(equity, times)
    span_s = times[-1] - times[0] if len(times) >= 2 else 0
    returns = max(len(equity) - 1, 0)
    stderr = None
    if value is not None and returns >= 2 and span_s > 0:
        per_year = YEAR_S / (span_s / (len(times) - 1))
        step_sr = value / math.sqrt(per_year)
        stderr = math.sqrt((1 + step_sr**2 / 2) / returns * per_year)
    return SharpeVerdict(value, window_ok(times), span_s / DAY_S, returns, stderr)
