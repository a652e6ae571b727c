"""`otcmm backtest --optimize`: a TPE search over the scenario's `[optimize]` ranges.

Every trial is a full backtest (`run_backtest`: its own dev chain, the real contracts, the bots'
own code) of the scenario with the trial's values set at their dotted keys. Every
`report_every_steps` steps the trial reports its objective so far (the metric of the run up to
that step, `bots.backtest.engine.Checkpoint`) and the pruner may stop it there. Workers (`--jobs`
processes here, or processes on other machines) share the study through its storage
(`bots.backtest.studies`); each runs trials until the study holds `trials` of them. Trial
numbers are unique and ordered across workers (the storage locks the study row to number them),
so a worker whose new trial already has `trials` counted ones numbered below it (it lost the
race for the last one) marks it `surplus` (pruned, left out of the report) instead of running
it: the study ends with exactly `trials` trials.

A trial whose values make an invalid scenario, whose metric is undefined (no fills, say), or
whose run fails its conservation or accounting check is marked FAIL with the reason in its
`error` attribute; the others go on. A FAIL trial makes the command exit 1 at the end.

**Stopping.** SIGINT/SIGTERM (SIGHUP) stop the search at once: the running trial is abandoned
(its dev chain stopped, the trial marked PRUNED with the `interrupted` attribute and left out
of the report and of the count, so a rerun runs a fresh trial in its place) and the worker ends.
`--jobs` workers (`bots.backtest.optworkers`) stop like this on the SIGTERM the parent sends
them: the signal is noted (`StopSignal`) and acted on before the backtest's next step or at the
next trial boundary, never inside Optuna's storage calls, so no trial is left RUNNING by a
signal. A trial left RUNNING by a worker that
died anyway is cleared by `clear_stale`.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, Trial, TrialState

from bots.backtest.analytics import analyse, metric_value, report_of
from bots.backtest.engine import run_backtest
from bots.backtest.optreport import INTERRUPTED_ATTR, SURPLUS_ATTR, lost, study_trials
from bots.backtest.optspec import Categorical, FloatRange, IntRange, LogRange, OptimizeSpec
from bots.backtest.pricepath import build_path
from bots.backtest.results import Checkpoint, RunResult
from bots.backtest.scenario import Scalar, Scenario, canonical_key, scenario_from_raw
from bots.backtest.stats import SHARPE_MIN_DAYS, SHARPE_MIN_RETURNS, window_ok
from bots.backtest.studies import (
    GRACE_S,
    make_pruner,
    make_sampler,
    normalise_url,
    open_study,
    worker_seed,
)
from bots.errors import ConfigError, Interrupted

RUNNING_POLL_S = 1.0  # how often a finished worker looks whether the others' trials are done


class TrialRejected(Exception):
    """A trial that cannot count (invalid values, undefined metric, a failed check)."""


class StopSignal:
    """Where a worker's SIGTERM lands: `request` (the signal handler) only notes it, and the
    worker acts on it where that is safe: before every step of a trial's backtest (the trial
    is abandoned there, its dev chain stopped: within one step, or the chain's start-up) and at
    every trial boundary. No exception is ever raised from the handler itself: one raised inside
    SQLAlchemy could leave SQLite's write lock held (every worker's next write then waited on
    it), and one raised inside a finaliser is swallowed by Python."""

    def __init__(self) -> None:
        self.requested: int | None = None

    def request(self, signum: int) -> None:
        self.requested = signum

    def check(self) -> None:
        """Raise `Interrupted` if a signal was noted."""
        if self.requested is not None:
            raise Interrupted(self.requested)


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs (picklable: workers are spawned processes)."""

    raw: dict[str, Any]  # the scenario file as read
    path: Path  # the scenario file (relative csv paths resolve next to it)
    sets: dict[str, Scalar]  # --set values, applied to every trial
    spec: OptimizeSpec
    bot: str
    every_steps: int
    storage: str
    study: str
    identity: str
    seed: int
    log_level: str = "error"


