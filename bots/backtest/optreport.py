"""The report of a study: `trials.csv`, `best.toml`, the optimisation history and the parameter
importance plots. Read from the storage, so any worker (or `--report-only` anywhere the storage
is reachable) writes the same files for the same trials.

`trials.csv`: a row per trial in number order: `number, state` (COMPLETE, PRUNED, FAIL,
RUNNING), `value`, `pruned_at_step`, the parameters by dotted key, the bot's metrics
(`bots.backtest.metrics.METRICS`), `checks_ok`, `error` and the `worker` that ran it. No
wall-clock column: one worker with one seed writes the same file every time.

**Parameter importance** is PED-ANOVA (Watanabe et al., IJCAI 2023; Optuna's
`PedAnovaImportanceEvaluator`): how much each parameter's distribution among the best trials
(the top `target_quantile`) differs from its distribution among all completed trials (Pearson
divergence of Parzen estimates), normalised to sum to 1. It ships with Optuna and needs only
numpy; Optuna's fANOVA and mean-decrease-impurity evaluators need scikit-learn (a random forest),
a heavy dependency for one plot. The quantile is max(0.1, 5 / completed trials), capped at 0.5,
so at least five trials make up "the best" (the method's authors' advice). Fewer than 4
completed trials give no importance (the plot says so).
"""

from __future__ import annotations

import csv
import math
import shlex
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never try to open a window

import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from bots.atomicfile import replaced, write_atomic  # noqa: E402
from bots.backtest.metrics import METRICS  # noqa: E402

SURPLUS_ATTR = "surplus"  # a trial past the study's `trials`, dropped unrun
INTERRUPTED_ATTR = "interrupted"  # a trial abandoned by SIGINT/SIGTERM: a rerun replaces it
MIN_TRIALS_FOR_IMPORTANCE = 4


LOST = "lost: its worker died (or raised) before the trial finished; it does not count"


def lost(trial: FrozenTrial) -> bool:
    """A FAIL trial that otcmm did not reject (no `error` attribute): Optuna marked it because
    its worker's heartbeat went stale, or its objective raised. Not a result of its values:
    it neither counts against `trials` nor fails the command, and a rerun runs one in its place.
    """
    return trial.state == TrialState.FAIL and "error" not in trial.user_attrs


def study_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that count, in number order (surplus and interrupted ones left out)."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if not (t.user_attrs.get(SURPLUS_ATTR) or t.user_attrs.get(INTERRUPTED_ATTR))
    ]
    return sorted(trials, key=lambda t: t.number)


def write_trials_csv(study: optuna.Study, keys: Sequence[str], path: Path) -> Path:
    columns = ["number", "state", "value", "pruned_at_step", *keys, *METRICS]
    columns += ["checks_ok", "error", "worker"]
    with replaced(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        for trial in study_trials(study):
            metrics = trial.user_attrs.get("metrics") or {}
            row: dict[str, Any] = {
                "number": trial.number,
                "state": trial.state.name,
                "value": "" if trial.value is None else repr(trial.value),
                "pruned_at_step": trial.user_attrs.get("pruned_at_step", ""),
                **{key: trial.params.get(key, "") for key in keys},
                **{key: _cell(metrics.get(key)) for key in METRICS},
                "checks_ok": trial.user_attrs.get("checks_ok", ""),
                "error": trial.user_attrs.get("error", LOST if lost(trial) else ""),
                "worker": trial.user_attrs.get("worker", ""),
            }
            writer.writerow(row)
    return path


def _cell(value: object) -> object:
    return "" if value is None else value


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    done = [
        t for t in study_trials(study) if t.state == TrialState.COMPLETE and t.value is not None
    ]
    if not done:
        return None
    pick = max if study.direction.name == "MAXIMIZE" else min
    return pick(done, key=lambda t: (t.value if t.value is not None else math.nan, -t.number))


def write_best_toml(
    study: optuna.Study,
    config: Path,
    metric: str,
    path: Path,
    sets: Mapping[str, object] | None = None,
) -> tuple[Path, FrozenTrial | None]:
    """`best.toml`: the best trial's values by dotted key, the run's `--set` values (`[set]`),
    and the command that replays it: every `--set` of the run, then the trial's values, so the
    replay is the trial's own scenario and gives its objective."""
    sets = dict(sets or {})
    best = best_trial(study)
    lines = [f"# best trial of study {study.study_name!r}"]
    if best is None:
        lines += ["# no trial completed: nothing to recommend"]
        lines.append(f"study = {_toml(study.study_name)}")
    else:
        values = {**sets, **best.params}
        flags = " ".join(f"--set {shlex.quote(f'{k}={_flag(v)}')}" for k, v in values.items())
        lines += [
            f"# replay it: otcmm backtest --config {shlex.quote(str(config))} {flags}",
            f"study = {_toml(study.study_name)}",
            f"trial = {best.number}",
            f'metric = "{metric}"',
            f'direction = "{study.direction.name.lower()}"',
            f"value = {best.value!r}",
            "",
            "[params]",
            *(f"{_toml(k)} = {_toml(v)}" for k, v in best.params.items()),
            "",
            "[set]  # the run's --set values, applied to every trial",
            *(f"{_toml(k)} = {_toml(v)}" for k, v in sets.items()),
        ]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what we write must read back
    write_atomic(path, text, mode=0o644)
    return path, best


def _flag(value: object) -> str:
    """A value as `--set` reads it back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def importances(study: optuna.Study) -> dict[str, float] | None:
    """PED-ANOVA importances (see the module docstring), None with too few completed trials."""
    done = [t for t in study_trials(study) if t.state == TrialState.COMPLETE]
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    quantile = min(0.5, max(0.1, 5 / len(done)))
    evaluator = PedAnovaImportanceEvaluator(target_quantile=quantile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna warns about small samples; the plot says it
        return get_param_importances(study, evaluator=evaluator, normalize=True)


def history_plot(study: optuna.Study, metric: str, unit: str, path: Path) -> Path:
    """Each trial's value (completed: dots; pruned: crosses at their last report) and the best
    value so far."""
    trials = study_trials(study)
    fig = Figure(figsize=(10, 4.5), dpi=110)
    ax = fig.add_subplot()
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    values = [float(t.value) for t in done if t.value is not None]
    ax.scatter([t.number for t in done], values, s=18, label="completed")
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if pruned:
        last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
        ax.scatter(
            [t.number for t in pruned], last, marker="x", color="grey", label="pruned (last report)"
        )
    maximise = study.direction.name == "MAXIMIZE"
    best: list[float] = []
    for value in values:
        best.append(value if not best else (max if maximise else min)(best[-1], value))
    if done:
        ax.step([t.number for t in done], best, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.set_title(f"optimisation history of {study.study_name}: {metric} ({unit})", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def importance_plot(study: optuna.Study, path: Path) -> Path:
    """Horizontal bars of the PED-ANOVA importances (share of 1)."""
    found = importances(study)
    fig = Figure(figsize=(8, 1 + 0.5 * max(len(found or {}), 2)), dpi=110)
    ax = fig.add_subplot()
    if found is None:
        ax.text(0.5, 0.5, f"fewer than {MIN_TRIALS_FOR_IMPORTANCE} completed trials", ha="center")
        ax.set_axis_off()
    else:
        names = list(found)[::-1]
        ax.barh(names, [found[n] for n in names], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance (PED-ANOVA, share of 1)")
    ax.set_title(f"parameter importance in {study.study_name}", fontsize=10)
    fig.tight_layout()
    with replaced(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
