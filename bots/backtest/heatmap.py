"""The sweep heatmap: one metric over a grid of one or two parameters.

Colours diverge around zero, always: a diverging colormap (`RdYlGn`) with a symmetric norm
centred on 0 (`CenteredNorm`), so a loss is red and a gain green whatever the grid's range, and
equal distances from zero look equally strong (a grid of losses is all red: the least bad cell
is not painted green). For a metric where less is better (drawdown, gas cost, adverse
selection) the colormap is reversed. The title names the metric and its unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never try to open a window

from matplotlib.colors import CenteredNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bots.atomicfile import replaced  # noqa: E402
from bots.backtest.metrics import LOWER_IS_BETTER, unit  # noqa: E402


def short(key: str) -> str:
    """The last segment of a dotted key: `strategy.params.spread_bps` shows as `spread_bps`."""
    return key.rsplit(".", 1)[-1]


def unit_of(column: str, symbols: Mapping[str, str]) -> str:
    """The unit of a sweep column (`fixed.pnl_net` -> `EURT, after gas`)."""
    return unit(short(column), symbols["base"], symbols["quote"])


def norm_for(grid: Sequence[Sequence[float]]) -> CenteredNorm:
    """Symmetric around 0: half-range the largest absolute finite value (1 if none)."""
    finite = [abs(v) for line in grid for v in line if not math.isnan(v)]
    return CenteredNorm(vcenter=0.0, halfrange=max(finite, default=0.0) or 1.0)


def heatmap(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    column: str,
    path: Path,
    symbols: Mapping[str, str],
) -> Path:
    """`column` over the grid: rows are the first key's values, columns the second's.

    `symbols` gives the `base` and `quote` token symbols for the unit in the title."""
    ys = list(dict.fromkeys(row[keys[0]] for row in rows))
    xs = list(dict.fromkeys(row[keys[1]] for row in rows)) if len(keys) > 1 else [""]
    grid = [[math.nan] * len(xs) for _ in ys]
    for row in rows:
        x = xs.index(row[keys[1]]) if len(keys) > 1 else 0
        value = row.get(column)
        grid[ys.index(row[keys[0]])][x] = math.nan if value is None else float(value)
    fig = Figure(figsize=(1.4 * len(xs) + 3.5, 0.7 * len(ys) + 2), dpi=110)
    ax = fig.add_subplot()
    cmap = "RdYlGn_r" if short(column) in LOWER_IS_BETTER else "RdYlGn"
    image = ax.imshow(grid, cmap=cmap, norm=norm_for(grid), aspect="auto")
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:,.2f}", ha="center", va="center")
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_ylabel(short(keys[0]))
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(short(keys[1]) if len(keys) > 1 else "")
    unit = unit_of(column, symbols)
    ax.set_title(f"{column} ({unit})" if unit else column, fontsize=10)
    fig.colorbar(image, ax=ax, label=unit)
    fig.tight_layout()
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
