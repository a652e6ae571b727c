"""The reference price of every step, and the chain time it belongs to.

The whole path is built before the first step, from a file or a seeded simulation, so a run is
a pure function of its scenario. Simulated prices keep 10 significant digits: the float inside
the simulation never leaks spurious precision into quotes.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from bots.backtest.scenario import CsvPath, GbmPath, JumpPath, Scenario
from bots.errors import ConfigError

YEAR_S = 365 * 24 * 3600


@dataclass(frozen=True)
class PricePath:
    """`prices[k]` is the true reference at step `k`, whose blocks carry timestamp `times[k]`."""

    times: tuple[int, ...]
    prices: tuple[Decimal, ...]

    def __len__(self) -> int:
        return len(self.prices)

    def at(self, step: int) -> Decimal:
        """The price at `step`, clamped to the path (a lagged feed at step 0 sees step 0)."""
        return self.prices[min(max(step, 0), len(self.prices) - 1)]


def build_path(scenario: Scenario) -> PricePath:
    spec = scenario.path
    if isinstance(spec, CsvPath):
        rows = load_csv(spec.file)
        if scenario.steps is not None:
            if scenario.steps > len(rows):
                raise ConfigError(
                    f"steps: {scenario.steps} asked, but {spec.file} has {len(rows)} rows"
                )
            rows = rows[: scenario.steps]
        return PricePath(tuple(t for t, _ in rows), tuple(p for _, p in rows))
    steps = scenario.steps or 1
    start = int(scenario.start.timestamp())
    times = tuple(start + k * scenario.interval_s for k in range(steps))
    seed = scenario.seed if spec.seed is None else spec.seed
    return PricePath(times, simulate(spec, steps, scenario.interval_s, seed))


def simulate(spec: GbmPath | JumpPath, steps: int, dt_s: int, seed: int) -> tuple[Decimal, ...]:
    """GBM (or Merton jump diffusion) log returns; jumps are compensated so `drift` stays the
    expected growth rate whatever the jumps."""
    rng = np.random.default_rng(seed)
    dt = dt_s / YEAR_S
    sigma = spec.volatility
    drift = spec.drift
    jumps = np.zeros(steps - 1)
    if isinstance(spec, JumpPath):
        kappa = math.exp(spec.jump_mean + spec.jump_std**2 / 2) - 1
        drift -= spec.jump_intensity * kappa
        counts = rng.poisson(spec.jump_intensity * dt, steps - 1)
        jumps = np.array(
            [rng.normal(spec.jump_mean, spec.jump_std, n).sum() if n else 0.0 for n in counts]
        )
    shocks = rng.standard_normal(steps - 1)
    log_returns = (drift - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * shocks + jumps
    levels = float(spec.start) * np.exp(np.cumsum(log_returns))
    prices = [spec.start] + [Decimal(f"{float(p):.10g}") for p in levels]
    if any(not p.is_finite() or p <= 0 for p in prices):
        raise ConfigError("path: the simulation left the positive numbers; lower the volatility")
    return tuple(prices)


def load_csv(path: Path) -> list[tuple[int, Decimal]]:
    """``timestamp,price`` rows (a first row of words is a header); timestamps are unix seconds
    or ISO-8601 (naive means UTC) and must increase strictly."""
    rows: list[tuple[int, Decimal]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for cells in reader:
                cells = [c.strip() for c in cells]
                if not any(cells) or (not rows and all(c[:1].isalpha() for c in cells)):
                    continue
                try:
                    rows.append(_row(cells, rows[-1][0] if rows else None))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{reader.line_num}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"path.file: cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"path.file: {path} is not a UTF-8 CSV file: {exc}") from None
    if not rows:
        raise ConfigError(f"path.file: {path} has no price rows")
    return rows


def _row(cells: list[str], last: int | None) -> tuple[int, Decimal]:
    if len(cells) != 2:
        raise ValueError(f"expected 2 columns (timestamp,price), got {len(cells)}")
    stamp = _timestamp(cells[0])
    if last is not None and stamp <= last:
        raise ValueError("timestamps must increase (a step is at least one second)")
    try:
        price = Decimal(cells[1])
    except InvalidOperation:
        raise ValueError(f"not a price: {cells[1]!r:.40}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError(f"not a positive price: {cells[1]!r:.40}")
    return stamp, price


def _timestamp(text: str) -> int:
    """Whole unix seconds: block timestamps are integers."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r:.40}") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
