"""The output folder (`summary.json`, `trades.csv`, `equity.csv`, plots) and the screen summary.

`trades.csv` holds only what the chain decided (blocks, amounts, exact prices), written the same
way every time, so two runs of a scenario can be compared byte for byte. Wall-clock figures go
to `summary.json` and the terminal only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

from bots.atomicfile import replaced, write_atomic
from bots.backtest.analytics import AgentReport, Analysis
from bots.backtest.scenario import CsvPath
from bots.backtest.stats import SHARPE_MIN_DAYS, SHARPE_MIN_RETURNS
from bots.numbers import count, decimal

TRADE_COLUMNS = (
    "step", "time", "block", "log_index", "offer_id", "maker", "taker", "maker_side",
    "price", "base_amount", "quote_amount", "reference",
)  # fmt: skip
EQUITY_COLUMNS = (
    "step", "time", "agent", "reference", "base", "quote", "equity", "pnl", "spread_pnl",
    "inventory_pnl", "gas_used", "gas_cost", "pnl_net", "best_bid", "best_ask",
)  # fmt: skip
MONEY = Decimal("0.000001")


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_report(analysis: Analysis, out: Path, *, plots: bool = True) -> list[Path]:
    """Write every report file into `out` (created if needed); return their paths.

    Each file is written to a temporary name and renamed into place (`bots.atomicfile`), so it
    is whole or absent; `summary.json` comes last, so a folder holding it holds a finished
    report, and a run that fails or is stopped while writing leaves no `summary.json`."""
    out.mkdir(parents=True, exist_ok=True)
    data = summary(analysis)
    files = [write_trades(analysis, out / "trades.csv"), write_equity(analysis, out / "equity.csv")]
    if plots:
        from bots.backtest.plots import write_plots  # matplotlib loads only when plots are wanted

        files += write_plots(analysis, out)
    files.insert(2, write_json(data, out / "summary.json"))
    return files


def _names(analysis: Analysis) -> Callable[[str], str]:
    by_address = {a.address: a.name for a in analysis.result.agents}
    return lambda address: by_address.get(address, address)


def write_trades(analysis: Analysis, path: Path) -> Path:
    base, quote = analysis.result.base, analysis.result.quote
    name = _names(analysis)
    with replaced(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRADE_COLUMNS)
        for f in analysis.fills:
            writer.writerow(
                [
                    *(f.step, iso(f.time), f.block, f.log_index, f"{f.offer_id:#x}"),
                    *(name(f.maker), name(f.taker), f.maker_side, f"{f.price:.8f}"),
                    Decimal(f.base_amt).scaleb(-base.decimals),
                    Decimal(f.quote_amt).scaleb(-quote.decimals),
                    f.reference,
                ]
            )
    return path


def write_equity(analysis: Analysis, path: Path) -> Path:
    with replaced(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EQUITY_COLUMNS)
        for name, curve in analysis.equity.items():
            for p in curve:
                bid = p.quotes.bid if p.quotes else None
                ask = p.quotes.ask if p.quotes else None
                writer.writerow(
                    [
                        *(p.step, iso(p.time), name, p.reference, p.base, p.quote),
                        *(_money(p.equity), _money(p.pnl), _money(p.spread)),
                        *(_money(p.inventory), p.gas_used, _money(p.gas_cost), _money(p.pnl_net)),
                        "" if bid is None else f"{bid:.8g}",
                        "" if ask is None else f"{ask:.8g}",
                    ]
                )
    return path


def _money(value: Decimal) -> Decimal:
    """`value` to 6 decimals, however large: the default context's 28 digits cannot hold the
    equity of a 1e20 price to 6 decimals (`quantize` then raises)."""
    if not value.is_finite():
        return value
    digits = max(value.adjusted(), 0) + 1 + 6
    return value.quantize(MONEY, context=Context(prec=max(28, digits)))


def write_json(data: dict[str, Any], path: Path) -> Path:
    write_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n", mode=0o644)
    return path


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return round(float(value), 6)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def summary(analysis: Analysis) -> dict[str, Any]:
    r = analysis.result
    s = r.scenario
    prices = r.path.prices
    blocks = r.steps[-1].last_block - r.steps[0].first_block + 1 if r.steps else 0
    return {
        "scenario": {
            "name": s.name,
            "seed": s.seed,
            "steps": len(r.steps),
            "path": s.path.kind,
            "start": iso(r.path.times[0]),
            "end": iso(r.path.times[-1]),
            "markout_steps": s.markout_steps,
            "gas_cost_per_mgas": s.market.gas_cost_per_mgas,
        },
        "market": {
            "base": {"symbol": r.base.symbol, "decimals": r.base.decimals},
            "quote": {"symbol": r.quote.symbol, "decimals": r.quote.decimals},
        },
        "reference": {
            "start": prices[0],
            "end": prices[-1],
            "min": min(prices),
            "max": max(prices),
        },
        "run": _run_figures(analysis, blocks),
        "conservation": {"ok": r.conservation.ok, "lines": list(r.conservation.lines)},
        "accounting": {"ok": analysis.accounting.ok, "lines": list(analysis.accounting.lines)},
        "agents": [asdict(a) for a in analysis.agents],
        "definitions": "bots/backtest/README.md#report-fields",
    }


def _run_figures(analysis: Analysis, blocks: int) -> dict[str, Any]:
    r = analysis.result
    loop_s = r.loop_s
    return {
        "blocks": blocks,
        "txs": r.txs,
        "wall_s": round(r.wall_s, 3),
        "steps_per_s": round(len(r.steps) / loop_s, 2) if loop_s else None,
        "txs_per_s": round(r.txs / loop_s, 2) if loop_s else None,
        "rpc_calls": sum(r.rpc_calls.values()),
        "timings_s": {k: round(v, 3) for k, v in r.timings.items()},
    }


# ---------------------------------------------------------------------- terminal summary
_ROWS: tuple[tuple[str, Callable[[AgentReport], str]], ...] = (
    ("role", lambda a: a.role),
    ("P&L {q}", lambda a: _num(a.pnl_total)),
    ("  spread capture", lambda a: _num(a.pnl_spread)),
    ("  inventory", lambda a: _num(a.pnl_inventory)),
    ("  gas cost", lambda a: _num(a.gas_cost)),
    ("net P&L {q}", lambda a: _num(a.pnl_net)),
    ("return %", lambda a: _num(a.return_pct, 3)),
    ("fills maker/taker", lambda a: f"{a.fills_maker}/{a.fills_taker}"),
    ("volume {b}", lambda a: _num(a.volume_base)),
    ("fill ratio %", lambda a: _pct(a.fill_ratio)),
    ("quote uptime %", lambda a: _pct(a.quote_uptime)),
    ("adverse sel. {k} steps bps", lambda a: _num(a.adverse_selection_bps, 1)),
    ("max drawdown {q}", lambda a: _num(a.max_drawdown)),
    ("Sharpe (annualised)", lambda a: _sharpe_cell(a)),
    ("txs (failed)", lambda a: f"{a.txs} ({a.txs_failed})"),
    ("gas used", lambda a: f"{a.gas_used:,}"),
)


def _num(value: Decimal | float | None, places: int = 2) -> str:
    return "-" if value is None else decimal(value, places)


def _sharpe_cell(agent: AgentReport) -> str:
    """The Sharpe ratio, or `short*` when the window is too short to show it (see the note)."""
    return "short*" if agent.sharpe_short_window is not None else _num(agent.sharpe)


def sharpe_note(agents: Sequence[AgentReport]) -> str | None:
    """The footnote of a `short*` Sharpe cell: the rule and how uncertain the estimate is."""
    short = [a for a in agents if a.sharpe_short_window is not None]
    if not short:
        return None
    errors = [a.sharpe_stderr for a in short if a.sharpe_stderr is not None]
    spread = f" (standard error here about {max(errors):,.0f})" if errors else ""
    return (
        f"* Sharpe not shown: the window is {short[0].window_days:.2f} days; an annualised "
        f"Sharpe ratio needs at least {SHARPE_MIN_DAYS} days and {SHARPE_MIN_RETURNS} steps"
        f"{spread}; summary.json keeps the estimate as sharpe_short_window"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else decimal(100 * value, 1)


def render_summary(analysis: Analysis, files: Sequence[Path] = ()) -> str:
    """One screen: the run, a column per agent, the checks, and where the files are."""
    r = analysis.result
    s = r.scenario
    figures = _run_figures(analysis, 0)
    kind = f"{s.path.kind} path" + (f" {s.path.file.name}" if isinstance(s.path, CsvPath) else "")
    lines = [
        f"backtest {s.name}: {count(len(r.steps), 'step')}, {iso(r.path.times[0])} -> "
        f"{iso(r.path.times[-1])}, seed {s.seed}, {kind}",
        f"reference {r.quote.symbol}/{r.base.symbol}: {r.path.prices[0]} -> {r.path.prices[-1]} "
        f"(low {min(r.path.prices)}, high {max(r.path.prices)})",
        f"chain: {r.txs:,} txs in {r.wall_s:.1f} s wall ({figures['steps_per_s']} steps/s, "
        f"{figures['txs_per_s']} tx/s in the loop)",
        "",
    ]
    width = max(
        12, *(len(a.name) + 2 for a in analysis.agents), *(len(a.role) + 2 for a in analysis.agents)
    )
    lines.append(" " * 26 + "".join(f"{a.name:>{width}}" for a in analysis.agents))
    labels = {"q": r.quote.symbol, "b": r.base.symbol, "k": s.markout_steps}
    for label, cell in _ROWS:
        row = "".join(f"{cell(a):>{width}}" for a in analysis.agents)
        lines.append(f"{label.format(**labels):<26}{row}")
    note = sharpe_note(analysis.agents)
    if note:
        lines.append(note)
    lines.append("")
    lines.append(
        f"conservation: {'OK' if r.conservation.ok else 'FAILED'}; "
        f"accounting (fills vs chain): {'OK' if analysis.accounting.ok else 'FAILED'}"
    )
    if files:
        folder = files[0].parent
        lines.append(f"report: {folder}/ ({' '.join(p.name for p in files)})")
    return "\n".join(lines)
