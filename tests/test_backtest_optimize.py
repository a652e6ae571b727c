"""`otcmm backtest --optimize`: TPE trials on real dev chains, shared by worker processes through
SQLite and through a real PostgreSQL server the test starts; pruning; validation at load.

Small on purpose: 10-step backtests and a handful of trials keep the module within a minute.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bots.backtest.optimize import Plan, check_spec, run_worker
from bots.backtest.optreport import SURPLUS_ATTR
from bots.backtest.scenario import load_scenario
from bots.backtest.studies import open_study, scenario_identity
from tests.clirun import otcmm as run_otcmm
from tests.clirun import otcmm_env
from tests.pgserver import PASSWORD, Postgres, postgres_server

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SCENARIO = """
name = "opt"
seed = 3
steps = 10
block_interval_s = 60
[market]
base = { symbol = "BND", decimals = 4 }
quote = { symbol = "EURT", decimals = 2 }
[path]
kind = "gbm"
start = "100"
volatility = 0.3
[[bots]]
name = "mm"
strategy = { name = "fixed_spread", params = { spread_bps = 20, size = 50000 } }
inventory = { base = 1000000, quote = 10000000 }
[[flow]]
kind = "price_sensitive"
name = "clients"
intensity = 0.45
k_per_bp = 0.05
max_size = 30000
inventory = { base = 5000000, quote = 50000000 }
[optimize]
trials = 6
metric = "pnl_net"
direction = "maximize"
startup_trials = 3
report_every_steps = 5
[optimize.params]
"strategy.params.spread_bps" = { kind = "int", low = 2, high = 80 }
"strategy.params.size" = { kind = "categorical", choices = [30000, 50000] }
"""


def write(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "opt.toml"
    path.write_text(text, encoding="utf-8")
    return path


def otcmm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_otcmm("backtest", *args, env=env, timeout=300)


def workers(config: Path, outs: list[Path], extra: list[str], env: dict[str, str] | None) -> None:
    """Start one `otcmm backtest --optimize` process per out folder, all at once; wait."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bots.cli",
                "backtest",
                "--config",
                str(config),
                "--optimize",
                "--out",
                str(out),
                "--worker-index",
                str(i),
                "--jobs",
                "1",
                "--no-plots",
                *extra,
            ],
            cwd=REPO,
            env=otcmm_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i, out in enumerate(outs)
    ]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert PASSWORD not in stdout + stderr


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def assert_one_study_of_exact_trials(table: list[dict[str, str]], count: int) -> None:
    assert [int(r["number"]) for r in table] == list(range(count))  # unique, dense, no surplus
    assert {r["state"] for r in table} <= {"COMPLETE", "PRUNED"}
    assert {r["worker"] for r in table} == {"0.0", "1.0"}  # both processes ran trials


# --- validation --------------------------------------------------------------------------------


def test_a_bad_optimize_table_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    shapes = SCENARIO.replace('metric = "pnl_net"', 'metric = "profit"')
    shapes = shapes.replace("low = 2, high = 80", "low = 80, high = 2")
    result = otcmm("--config", str(write(tmp_path, shapes)), "--optimize", "--check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("otcmm: error: ") for line in lines)
    assert "metric 'profit': one of pnl_total" in lines[0] + lines[1]
    assert "low (80) must be below high (2)" in lines[0] + lines[1]


def test_ranges_are_checked_against_the_scenario_at_load(tmp_path: Path) -> None:
    """Each range's ends go into the scenario and through its validation: a value the search
    could draw but the scenario refuses is reported before any trial."""
    text = SCENARIO.replace("low = 2,", "low = -5,").replace(
        'direction = "maximize"',
        'direction = "maximize"\nbot = "ghost"\nstorage = "mysql://u@h/db"',
    )
    text += '"flow.clients.k_per_bp" = { kind = "log", low = 0.01, high = 500 }\n'
    text += '"bots.mm.strategy.params.size" = { kind = "int", low = 1, high = 9 }\n'
    result = otcmm("--config", str(write(tmp_path, text)), "--optimize", "--check")

    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("otcmm: error: ") for line in lines)
    text = result.stderr
    assert "optimize.bot: no bot under test named 'ghost'" in text
    assert "optimize.params.strategy.params.spread_bps=-5:" in text  # the range's low end
    assert "optimize.params.flow.clients.k_per_bp=500.0:" in text  # the strategy's own limit
    assert "optimize.storage: study storage: mysql is not supported" in text
    assert "bots.mm.strategy.params.size: the same value as optimize.params.strategy." in text


