"""`otcmm backtest`: one run, or a parameter sweep, of a scenario file.

Everything a run needs is checked before it starts (the scenario and every grid point, the
price file, the output folder), so a run never ends by finding it cannot write its report.
SIGINT/SIGTERM stop it (exit 130/143) with the dev chains and sweep or optimisation workers
stopped; an interrupted sweep first writes sweep.csv and the heatmap of the points that
finished, an interrupted optimisation the report of its finished trials (`bots.cli.optimize`).
The optimisation's own flags (--storage, --study, --worker-index, --report-only) are refused
without --optimize.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.backtest.scenario import parse_assignments, refuse_duplicates
from bots.cli import argtypes
from bots.cli.optimize import add_optimize_arguments, optimize
from bots.cli.progress import every_tenth, progress
from bots.errors import ConfigError, OtcmmError
from bots.numbers import count
from bots.outputs import writable_dir

if TYPE_CHECKING:
    from bots.backtest.scenario import Scalar, Scenario

DEFAULT_OUT = Path("backtest-out")


def register(sub: Any) -> None:
    """Add `backtest` to the `otcmm` subparsers."""
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
        "--jobs",
        type=argtypes.integer(1, 256),
        default=os.cpu_count() or 1,
        help="sweep workers, 1..256 (the CPU cores)",
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
    from bots.backtest.pricepath import build_path
    from bots.backtest.scenario import load_scenario
    from bots.service.logs import configure_logging

    configure_logging("console", args.log_level)
    sets = _sets(args.set)
    scenario, raw = load_scenario(args.config, sets)
    out = args.out or DEFAULT_OUT / scenario.name
    if args.optimize:
        if args.sweep:
            raise ConfigError("--optimize and --sweep: choose one")
        return optimize(args, raw, sets, scenario, out)
    given = [flag for flag, value in _optimize_only(args) if value]
    if given:
        raise ConfigError(f"{', '.join(given)}: only with --optimize")
    sweeps = parse_assignments(args.sweep, "--sweep")
    refuse_duplicates(raw, [("--set", k) for k in sets] + [("--sweep", k) for k in sweeps])
    spec = sweeps or scenario.sweep
    if spec:
        return _sweep(args, raw, spec, sets, out)
    build_path(scenario)  # the price file parses, the simulation stays positive
    if args.check:
        bots = count(len(scenario.bots), "bot")
        print(f"{args.config}: ok ({scenario.name}: {bots} under test)")
        return 0
    writable_dir(out, "--out")  # before the run, not after it
    return _single(args, scenario, out)


def _optimize_only(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """The flags that mean something only to --optimize, and whether each was given."""
    return [
        ("--storage", args.storage is not None),
        ("--study", args.study is not None),
        ("--worker-index", args.worker_index is not None),
        ("--report-only", args.report_only),
    ]


def _single(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    from bots.backtest.analytics import analyse
    from bots.backtest.engine import run_backtest
    from bots.backtest.outdir import prepare_out
    from bots.backtest.report import render_summary, write_report

    prepare_out(out, force=args.force)
    label = f"backtest {scenario.name}"
    with progress(label, "step", every_tenth(label)) as update:
        result = run_backtest(
            scenario, progress=lambda done, total, txs: update(done, total, f"{txs:,} txs")
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
    from bots.backtest.outdir import prepare_out
    from bots.backtest.pricepath import build_path
    from bots.backtest.sweep import ROW_METRICS, build_grid
    from bots.backtest.sweeprun import run_sweep

    if args.metric not in ROW_METRICS:
        raise ConfigError(f"--metric {args.metric}: one of {', '.join(ROW_METRICS)}")
    points = build_grid(raw, args.config, spec, sets)
    for point in points:
        build_path(point.scenario)
    keys = list(spec)
    if args.check:
        print(f"{args.config}: ok ({count(len(points), 'grid point')} over {', '.join(keys)})")
        return 0
    writable_dir(out, "--out")
    prepare_out(out, force=args.force)
    runs = count(len(points), "run")
    print(f"sweep: {runs} over {', '.join(keys)}, {count(args.jobs, 'job')}", file=sys.stderr)
    market = points[0].scenario.market
    symbols = {"base": market.base.symbol, "quote": market.quote.symbol}
    rows: list[dict[str, object]] = []
    sweep = run_sweep(
        points, out, jobs=args.jobs, plots=not args.no_plots, log_level=args.log_level
    )
    try:
        with closing(sweep):
            rows.extend(sweep)
    except BaseException:  # interrupted or a point failed: keep what finished, then say why
        if rows:
            files = _write_sweep(rows, keys, args.metric, out, symbols)
            print(
                f"sweep stopped after {len(rows)} of {runs}: wrote {', '.join(files)} in {out}/",
                file=sys.stderr,
            )
        raise
    files = _write_sweep(rows, keys, args.metric, out, symbols)
    print(_render_table(rows, keys))
    print(f"report: {out}/ ({' '.join(files)}, runs/)")
    if not all(row["checks_ok"] for row in rows):
        raise OtcmmError("conservation or accounting check failed in a run: see sweep.csv")
    return 0


def _write_sweep(
    rows: list[dict[str, object]],
    keys: list[str],
    metric: str,
    out: Path,
    symbols: dict[str, str],
) -> list[str]:
    """sweep.csv (rows in grid order) and the heatmap; the names of the files written."""
    from bots.backtest.heatmap import heatmap
    from bots.backtest.sweep import metric_column, write_sweep_csv

    ordered = sorted(rows, key=lambda row: int(str(row["run"])))
    files = [write_sweep_csv(ordered, out / "sweep.csv")]
    column = metric_column(ordered, metric)
    files.append(heatmap(ordered, keys, column, out / "sweep_heatmap.png", symbols))
    return [path.name for path in files]


def _render_table(rows: list[dict[str, object]], keys: list[str]) -> str:
    from bots.backtest.sweep import render_table

    return render_table(sorted(rows, key=lambda row: int(str(row["run"]))), keys)
