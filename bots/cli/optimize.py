"""`otcmm backtest --optimize`: run workers of a shared Optuna study, then write its report."""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.errors import ConfigError, OtcmmError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from bots.backtest.scenario import Scalar, Scenario

WORKER_INDEX_ENV = "JOB_COMPLETION_INDEX"  # set by Kubernetes in each pod of an Indexed Job


def add_optimize_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation (the scenario's [optimize] table)")
    g.add_argument(
        "--optimize",
        action="store_true",
        help="search the [optimize] ranges with Optuna's TPE sampler, pruning hopeless trials; "
        "writes trials.csv, best.toml and plots",
    )
    g.add_argument(
        "--storage",
        metavar="URL",
        help="the study's storage: sqlite:///path or postgresql://user:pw@host/db (default: "
        "$OTCMM_STUDY_STORAGE, else [optimize] storage, else study.db in --out); prefer the "
        "environment variable for a URL with a password: argv is visible to ps",
    )
    g.add_argument(
        "--study", metavar="NAME", help="the study's name (default: [optimize] study or scenario)"
    )
    g.add_argument(
        "--worker-index",
        type=int,
        default=None,
        metavar="N",
        help=f"this process's index among the study's workers, for distinct sampler seeds "
        f"(default: ${WORKER_INDEX_ENV}, set in an Indexed Job's pods, else 0)",
    )
    g.add_argument(
        "--report-only",
        action="store_true",
        help="run no trial: write the study's report from its storage",
    )


def optimize(
    args: argparse.Namespace,
    raw: dict[str, Any],
    sets: dict[str, Scalar],
    scenario: Scenario,
    out: Path,
) -> int:
    from bots.backtest.optimize import Plan, await_running, check_spec
    from bots.backtest.optworkers import run_workers
    from bots.backtest.scenario import set_dotted
    from bots.backtest.studies import DEFAULT_DB, masked, resolve_storage, scenario_identity

    spec, bot, every = check_spec(raw, args.config, scenario, sets)
    url = resolve_storage(args.storage, spec, out)
    default_db = (out / DEFAULT_DB).resolve()
    in_out = url == f"sqlite:///{default_db}"
    name = args.study or spec.study or scenario.name
    index = _worker_index(args.worker_index)
    if args.check:
        print(
            f"{args.config}: ok (optimise {spec.metric} of {bot}, {spec.direction}, "
            f"{len(spec.params)} parameters, {spec.trials} trials; study {name!r} at {masked(url)})"
        )
        return 0
    applied = copy.deepcopy(raw)
    for key, value in sets.items():
        set_dotted(applied, key, value)
    seed = scenario.seed if spec.seed is None else spec.seed
    plan = Plan(
        raw=raw,
        path=args.config,
        sets=sets,
        spec=spec,
        bot=bot,
        every_steps=every,
        storage=url,
        study=name,
        identity=scenario_identity(applied),
        seed=seed,
        log_level=args.log_level,
    )
    from bots.backtest.outdir import prepare_out
    from bots.backtest.studies import open_study

    create = not args.report_only  # a report of a study that does not exist is a typo
    if not in_out:  # reachable, and made for this scenario? Before --out is made
        open_study(url, name, spec, plan.identity, create=create)
    if not (args.report_only and in_out):
        keep = None if in_out else _sqlite_file(url)
        prepare_out(out, force=args.force, keep=keep, continue_study=in_out)
    if in_out:
        open_study(url, name, spec, plan.identity, create=create)
    if not args.report_only:
        print(
            f"optimise: study {name!r} at {masked(url)}: {spec.trials} trials of {spec.metric} "
            f"({bot}, {spec.direction}), {args.jobs} workers here (index {index})",
            file=sys.stderr,
        )
        try:
            run_workers(plan, args.jobs, index)
            await_running(plan)
        except KeyboardInterrupt:  # the workers are stopped: report what finished, then exit
            done = sum(1 for t in _report(args, plan, out) if t.state.is_finished())
            print(f"optimise: stopped with {done} trial(s) finished", file=sys.stderr)
            raise
    problem = _problem(_report(args, plan, out))
    if problem:
        raise OtcmmError(problem)
    return 0


def _worker_index(flag: int | None) -> int:
    if flag is not None:
        if flag < 0:
            raise ConfigError("--worker-index must be 0 or more")
        return flag
    text = os.environ.get(WORKER_INDEX_ENV, "0")
    if not text.isdigit():
        raise ConfigError(f"${WORKER_INDEX_ENV}={text!r}: expected a whole number")
    return int(text)


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _report(args: argparse.Namespace, plan: Any, out: Path) -> list[FrozenTrial]:
    """Write the study's report files and print its summary; the trials that count."""
    from bots.backtest.metrics import unit
    from bots.backtest.optreport import (
        history_plot,
        importance_plot,
        study_trials,
        write_best_toml,
        write_trials_csv,
    )
    from bots.backtest.studies import open_study

    study = open_study(plan.storage, plan.study, plan.spec, plan.identity)
    files = [write_trials_csv(study, list(plan.spec.params), out / "trials.csv")]
    best_file, best = write_best_toml(
        study, args.config, plan.spec.metric, out / "best.toml", plan.sets
    )
    files.append(best_file)
    if not args.no_plots:
        market = plan.raw.get("market", {})
        symbols = (
            market.get("base", {}).get("symbol", ""),
            market.get("quote", {}).get("symbol", ""),
        )
        metric_unit = unit(plan.spec.metric, *symbols)
        files.append(history_plot(study, plan.spec.metric, metric_unit, out / "history.png"))
        files.append(importance_plot(study, out / "importance.png"))
    trials = study_trials(study)
    states = Counter(t.state.name.lower() for t in trials)
    print(f"study {plan.study!r}: {len(trials)} trials ({_states(states)})")
    if best is None:
        print("no trial completed")
    else:
        values = ", ".join(f"{k}={v}" for k, v in best.params.items())
        print(f"best: trial {best.number}, {plan.spec.metric} = {best.value:,.4f} ({values})")
    print(f"report: {out}/ ({' '.join(p.name for p in files)})")
    return trials


def _problem(trials: list[FrozenTrial]) -> str | None:
    """Why the command exits 1 (README, "Exit codes"): a trial FAILed (a failed check included)."""
    from optuna.trial import TrialState

    from bots.backtest.optreport import lost

    if any(t.user_attrs.get("checks_ok") is False for t in trials):
        return "a trial failed its conservation or accounting check: see trials.csv"
    failed = [t.number for t in trials if t.state == TrialState.FAIL and not lost(t)]
    if failed:
        numbers = ", ".join(map(str, failed))
        return f"{len(failed)} trial(s) failed (trial {numbers}): see trials.csv"
    return None


def _states(states: Counter[str]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
