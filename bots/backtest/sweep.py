"""Parameter sweeps: a grid of one or two scenario values, run in parallel, one row per point.

Every grid point is validated before the first one runs (a typo in the last value must not
cost the whole grid). Each point runs in its own worker process with its own dev chain (anvil
picks a free port), so points share nothing and the grid spreads over the CPU cores. Workers are
spawned, not forked: a fork would copy the parent's threads and sockets into the child. An
interrupted sweep keeps the rows it has (`bots.backtest.sweeprun.run_sweep` yields them as
points finish) and stops its workers and their chains; nothing it started outlives it, even a
SIGKILL.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, TextIO

from bots.atomicfile import replaced
from bots.backtest.analytics import AgentReport, analyse, metric_value
from bots.backtest.engine import run_backtest
from bots.backtest.heatmap import short
from bots.backtest.metrics import METRICS
from bots.backtest.report import write_report
from bots.backtest.scenario import Scalar, Scenario, scenario_from_raw
from bots.errors import ConfigError
from bots.numbers import count

ROW_METRICS = METRICS
MAX_GRID_POINTS = 256  # each point is a full backtest on its own dev chain
TABLE_METRICS = ("pnl_net", "pnl_spread", "pnl_inventory", "fills", "quote_uptime", "sharpe")

Row = dict[str, Any]


@dataclass(frozen=True)
class GridPoint:
    index: int
    values: dict[str, Scalar]
    scenario: Scenario

    @property
    def label(self) -> str:
        return ", ".join(f"{short(k)}={v}" for k, v in self.values.items())

    @property
    def slug(self) -> str:
        text = "_".join(f"{short(k)}-{v}" for k, v in self.values.items())
        return f"{self.index:03d}_" + re.sub(r"[^A-Za-z0-9_.-]+", "", text)[:80]


def build_grid(
    raw: Mapping[str, Any],
    path: Path,
    spec: Mapping[str, Sequence[Scalar]],
    sets: Mapping[str, Scalar],
) -> list[GridPoint]:
    """Every grid point as a validated scenario; all problems of all points in one error.

    At most `MAX_GRID_POINTS` points (each is a backtest on its own chain): a larger grid is a
    `ConfigError` before any point is built."""
    if not 1 <= len(spec) <= 2:
        raise ConfigError(f"a sweep takes one or two parameters, got {len(spec)}")
    for key, given in spec.items():
        twice = sorted({repr(v) for v in given if list(given).count(v) > 1})
        if twice:  # each would run the same backtest again
            raise ConfigError(f"--sweep {key}: {', '.join(twice)} given more than once")
    size = math.prod(len(values) for values in spec.values())
    if size > MAX_GRID_POINTS:
        shape = " x ".join(str(len(values)) for values in spec.values())
        raise ConfigError(
            f"the grid has {size:,} points ({shape}); the limit is {MAX_GRID_POINTS}: give fewer "
            "values, or search the ranges with --optimize"
        )
    base = {k: v for k, v in raw.items() if k != "sweep"}
    points: list[GridPoint] = []
    problems: list[str] = []
    for index, combo in enumerate(product(*spec.values())):
        values = dict(zip(spec, combo, strict=True))
        try:
            scenario = scenario_from_raw(base, path, {**sets, **values})
        except ConfigError as exc:
            label = ", ".join(f"{k}={v}" for k, v in values.items())
            problems += [f"[{label}] {line}" for line in str(exc).splitlines()]
            continue
        points.append(GridPoint(index, values, scenario))
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    return points


PointProgress = Callable[[GridPoint, int, int], None]
"""Called by `run_point` with (point, steps done, steps in total)."""


def net_pnl(row: Row) -> object:
    """The row's net P&L (its first bot's), None if it has none."""
    return next((v for k, v in row.items() if k.endswith("pnl_net")), None)


class PointLines:
    """Writes the per-point progress lines: started, each quarter of the steps, done."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.finished = 0
        self.quarters: dict[int, int] = {}

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, point: GridPoint, done: int, total: int) -> None:
        quarter = done * 4 // max(total, 1)
        if self.quarters.get(point.index) == quarter:
            return
        self.quarters[point.index] = quarter
        tag = f"sweep [{point.index + 1}/{self.total} {point.label}]"
        if done <= 1 and quarter == 0:
            self._write(f"{tag}: started, {count(total, 'step')}")
        elif quarter < 4:
            self._write(f"{tag}: step {done:,}/{total:,} ({25 * quarter}%)")

    def done(self, point: GridPoint, net: object) -> None:
        self.finished += 1
        self._write(
            f"sweep: {self.finished}/{self.total} done ({point.label}: net P&L {_cell(net)})"
        )


def run_point(
    point: GridPoint, out: Path, plots: bool, progress: PointProgress | None = None
) -> Row:
    """One grid point, start to finish, with its full report in `out/runs/<slug>/`."""

    def on_step(done: int, total: int, _txs: int) -> None:
        if progress is not None:
            progress(point, done, total)

    analysis = analyse(run_backtest(point.scenario, progress=on_step))
    folder = out / "runs" / point.slug
    write_report(analysis, folder, plots=plots)
    bots = [a for a in analysis.agents if a.role == "bot"]
    row: Row = {"run": point.index, **point.values}
    for agent in bots:
        prefix = f"{agent.name}." if len(bots) > 1 else ""
        row.update({prefix + k: v for k, v in metrics(agent).items()})
    row["checks_ok"] = analysis.ok
    row["report"] = str(folder)
    return row


def metrics(agent: AgentReport) -> dict[str, Any]:
    return {key: metric_value(agent, key) for key in ROW_METRICS}


def write_sweep_csv(rows: Sequence[Row], path: Path) -> Path:
    """`rows` as csv at `path`, written whole or not at all (`bots.atomicfile.replaced`)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with replaced(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def render_table(rows: Sequence[Row], keys: Sequence[str]) -> str:
    """The grid as a table: the swept values, then the headline metrics of each bot."""
    if not rows:
        return "(no runs)"
    shown = [c for c in rows[0] if c in keys or short(c) in TABLE_METRICS]
    headers = [short(c) if c in keys else c for c in shown]
    cells = [[_cell(row.get(c)) for c in shown] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.3f}"
    return str(value)


def metric_column(rows: Sequence[Row], metric: str) -> str:
    """The column the heatmap colours: `metric` itself, or the first bot's `<bot>.metric`."""
    columns = list(rows[0]) if rows else []
    if metric in columns:
        return metric
    for column in columns:
        if short(column) == metric:
            return column
    raise ConfigError(f"--metric {metric}: not a sweep column; try one of {', '.join(ROW_METRICS)}")