def check_spec(
    raw: Mapping[str, Any], path: Path, scenario: Scenario, sets: Mapping[str, Scalar]
) -> tuple[OptimizeSpec, str, int]:
    """The `[optimize]` table checked against its scenario: (spec, bot, report_every_steps).

    Every range's ends (every choice) are set into the scenario and validated, so a value the
    search could draw but the scenario refuses is reported now, not in trial 30. All problems
    are one `ConfigError`, one line each."""
    spec = scenario.optimize
    if spec is None:
        raise ConfigError(
            f"{path}: --optimize needs an [optimize] table (see bots/backtest/README.md)"
        )
    problems: list[str] = []
    bots = [b.name for b in scenario.bots]
    bot = spec.bot or bots[0]
    if bot not in bots:
        problems.append(
            f"{path}: optimize.bot: no bot under test named {bot!r} ({', '.join(bots)})"
        )
    steps = len(build_path(scenario))
    every = spec.report_every_steps or max(1, steps // 10)
    if every > steps:
        problems.append(
            f"{path}: optimize.report_every_steps: {every} is more than the {steps} steps"
        )
    if spec.metric == "sharpe" and not window_ok(build_path(scenario).times):
        problems.append(
            f"{path}: optimize.metric: sharpe needs a window of at least {SHARPE_MIN_DAYS} days "
            f"and {SHARPE_MIN_RETURNS} steps (bots/backtest/stats.py); this one is shorter"
        )
    if spec.storage:
        try:
            normalise_url(spec.storage)
        except ConfigError as exc:
            problems.append(f"{path}: optimize.storage: {exc}")
    problems += _param_problems(raw, path, spec, sets)
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    return spec, bot, every


def _param_problems(
    raw: Mapping[str, Any], path: Path, spec: OptimizeSpec, sets: Mapping[str, Scalar]
) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {canonical_key(raw, key): f"--set {key}" for key in sets}
    base = {k: v for k, v in raw.items() if k not in ("sweep",)}
    for key, rng in spec.params.items():
        canonical = canonical_key(raw, key)
        if canonical in seen:
            problems.append(f"{path}: optimize.params.{key}: the same value as {seen[canonical]}")
            continue
        seen[canonical] = f"optimize.params.{key}"
        for value in rng.ends():
            try:
                scenario_from_raw(base, path, {**sets, key: value})
            except ConfigError as exc:
                for line in str(exc).splitlines():
                    problems.append(f"{path}: optimize.params.{key}={value}: {_strip(line, path)}")
    return problems


def _strip(line: str, path: Path) -> str:
    return line.removeprefix(f"{path}: ").removeprefix("--sweep/--set ")


def suggest(trial: Trial, key: str, rng: IntRange | FloatRange | LogRange | Categorical) -> Scalar:
    """The trial's value for `key` from its range."""
    if isinstance(rng, IntRange):
        return trial.suggest_int(key, rng.low, rng.high, step=rng.step, log=rng.log)
    if isinstance(rng, FloatRange):
        return trial.suggest_float(key, rng.low, rng.high, step=rng.step)
    if isinstance(rng, LogRange):
        return trial.suggest_float(key, rng.low, rng.high, log=True)
    value = trial.suggest_categorical(key, rng.choices)
    assert value is not None  # noqa: S101 - the choices are TOML scalars, never None
    return value


class Objective:
    """One trial: values from the sampler, a backtest with intermediate reports, the metric."""

    def __init__(self, plan: Plan, worker: str, stream: TextIO, stop: StopSignal) -> None:
        self.plan = plan
        self.worker = worker
        self.stream = stream
        self.stop = stop
        self.interrupted: KeyboardInterrupt | None = None

    def __call__(self, trial: Trial) -> float:
        try:
            self.stop.check()  # signalled while Optuna made this trial
            return self._run(trial)
        except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: abandon the trial, end the worker
            self.interrupted = exc
            trial.study.stop()
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            self._line(trial, "abandoned (interrupted)")
            raise optuna.TrialPruned("interrupted") from None

    def _run(self, trial: Trial) -> float:
        plan = self.plan
        if _counted_before(trial) >= plan.spec.trials:  # lost the race for the last one
            trial.set_user_attr(SURPLUS_ATTR, True)
            trial.study.stop()
            raise optuna.TrialPruned("surplus: the study has its trials")
        values = {key: suggest(trial, key, rng) for key, rng in plan.spec.params.items()}
        trial.set_user_attr("worker", self.worker)
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items())
        self._line(trial, f"started ({label})")
        base = {k: v for k, v in plan.raw.items() if k != "sweep"}
        try:
            scenario = scenario_from_raw(base, plan.path, {**plan.sets, **values})
        except ConfigError as exc:
            return self._reject(trial, f"invalid values: {str(exc).splitlines()[0]}")
        checkpoint = Checkpoint(
            plan.every_steps, lambda done, so_far: self._report(trial, done, so_far)
        )
        try:
            result = run_backtest(
                scenario, checkpoint=checkpoint, progress=lambda *_: self.stop.check()
            )
        except optuna.TrialPruned:
            self._line(trial, f"pruned at step {trial.user_attrs.get('pruned_at_step')}")
            raise
        analysis = analyse(result)
        agent = analysis.agent(plan.bot)
        trial.set_user_attr("metrics", _metrics(agent))
        trial.set_user_attr("checks_ok", analysis.ok)
        if not analysis.ok:
            return self._reject(trial, "conservation or accounting check failed")
        value = metric_value(agent, plan.spec.metric)
        if value is None or not math.isfinite(float(value)):
            return self._reject(trial, f"{plan.spec.metric} is undefined for this run")
        self._line(trial, f"{plan.spec.metric} = {float(value):,.4f}")
        return float(value)

    def _report(self, trial: Trial, done: int, so_far: RunResult) -> None:
        value = metric_value(report_of(so_far, self.plan.bot), self.plan.spec.metric)
        if value is None:
            return
        trial.report(float(value), done)
        if trial.should_prune():
            trial.set_user_attr("pruned_at_step", done)
            raise optuna.TrialPruned(f"at step {done}")

    def _reject(self, trial: Trial, reason: str) -> float:
        trial.set_user_attr("error", reason)
        self._line(trial, f"failed: {reason}")
        raise TrialRejected(reason)

    def _line(self, trial: Trial, text: str) -> None:
        total = self.plan.spec.trials
        # Optuna's number, as in trials.csv and best.toml: 0 to trials - 1
        where = f"[0..{total - 1}, worker {self.worker}]"
        self.stream.write(f"trial {trial.number} {where}: {text}\n")
        self.stream.flush()


