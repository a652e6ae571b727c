"""Parameter sweeps: a grid of one or two scenario values, run in parallel, one row per point.

Every grid point is validated before the first one runs (a typo in the last value must not
cost the whole grid). Each point runs in its own worker process with its own dev chain (anvil
picks a free port), so points share nothing and the grid spreads over the CPU cores. Workers are
spawned, not forked: a fork would copy the parent's threads and sockets into the child. An
interrupted sweep keeps the rows it has (`run_sweep` yields them as points finish) and stops
its workers and their chains; nothing it started outlives it, even a SIGKILL.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import re
import signal
import sys
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import product
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import matplotlib
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from bots.backtest.analytics import AgentReport, analyse
from bots.backtest.engine import run_backtest
from bots.backtest.report import write_report
from bots.backtest.scenario import Scalar, Scenario, scenario_from_raw
from bots.devtools.lifetime import exit_with_parent
from bots.errors import ConfigError

matplotlib.use("Agg")  # never try to open a window

ROW_METRICS = (
    "pnl_total", "pnl_spread", "pnl_inventory", "gas_cost", "pnl_net", "fills", "volume_base",
    "fill_ratio", "quote_uptime", "adverse_selection_bps", "max_drawdown", "sharpe",
)  # fmt: skip
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


def short(key: str) -> str:
    """The last segment of a dotted key: `strategy.params.spread_bps` shows as `spread_bps`."""
    return key.rsplit(".", 1)[-1]


def build_grid(
    raw: Mapping[str, Any],
    path: Path,
    spec: Mapping[str, Sequence[Scalar]],
    sets: Mapping[str, Scalar],
) -> list[GridPoint]:
    """Every grid point as a validated scenario; all problems of all points in one error."""
    if not 1 <= len(spec) <= 2:
        raise ConfigError(f"a sweep takes one or two parameters, got {len(spec)}")
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


def run_sweep(
    points: Sequence[GridPoint],
    out: Path,
    *,
    jobs: int,
    plots: bool,
    log_level: str,
    stream: TextIO | None = None,
) -> Generator[Row, None, None]:
    """Run every point (in up to `jobs` worker processes), yielding rows as points finish.

    Close the iterator (`contextlib.closing`) when stopping early: an interruption
    (`KeyboardInterrupt`, which the CLI raises for SIGINT and SIGTERM too) or a failed point
    terminates the workers, which stop their dev chains, and the rows yielded so far stand.
    Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group: the parent
    decides) and die with the parent if it is killed (`bots.devtools.lifetime`).
    """
    stream = stream or sys.stderr
    by_index = {point.index: point for point in points}
    if jobs <= 1 or len(points) <= 1:
        for done, point in enumerate(points, 1):
            row = run_point(point, out, plots)
            _report_progress(stream, done, len(points), point, row)
            yield row
        return
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(
        processes=min(jobs, len(points)),
        initializer=_init_worker,
        initargs=(log_level, os.getpid()),
    )
    try:
        tasks = [(point, out, plots) for point in points]
        for done, row in enumerate(pool.imap_unordered(_run_task, tasks), 1):
            _report_progress(stream, done, len(points), by_index[int(row["run"])], row)
            yield row
        pool.close()
    finally:
        pool.terminate()  # SIGTERM to busy workers: each stops its chain on the way out
        pool.join()


def _run_task(task: tuple[GridPoint, Path, bool]) -> Row:
    return run_point(*task)


def _init_worker(log_level: str, parent: int) -> None:
    """A sweep worker: dies with the parent, leaves Ctrl-C to it, stops cleanly on SIGTERM."""
    from bots.service.logs import configure_logging

    exit_with_parent(parent, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    configure_logging("console", log_level)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds `with DevChain(...)`: anvil is stopped


def _report_progress(stream: TextIO, done: int, total: int, point: GridPoint, row: Row) -> None:
    net = next((v for k, v in row.items() if k.endswith("pnl_net")), None)
    stream.write(f"sweep: {done}/{total} done ({point.label}: net P&L {_cell(net)})\n")
    stream.flush()


def run_point(point: GridPoint, out: Path, plots: bool) -> Row:
    """One grid point, start to finish, with its full report in `out/runs/<slug>/`."""
    analysis = analyse(run_backtest(point.scenario))
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
    values: dict[str, Any] = {}
    for key in ROW_METRICS:
        value = getattr(agent, key)
        values[key] = round(float(value), 6) if isinstance(value, Decimal | float) else value
    return values


def write_sweep_csv(rows: Sequence[Row], path: Path) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
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


def _norm(grid: list[list[float]]) -> Normalize:
    """Red for the worst, green for the best; centred on 0 when the values straddle it."""
    finite = [v for line in grid for v in line if not math.isnan(v)]
    low, high = min(finite, default=0.0), max(finite, default=0.0)
    if low < 0 < high:
        return TwoSlopeNorm(vcenter=0.0, vmin=low, vmax=high)
    if low == high:
        low, high = low - 1, high + 1
    return Normalize(vmin=low, vmax=high)


def heatmap(rows: Sequence[Row], keys: Sequence[str], column: str, path: Path) -> Path:
    """`column` over the grid: rows are the first key's values, columns the second's."""
    ys = list(dict.fromkeys(row[keys[0]] for row in rows))
    xs = list(dict.fromkeys(row[keys[1]] for row in rows)) if len(keys) > 1 else [""]
    grid = [[math.nan] * len(xs) for _ in ys]
    for row in rows:
        x = xs.index(row[keys[1]]) if len(keys) > 1 else 0
        value = row.get(column)
        grid[ys.index(row[keys[0]])][x] = math.nan if value is None else float(value)
    fig = Figure(figsize=(1.4 * len(xs) + 3, 0.7 * len(ys) + 2), dpi=110)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="RdYlGn", norm=_norm(grid), aspect="auto")
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:,.2f}", ha="center", va="center")
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_ylabel(short(keys[0]))
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(short(keys[1]) if len(keys) > 1 else "")
    ax.set_title(column)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path)
    return path
