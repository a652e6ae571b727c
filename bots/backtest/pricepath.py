"""The reference price of every step, and the chain time it belongs to.

The whole path is built before the first step, from a file or a seeded simulation, so a run is
a pure function of its scenario. Simulated prices keep 10 significant digits: the float inside
the simulation never leaks spurious precision into quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from bots.backtest.scenario import CsvPath, GbmPath, JumpPath, Scenario
from bots.backtest.stats import YEAR_S
from bots.errors import ConfigError
from bots.feeds.pricefile import PriceFileError, read_price_rows
from bots.numbers import count


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
                    f"steps: {scenario.steps} asked, but {spec.file} has {count(len(rows), 'row')}"
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
    """``timestamp,price`` rows (see `bots.feeds.pricefile`) as whole unix seconds, strictly
    increasing: each row is a step, and a block timestamp is a whole second after the last."""
    try:
        rows = read_price_rows(path)
    except PriceFileError as exc:
        raise ConfigError(f"path.file: {exc}") from None
    steps: list[tuple[int, Decimal]] = []
    for row in rows:
        stamp = int(row.timestamp)
        if steps and stamp <= steps[-1][0]:
            raise ConfigError(
                f"{path}:{row.line}: timestamps must increase (a step is at least one second)"
            )
        steps.append((stamp, row.price))
    return steps