def test_check_validates_and_names_the_study_without_a_password(tmp_path: Path) -> None:
    env = {"OTCMM_STUDY_STORAGE": f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"}
    result = otcmm("--config", str(write(tmp_path)), "--optimize", "--check", env=env)
    assert result.returncode == 0, result.stderr
    assert "study 'opt' at postgresql+psycopg://u:***@127.0.0.1:1/db" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_an_unreachable_storage_is_one_line_and_exit_5(tmp_path: Path) -> None:
    env = {"OTCMM_STUDY_STORAGE": f"postgresql://u:{PASSWORD}@127.0.0.1:9/db"}
    result = otcmm(
        "--config", str(write(tmp_path)), "--optimize", "--out", str(tmp_path / "o"), env=env
    )
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert "otcmm: error: study storage postgresql+psycopg://u:***@127.0.0.1:9/db:" in result.stderr


# --- runs --------------------------------------------------------------------------------------


@pytest.mark.chain
def test_one_worker_writes_the_report_and_the_same_seed_gives_the_same_trials(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, SCENARIO.replace("trials = 6", "trials = 4"))
    first = otcmm(
        "--config", str(config), "--optimize", "--out", str(tmp_path / "a"), "--jobs", "1"
    )
    assert first.returncode == 0, first.stderr
    assert "trial 0 [0..3, worker 0.0]: started (spread_bps=" in first.stderr  # progress per trial
    out = tmp_path / "a"
    for name in ("history.png", "importance.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    table = rows(out / "trials.csv")
    assert len(table) == 4 and all(r["checks_ok"] == "True" for r in table)
    best = tomllib.loads((out / "best.toml").read_text())
    values = [float(r["value"]) for r in table if r["state"] == "COMPLETE"]
    assert best["value"] == max(values) and best["metric"] == "pnl_net"
    assert set(best["params"]) == {"strategy.params.spread_bps", "strategy.params.size"}
    assert "otcmm backtest --config" in (out / "best.toml").read_text()

    again = otcmm(
        "--config",
        str(config),
        "--optimize",
        "--out",
        str(tmp_path / "b"),
        "--jobs",
        "1",
        "--no-plots",
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b" / "trials.csv").read_bytes() == (out / "trials.csv").read_bytes()

    # The same command on its folder continues its study (done: no trial more), mixing nothing.
    before = (out / "trials.csv").read_bytes()
    rerun = otcmm("--config", str(config), "--optimize", "--out", str(out), "--jobs", "1")
    assert rerun.returncode == 0 and "started" not in rerun.stderr, rerun.stderr
    assert (out / "trials.csv").read_bytes() == before


@pytest.mark.chain
def test_worker_processes_share_one_sqlite_study(tmp_path: Path) -> None:
    config = write(tmp_path)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    workers(config, [tmp_path / "w0", tmp_path / "w1"], ["--storage", storage], None)

    assert_one_study_of_exact_trials(rows(tmp_path / "w1" / "trials.csv"), 6)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.mark.chain
def test_worker_processes_share_one_postgresql_study(tmp_path: Path, postgres: Postgres) -> None:
    """The storage URL (with its password) reaches the workers through the environment, as a
    Kubernetes Secret does; nothing they print shows the password."""
    config = write(tmp_path)
    env = {"OTCMM_STUDY_STORAGE": postgres.url}
    workers(config, [tmp_path / "w0", tmp_path / "w1"], ["--study", "pg-study"], env)

    study = optuna.load_study(
        study_name="pg-study", storage=postgres.url.replace("postgresql", "postgresql+psycopg", 1)
    )
    surplus = [t for t in study.trials if t.user_attrs.get(SURPLUS_ATTR)]
    assert len(study.trials) - len(surplus) == 6  # a worker that lost the race for the last one
    assert {t.state for t in surplus} <= {TrialState.PRUNED}  # dropped it unrun
    report = otcmm(
        "--config", str(config), "--optimize", "--study", "pg-study", "--report-only",
        "--out", str(tmp_path / "report"), "--no-plots", env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "study 'pg-study': 6 trials" in report.stdout and PASSWORD not in report.stdout
    assert_one_study_of_exact_trials(rows(tmp_path / "report" / "trials.csv"), 6)

    other = write(tmp_path, SCENARIO.replace("steps = 10", "steps = 12"))
    clash = otcmm(
        "--config",
        str(other),
        "--optimize",
        "--study",
        "pg-study",
        "--report-only",
        "--out",
        str(tmp_path / "x"),
        env=env,
    )
    assert clash.returncode == 2 and "made for another scenario" in clash.stderr


@pytest.mark.chain
def test_a_hopeless_trial_is_pruned_at_its_first_report(tmp_path: Path) -> None:
    """Two trials at no gas cost, then one paying 1,000 EURT per million gas: its net P&L at
    step 5 is far below the median of the others there, so it stops at step 5 of 10."""
    text = SCENARIO.replace("startup_trials = 3", "startup_trials = 2\nwarmup_steps = 0")
    text = text.replace("trials = 6", "trials = 3")
    text += '"market.gas_cost_per_mgas" = { kind = "categorical", choices = ["0", "1000"] }\n'
    config = write(tmp_path, text)
    scenario, raw = load_scenario(config)
    spec, bot, every = check_spec(raw, config, scenario, {})
    plan = Plan(
        raw=raw, path=config, sets={}, spec=spec, bot=bot, every_steps=every,
        storage=f"sqlite:///{tmp_path / 'p.db'}", study="prune", identity=scenario_identity(raw),
        seed=1,
    )  # fmt: skip
    study = open_study(plan.storage, plan.study, spec, plan.identity)
    for gas in ("0", "0", "1000"):
        study.enqueue_trial(
            {"strategy.params.spread_bps": 20, "strategy.params.size": 50000,
             "market.gas_cost_per_mgas": gas}
        )  # fmt: skip

    assert run_worker(plan, "0.0") == 3
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert trials[2].user_attrs["pruned_at_step"] == 5 and list(trials[2].intermediate_values) == [
        5
    ]
    assert trials[2].intermediate_values[5] < min(t.intermediate_values[5] for t in trials[:2])


@pytest.mark.chain
def test_failed_trials_exit_1_in_one_line_without_optunas_traceback(tmp_path: Path) -> None:
    """No fills at a 90-99% spread: adverse selection is undefined, every trial FAILs."""
    text = SCENARIO.replace("trials = 6", "trials = 2").replace(
        "low = 2, high = 80", "low = 9000, high = 9900"
    )
    text = text.replace('"pnl_net"', '"adverse_selection_bps"')
    config = write(tmp_path, text.replace('"maximize"', '"minimize"'))
    out = tmp_path / "out"
    run = otcmm(
        "--config", str(config), "--optimize", "--out", str(out), "--jobs", "1", "--no-plots"
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "[W " not in run.stderr, run.stderr
    assert "failed: adverse_selection_bps is undefined for this run" in run.stderr
    assert (
        run.stderr.splitlines()[-1]
        == "otcmm: error: 2 trial(s) failed (trial 0, 1): see trials.csv"
    )
    again = otcmm(
        "--config", str(config), "--optimize", "--out", str(out), "--report-only", "--no-plots"
    )
    assert again.returncode == 1, again.stderr
    assert again.stderr.splitlines()[-1] == run.stderr.splitlines()[-1]


@pytest.mark.chain
def test_best_toml_replays_the_best_trial_with_every_set_of_the_run(tmp_path: Path) -> None:
    import json
    import shlex

    config = write(tmp_path, SCENARIO.replace("trials = 6", "trials = 2"))
    out = tmp_path / "opt"
    sets = ["--set", "steps=8", "--set", "path.volatility=0.5"]
    run = otcmm("--config", str(config), "--optimize", "--out", str(out), "--jobs", "1", *sets)
    assert run.returncode == 0, run.stderr
    text = (out / "best.toml").read_text()
    best = tomllib.loads(text)
    assert best["set"] == {"steps": 8, "path.volatility": 0.5}
    assert f"best: trial {best['trial']}," in run.stdout  # one numbering everywhere
    assert f"trial {best['trial']} [0..1, worker 0.0]: pnl_net" in run.stderr
    replay = next(line for line in text.splitlines() if line.startswith("# replay it: "))
    argv = shlex.split(replay.removeprefix("# replay it: otcmm backtest "))
    again = otcmm(*argv, "--out", str(tmp_path / "replay"), "--no-plots")
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    mm = next(agent for agent in summary["agents"] if agent["name"] == "mm")
    assert float(mm["pnl_net"]) == best["value"], (mm["pnl_net"], best["value"])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://u@127.0.0.1:9/db?password={PASSWORD}", "u@127.0.0.1:9/db?password=***"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:9/db", "u:***@127.0.0.1:9/db"),
    ],
)
def test_a_password_in_the_userinfo_or_the_query_is_masked_everywhere(
    tmp_path: Path, url: str, shown: str
) -> None:
    env = {"OTCMM_STUDY_STORAGE": url}
    check = otcmm("--config", str(write(tmp_path)), "--optimize", "--check", env=env)
    assert check.returncode == 0, check.stderr
    assert f"at postgresql+psycopg://{shown})" in check.stdout
    run = otcmm(
        "--config", str(write(tmp_path)), "--optimize", "--out", str(tmp_path / "o"), env=env
    )
    assert run.returncode == 5, run.stderr
    assert f"otcmm: error: study storage postgresql+psycopg://{shown}: " in run.stderr
    for result in (check, run):
        assert PASSWORD not in result.stdout + result.stderr


def test_a_password_with_an_unescaped_at_is_refused_and_never_shown(tmp_path: Path) -> None:
    url = f"postgresql://u:x@{PASSWORD}@127.0.0.1:9/db"
    for flag in ("--check", "--no-plots"):
        env = {"OTCMM_STUDY_STORAGE": url}
        result = otcmm("--config", str(write(tmp_path)), "--optimize", flag, env=env)
        assert result.returncode == 2, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert result.stderr.splitlines() == [
            "otcmm: error: study storage postgresql://u:***@127.0.0.1:9/db: the password holds "
            "an '@': write it as %40 (percent-encode the password)"
        ]
