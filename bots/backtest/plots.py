"""PNG plots of a run: each bot's quotes and fills around the price, inventories, P&L.

Figures are built with matplotlib's object API on the Agg canvas, never through pyplot: no
global state, no display needed, safe in the sweep's worker processes. Floats are fine here.
Every axis is labelled with its unit; times are the chain's block times in UTC, said so on the
time axis. The price plot draws every quote level a bot had live, not only its best.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from numpy.typing import NDArray

matplotlib.use("Agg")  # before anything imports pyplot: never try to open a window

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bots.atomicfile import replaced  # noqa: E402
from bots.backtest.analytics import Analysis, EquityPoint, Fill, whole  # noqa: E402

DPI = 110


def _times(points: Sequence[EquityPoint]) -> NDArray[np.datetime64]:
    return _stamps([p.time for p in points])


def _stamps(seconds: Sequence[int]) -> NDArray[np.datetime64]:
    """Unix seconds as UTC datetimes matplotlib puts on a date axis."""
    return np.asarray(seconds, dtype="datetime64[s]")


def write_plots(analysis: Analysis, out: Path) -> list[Path]:
    files = []
    for agent in analysis.result.agents:
        if agent.role == "bot":
            files.append(price_plot(analysis, agent.name, out / f"price_{agent.name}.png"))
    files.append(inventory_plot(analysis, out / "inventory.png"))
    files.append(equity_plot(analysis, out / "equity.png"))
    return files


def price_plot(analysis: Analysis, name: str, path: Path) -> Path:
    """The true price, the bot's best bid and ask after each tick, and its fills."""
    r = analysis.result
    curve = analysis.equity[name]
    times = _times(curve)
    fig = Figure(figsize=(11, 5), dpi=DPI)
    ax = fig.add_subplot()
    ax.plot(times, [float(p.reference) for p in curve], color="black", lw=1, label="reference")
    _levels(ax, curve)
    bids = [p.quotes.bid if p.quotes else None for p in curve]
    asks = [p.quotes.ask if p.quotes else None for p in curve]
    ax.step(times, _nan(bids), where="post", color="tab:green", lw=0.8, label="best bid")
    ax.step(times, _nan(asks), where="post", color="tab:red", lw=0.8, label="best ask")
    address = next(a.address for a in r.agents if a.name == name)
    _fills(ax, [f for f in analysis.fills if f.sign_for(address)], address)
    ax.set_title(f"{name}: quotes and fills")
    ax.set_ylabel(f"price ({r.quote.symbol} per {r.base.symbol})")
    ax.legend(loc="best", fontsize=8)
    _time_axis(fig, ax)
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _levels(ax: Axes, curve: Sequence[EquityPoint]) -> None:
    """Every live quote level after each step, as faint dots under the best bid and ask."""
    for side, color in (("bids", "tab:green"), ("asks", "tab:red")):
        times: list[int] = []
        prices: list[float] = []
        for point in curve:
            levels: tuple[float, ...] = getattr(point.quotes, side) if point.quotes else ()
            times += [point.time] * len(levels)
            prices += levels
        if prices:
            label = f"{side[:-1]} levels"
            ax.scatter(_stamps(times), prices, s=4, color=color, alpha=0.35, lw=0, label=label)


def _time_axis(fig: Figure, ax: Axes) -> None:
    ax.set_xlabel("block time (UTC)")
    fig.autofmt_xdate()


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _fills(ax: Axes, fills: Sequence[Fill], address: str) -> None:
    for sign, marker, color, label in (
        (1, "^", "tab:green", "bought"),
        (-1, "v", "tab:red", "sold"),
    ):
        mine = [f for f in fills if f.sign_for(address) == sign]
        if mine:
            ax.scatter(
                _stamps([f.time for f in mine]),
                [float(f.price) for f in mine],
                marker=marker,
                color=color,
                s=18,
                zorder=3,
                label=label,
            )


def inventory_plot(analysis: Analysis, path: Path) -> Path:
    """Base holdings (free + escrowed) after each step: the bots under test on top, the
    counter-flow (often much larger) below, so neither scale flattens the other."""
    r = analysis.result
    groups = [[a for a in r.agents if a.role == "bot"], [a for a in r.agents if a.role != "bot"]]
    groups = [g for g in groups if g]
    fig = Figure(figsize=(11, 3 * len(groups) + 1), dpi=DPI)
    axes = fig.subplots(len(groups), 1, squeeze=False, sharex=True)
    for row, agents in enumerate(groups):
        ax: Axes = axes[row][0]
        for agent in agents:
            curve = analysis.equity[agent.name]
            held = [float(whole(p.base, r.base)) for p in curve]
            ax.plot(_times(curve), held, lw=1, label=f"{agent.name} ({agent.role})")
        ax.set_ylabel(f"{r.base.symbol} held")
        ax.legend(loc="best", fontsize=8)
    axes[0][0].set_title(f"inventory ({r.base.symbol}, free + escrowed)")
    _time_axis(fig, axes[-1][0])
    fig.tight_layout()
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def equity_plot(analysis: Analysis, path: Path) -> Path:
    """Per bot: P&L with its inventory part (left) and spread capture with gas cost (right),
    apart because holding inventory usually moves far more than the spread earns."""
    r = analysis.result
    bots = [a for a in r.agents if a.role == "bot"]
    fig = Figure(figsize=(12, 3.2 * len(bots) + 0.8), dpi=DPI)
    axes = fig.subplots(len(bots), 2, squeeze=False, sharex=True)
    for row, agent in enumerate(bots):
        curve = analysis.equity[agent.name]
        times = _times(curve)
        left: Axes = axes[row][0]
        left.plot(times, [float(p.pnl_net) for p in curve], color="black", lw=1.2, label="net P&L")
        left.plot(
            times, [float(p.inventory) for p in curve], color="tab:orange", lw=1, label="inventory"
        )
        left.set_title(f"{agent.name}: P&L in {r.quote.symbol}", fontsize=10)
        right: Axes = axes[row][1]
        right.plot(
            times, [float(p.spread) for p in curve], color="tab:blue", lw=1, label="spread capture"
        )
        right.plot(
            times, [-float(p.gas_cost) for p in curve], color="tab:red", lw=1, label="- gas cost"
        )
        right.set_title(f"{agent.name}: spread capture in {r.quote.symbol}", fontsize=10)
        for ax in (left, right):
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_ylabel(r.quote.symbol)
            ax.legend(loc="best", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("block time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
