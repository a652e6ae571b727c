"""`otcmm backtest`: one run, or a parameter sweep, of a scenario file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bots.backtest.scenario import Scalar, parse_assignments, refuse_duplicates
from bots.cli.optimize import add_optimize_arguments, optimize
from bots.cli.progress import every_tenth, progress
from bots.errors import ConfigError, OtcmmError

if TYPE_CHECKING:
    from bots.backtest.scenario import Scenario

DEFAULT_OUT = Path("backtest-out")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay a price path through the real contracts and the real bot code",
        description="Start a dev chain whose clock the backtest controls, deploy the contracts, "
        "and tick the scenario's bots and counter-flow through the normal bot pipeline, one "
        "step at a time; then write summary.json, trades.csv, equity.csv and PNG plots. "
        "Scenario format and report fields: bots/backtest/README.md.",
    )
    p.add_argument("--config", type=Path, required=True, help="the scenario file (TOML)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: backtest-out/<name>)"
    )
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="run a grid over one or two scenario values, e.g. "
        "strategy.params.spread_bps=20,40,80 (replaces the file's [sweep] table)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one scenario value, e.g. steps=50 or path.volatility=0.3",
    )
    p.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="sweep workers (CPU cores)"
    )
    p.add_argument("--metric", default="pnl_net", help="what the sweep heatmap shows (pnl_net)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument(
        "--force",
        action="store_true",
        help="reuse the non-empty --out folder of an earlier backtest (deleting its contents)",
    )
    p.add_argument("--check", action="store_true", help="only validate the scenario (and grid)")
    add_optimize_arguments(p)
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="error",
        help="bot log lines on stderr (error: only failures)",
    )
    p.set_defaults(handler=_cmd_backtest)


def _sets(items: list[str]) -> dict[str, Scalar]:
    parsed = parse_assignments(items, "--set")
    for key, values in parsed.items():
        if len(values) != 1:
            raise ConfigError(f"--set {key}: one value only (use --sweep for several)")
    return {key: values[0] for key, values in parsed.items()}


def _cmd_backtest(args: argparse.Namespace) -> int:
    from bots.backtest.scenario import load_scenario
    from bots.service.logs import configure_logging

    if args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    configure_logging("console", args.log_level)
    sets = _sets(args.set)
    scenario, raw = load_scenario(args.config, sets)
    out = args.out or DEFAULT_OUT / scenario.name
    if args.optimize:
        if args.sweep:
            raise ConfigError("--optimize and --sweep: choose one")
        return optimize(args, raw, sets, scenario, out)
    sweeps = parse_assignments(args.sweep, "--sweep")
    refuse_duplicates(raw, [("--set", k) for k in sets] + [("--sweep", k) for k in sweeps])
    spec = sweeps or scenario.sweep
    if spec:
        return _sweep(args, raw, spec, sets, out)
    if args.check:
        print(f"{args.config}: ok ({scenario.name}: {len(scenario.bots)} bots under test)")
        return 0
    return _single(args, scenario, out)


def _single(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    from bots.backtest.analytics import analyse
    from bots.backtest.engine import run_backtest
    from bots.backtest.outdir import prepare_out
    from bots.backtest.report import render_summary, write_report

    prepare_out(out, force=args.force)
    label = f"backtest {scenario.name}"
    with progress(label, "step", every_tenth(label)) as update:
        result = run_backtest(
            scenario, progress=lambda done, total, txs: update(done, total, f"{txs} txs")
        )
    analysis = analyse(result)
    files = write_report(analysis, out, plots=not args.no_plots)
    print(render_summary(analysis, files))
    if not analysis.ok:
        raise OtcmmError("conservation or accounting check failed: see the summary above")
    return 0


def _sweep(
    args: argparse.Namespace,
    raw: dict[str, object],
    spec: dict[str, list[Scalar]],
    sets: dict[str, Scalar],
    out: Path,
) -> int:
    from bots.backtest.heatmap import heatmap
    from bots.backtest.outdir import prepare_out
    from bots.backtest.sweep import (
        ROW_METRICS,
        build_grid,
        metric_column,
        render_table,
        run_sweep,
        write_sweep_csv,
    )

    if args.metric not in ROW_METRICS:
        raise ConfigError(f"--metric {args.metric}: one of {', '.join(ROW_METRICS)}")
    points = build_grid(raw, args.config, spec, sets)
    keys = list(spec)
    if args.check:
        print(f"{args.config}: ok ({len(points)} grid points over {', '.join(keys)})")
        return 0
    prepare_out(out, force=args.force)
    print(f"sweep: {len(points)} runs over {', '.join(keys)}, {args.jobs} jobs", file=sys.stderr)
    rows = run_sweep(points, out, jobs=args.jobs, plots=not args.no_plots, log_level=args.log_level)
    files = [write_sweep_csv(rows, out / "sweep.csv")]
    market = points[0].scenario.market
    symbols = {"base": market.base.symbol, "quote": market.quote.symbol}
    column = metric_column(rows, args.metric)
    files.append(heatmap(rows, keys, column, out / "sweep_heatmap.png", symbols))
    print(render_table(rows, keys))
    print(f"report: {out}/ ({' '.join(p.name for p in files)}, runs/)")
    if not all(row["checks_ok"] for row in rows):
        raise OtcmmError("conservation or accounting check failed in a run: see sweep.csv")
    return 0
