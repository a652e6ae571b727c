"""`otcmm backtest --optimize --jobs 2` stopped every way: real processes, real dev chains.

SIGKILL of otcmm takes its worker processes (and their chains) along; Ctrl-C to the process
group or SIGTERM to otcmm stops the workers at once (their running trials abandoned), writes
the report of the trials that finished and exits 128 + the signal, without a traceback; a rerun
of the same command continues the study. A FAIL trial makes the command exit 1 in one line.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import MARK, Output, marked, none_left, poll, start
from tests.test_backtest_optimize import SCENARIO

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
MANY = SCENARIO.replace("trials = 6", "trials = 500")


class Run:
    def __init__(self, argv: list[str]) -> None:
        self.token = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
        env |= {MARK: self.token, "PYTHONPATH": str(REPO)}
        self.process = start([sys.executable, "-m", "bots.cli", "backtest", *argv], REPO, env)
        self.stdout = Output(self.process.stdout)
        self.stderr = Output(self.process.stderr)

    def anvils(self) -> int:
        return sum(1 for p in marked(self.token) if "anvil" in p.command)

    def wait_for_two_trials(self) -> None:
        def check() -> bool:
            assert self.process.poll() is None, f"ended early:\n{self.stderr.text()}"
            return self.anvils() == 2  # both workers are inside a trial

        poll(check, "two running trials", timeout_s=240)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        for proc in marked(run.token):
            os.kill(proc.pid, signal.SIGKILL)


def command(config: Path, out: Path, storage: Path) -> list[str]:
    return [
        *("--config", str(config), "--optimize", "--jobs", "2", "--no-plots"),
        *("--out", str(out), "--storage", f"sqlite:///{storage}"),
    ]


def two_trials_running(runs: list[Run], tmp_path: Path) -> Run:
    """A 500-trial optimisation with `--jobs 2`, once both workers are inside a trial."""
    config = tmp_path / "opt.toml"
    config.write_text(MANY, encoding="utf-8")
    run = Run(command(config, tmp_path / "out", tmp_path / "study.db"))
    runs.append(run)
    run.wait_for_two_trials()
    return run


def test_a_killed_optimisation_takes_its_workers_and_their_chains_along(
    runs: list[Run], tmp_path: Path
) -> None:
    run = two_trials_running(runs, tmp_path)

    run.process.kill()
    assert run.process.wait() == -9
    none_left(run.token)


@pytest.mark.parametrize(
    ("how", "code"), [("ctrl-c", 130), ("SIGTERM", 143), ("SIGTERM to the group", 143)]
)
def test_a_stopped_optimisation_stops_its_workers_reports_and_continues_on_rerun(
    runs: list[Run], tmp_path: Path, how: str, code: int
) -> None:
    config = tmp_path / "opt.toml"
    config.write_text(MANY, encoding="utf-8")
    storage = tmp_path / "study.db"
    run = Run(command(config, tmp_path / "out", storage))
    runs.append(run)
    run.wait_for_two_trials()

    if how == "ctrl-c":
        os.killpg(run.process.pid, signal.SIGINT)
    elif how == "SIGTERM":
        run.process.send_signal(signal.SIGTERM)
    else:  # systemd, `kill -- -PGID`: each worker gets it, and then the parent's SIGTERM too
        os.killpg(run.process.pid, signal.SIGTERM)
    assert run.process.wait(timeout=240) == code
    none_left(run.token)
    stderr = run.stderr.text()
    name = "SIGINT" if how == "ctrl-c" else "SIGTERM"
    assert stderr.splitlines()[-1] == f"otcmm: stopped by {name}", stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "[W " not in stderr, stderr  # no Optuna warning
    with (tmp_path / "out" / "trials.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) < 100, stderr  # the remaining trials did not run
    assert {r["state"] for r in table} <= {"COMPLETE", "PRUNED"}, (table, stderr)
    assert "abandoned (interrupted)" in stderr
    assert f"optimise: stopped with {len(table)} trial(s) finished" in stderr

    # The same study, two trials more: a rerun continues it (abandoned trials do not count).
    config.write_text(MANY.replace("trials = 500", f"trials = {len(table) + 2}"), "utf-8")
    again = subprocess.run(
        [sys.executable, "-m", "bots.cli", "backtest",
         *command(config, tmp_path / "again", storage)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    with (tmp_path / "again" / "trials.csv").open() as handle:
        table2 = list(csv.DictReader(handle))
    assert len(table2) == len(table) + 2
    assert {r["state"] for r in table2} <= {"COMPLETE", "PRUNED"}