def _counted_before(trial: Trial) -> int:
    """Trials that count numbered below `trial` (numbers are unique and ordered across workers;
    interrupted and lost trials leave gaps a rerun fills)."""
    return sum(1 for t in _counting(trial.study) if t.number < trial.number)


def _counting(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study_trials(study) if t.state != TrialState.WAITING and not lost(t)]


def _metrics(agent: Any) -> dict[str, Any]:
    from bots.backtest.metrics import METRICS

    return {key: metric_value(agent, key) for key in METRICS}


def counted(study: optuna.Study) -> int:
    """Trials of the study that count: started ones in any state (queued WAITING ones,
    surplus, interrupted and lost ones left out)."""
    return len(_counting(study))


def run_worker(
    plan: Plan, worker: str, stream: TextIO | None = None, stop: StopSignal | None = None
) -> int:
    """Run trials of the shared study until it holds `plan.spec.trials`; return how many this
    worker ran. `stop`: where this process's SIGTERM handler reports (`StopSignal`); a noted
    signal raises `Interrupted` at the next trial boundary."""
    from bots.service.logs import configure_logging

    configure_logging("console", plan.log_level)
    stream = stream or sys.stderr
    stop = stop or StopSignal()
    probe = open_study(plan.storage, plan.study, plan.spec, plan.identity)
    clear_stale(probe)
    existing = len(probe.get_trials(deepcopy=False))
    if counted(probe) >= plan.spec.trials:
        return 0
    sampler = make_sampler(plan.spec, worker_seed(plan.seed, worker, existing))
    pruner = make_pruner(plan.spec, plan.every_steps)
    study = open_study(
        plan.storage, plan.study, plan.spec, plan.identity, sampler=sampler, pruner=pruner
    )
    ran = 0

    def enough(study: optuna.Study, _trial: FrozenTrial) -> None:
        nonlocal ran
        ran += 1
        if counted(study) >= plan.spec.trials or stop.requested is not None:
            study.stop()

    objective = Objective(plan, worker, stream, stop)
    study.optimize(objective, callbacks=[enough], catch=(TrialRejected,), gc_after_trial=False)
    if objective.interrupted is not None:
        raise objective.interrupted
    if stop.requested is not None:
        raise Interrupted(stop.requested)
    return ran


def await_running(plan: Plan, poll_s: float = RUNNING_POLL_S) -> None:
    """Wait until no trial of the study is still running (other workers' last trials), so the
    report a worker writes is the study's final one. Ends: a running trial either finishes or,
    its worker dead, stops beating and is marked FAIL after `studies.GRACE_S` (checked here)."""
    study = open_study(plan.storage, plan.study, plan.spec, plan.identity)
    said = -1
    while running := [t for t in study_trials(study) if t.state == TrialState.RUNNING]:
        if len(running) != said:
            said = len(running)
            print(f"optimise: waiting for {said} trial(s) of other workers", file=sys.stderr)
        clear_stale(study)
        time.sleep(poll_s)


def clear_stale(study: optuna.Study, grace_s: float = GRACE_S) -> None:
    """End the RUNNING trials of workers that died. Optuna marks FAIL a trial whose heartbeat
    is older than the storage's grace period; a trial that never beat (its worker died between
    Optuna creating it and starting its heartbeat, so Optuna would keep it RUNNING forever) and
    that never reached the objective (no `worker` attribute) is, once it is `grace_s` old,
    marked PRUNED and `interrupted`: left out of the count, so a rerun runs one in its place."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage  # noqa: SLF001 - Optuna's public API has no per-trial writes
    cutoff = datetime.now() - timedelta(seconds=grace_s)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "worker" in trial.user_attrs or trial.datetime_start is None:
            continue
        if trial.datetime_start > cutoff:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)  # noqa: SLF001
            storage.set_trial_state_values(trial._trial_id, TrialState.PRUNED)  # noqa: SLF001
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker ended it first
