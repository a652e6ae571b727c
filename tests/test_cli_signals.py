"""Nothing otcmm starts outlives it: real backtests, sweeps and demos, stopped by every signal.

Each command runs as the leader of its own process group, as a shell runs a job, with a unique
`OTCMM_TEST_RUN` in its environment that every process it starts inherits (`tests/procs.py`).
The test waits until the processes it is about to orphan exist (anvil, sweep workers, the
demo's bots), then sends SIGTERM to otcmm, Ctrl-C to the group (a terminal's SIGINT) or SIGKILL
to otcmm alone, and waits, with a deadline, until no process carrying the mark is left.
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

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
OTCMM = [sys.executable, "-m", "bots.cli"]
LONG_BACKTEST = ["backtest", "--config", "examples/gbm_basket.toml", "--set", "steps=5000"]
SWEEP = [
    *("backtest", "--config", "examples/gbm_basket.toml", "--set", "steps=15", "--no-plots"),
    *("--sweep", "bots.fixed.strategy.params.spread_bps=40,60,80,100,120,140", "--jobs", "2"),
]


class Run:
    """One otcmm command under test, with its mark and its output."""

    def __init__(self, argv: list[str], tmp_path: Path) -> None:
        self.token = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
        env |= {MARK: self.token, "PYTHONPATH": str(REPO)}
        self.process = start([*OTCMM, *argv], REPO, env)
        self.stdout = Output(self.process.stdout)
        self.stderr = Output(self.process.stderr)

    def anvils(self) -> int:
        return sum(1 for p in marked(self.token) if "anvil" in p.command)

    def wait_for(self, what: str, condition: object) -> None:
        def check() -> bool:
            assert self.process.poll() is None, f"ended early:\n{self.stderr.text()}"
            return bool(condition() if callable(condition) else condition)

        poll(check, what, timeout_s=240)

    def signal(self, how: str) -> int:
        """Send `how` (SIGTERM to otcmm, Ctrl-C to its group, SIGKILL to otcmm); the code."""
        if how == "ctrl-c":
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.Signals[how])
        return self.process.wait(timeout=240)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # a failed test leaves nothing behind either
        run.stop()
        for proc in marked(run.token):
            os.kill(proc.pid, signal.SIGKILL)


def launch(runs: list[Run], argv: list[str], tmp_path: Path) -> Run:
    run = Run(argv, tmp_path)
    runs.append(run)
    return run


@pytest.mark.parametrize(("how", "code"), [("SIGTERM", 143), ("ctrl-c", 130), ("SIGKILL", -9)])
def test_a_backtest_stopped_any_way_leaves_no_anvil(
    runs: list[Run], tmp_path: Path, how: str, code: int
) -> None:
    run = launch(runs, [*LONG_BACKTEST, "--out", str(tmp_path / "out")], tmp_path)
    run.wait_for("the backtest's steps", lambda: run.stderr.has("step ") and run.anvils() == 1)

    assert run.signal(how) == code
    none_left(run.token)
    if how != "SIGKILL":
        name = "SIGINT" if how == "ctrl-c" else how
        assert run.stderr.text().splitlines()[-1] == f"otcmm: stopped by {name}"
        assert "Traceback" not in run.stderr.text()


@pytest.mark.parametrize(("how", "code"), [("ctrl-c", 130), ("SIGTERM", 143)])
def test_an_interrupted_sweep_writes_the_points_it_has_and_stops_every_worker(
    runs: list[Run], tmp_path: Path, how: str, code: int
) -> None:
    out = tmp_path / "sweep"
    run = launch(runs, [*SWEEP, "--out", str(out)], tmp_path)
    run.wait_for("a finished point", lambda: run.stderr.has("sweep: 1/6 done"))

    assert run.signal(how) == code
    none_left(run.token)
    stderr = run.stderr.text()
    assert "Traceback" not in stderr, stderr
    with (out / "sweep.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert 1 <= len(rows) < 6, stderr
    finished = [
        line for line in stderr.splitlines() if line.startswith("sweep: ") and "done" in line
    ]
    assert len(rows) == len(finished), stderr  # every point reported done is in the file
    assert f"sweep stopped after {len(rows)} of 6 runs: wrote sweep.csv" in stderr
    assert (out / "sweep_heatmap.png").is_file()


def test_a_killed_sweep_takes_its_workers_and_their_chains_along(
    runs: list[Run], tmp_path: Path
) -> None:
    run = launch(runs, [*SWEEP, "--out", str(tmp_path / "sweep")], tmp_path)
    run.wait_for("two workers with a chain each", lambda: run.anvils() == 2)
    assert len(marked(run.token)) >= 5  # otcmm, the resource tracker, 2 workers, 2 anvils

    assert run.signal("SIGKILL") == -9
    none_left(run.token)


def test_a_sweep_whose_worker_is_killed_stops_with_one_line_not_a_hang(
    runs: list[Run], tmp_path: Path
) -> None:
    """The OOM killer takes a worker: the pool replaced it and waited for its point forever
    (red team 3). Now the sweep stops: one line, exit 1, the points that finished written."""
    out = tmp_path / "sweep"
    argv = [*SWEEP, "--out", str(out)]
    argv[argv.index("steps=15")] = "steps=400"  # long enough to be killed mid-point
    run = launch(runs, argv, tmp_path)
    run.wait_for("two workers with a chain each", lambda: run.anvils() == 2)
    workers = [
        p for p in marked(run.token) if "multiprocessing" in p.command and "spawn" in p.command
    ]
    assert workers, marked(run.token)

    os.kill(workers[0].pid, signal.SIGKILL)

    assert run.process.wait(timeout=240) == 1
    none_left(run.token)
    stderr = run.stderr.text()
    assert "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith(
        f"otcmm: error: sweep worker {workers[0].pid} died"
    ), stderr


DEMO = ["demo", "--duration", "600", "--block-time", "1"]


def test_a_killed_demo_takes_its_chain_and_bots_along(runs: list[Run], tmp_path: Path) -> None:
    run = launch(runs, [*DEMO, "--workdir", str(tmp_path / "demo")], tmp_path)
    run.wait_for("three bots", lambda: run.stdout.has("started taker-noise"))
    bots = [p for p in marked(run.token) if " run --config " in p.command]
    assert len(bots) == 3 and run.anvils() == 1

    assert run.signal("SIGKILL") == -9
    none_left(run.token)


def test_sigterm_while_the_demo_seeds_stops_its_chain(runs: list[Run], tmp_path: Path) -> None:
    run = launch(runs, [*DEMO, "--workdir", str(tmp_path / "demo")], tmp_path)
    run.wait_for("the dev chain", lambda: run.stdout.has("dev chain on") and run.anvils() == 1)

    assert run.signal("SIGTERM") == 143
    none_left(run.token)
    assert run.stderr.text().splitlines()[-1] == "otcmm: stopped by SIGTERM"


def test_ctrl_c_while_the_demo_trades_stops_the_bots_cleanly_and_reports(
    runs: list[Run], tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches the demo only: the chain stays up while every bot cancels
    its offers, then the report is printed and the conservation check sets the exit code."""
    run = launch(runs, [*DEMO, "--workdir", str(tmp_path / "demo")], tmp_path)
    run.wait_for(
        "trading", lambda: run.stdout.has("started taker-noise") and run.stdout.has("trades ")
    )

    assert run.signal("ctrl-c") == 0, run.stderr.text()
    none_left(run.token)
    report = run.stdout.text()
    assert "=> OK" in report
    rows = {
        line.split()[0]: line.split()
        for line in report.splitlines()
        if line.startswith(("maker-", "taker-"))
    }
    for name in ("maker-spread", "maker-as", "taker-noise"):
        assert rows[name][1] == "0" and rows[name][-1] == "0", report  # exit 0, no offer left


def test_the_killed_parent_case_works_without_otcmm_cooperating(tmp_path: Path) -> None:
    """`die_with_parent` on its own: a child of a process that is SIGKILLed gets its signal."""
    token = uuid.uuid4().hex
    script = (
        "import subprocess, signal, sys, time\n"
        "from bots.devtools.lifetime import die_with_parent\n"
        "subprocess.Popen(['sleep', '600'], preexec_fn=die_with_parent(signal.SIGTERM))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, MARK: token, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "started\n"
        assert any(p.command.startswith("sleep") for p in marked(token))
        parent.kill()
        parent.wait()
        none_left(token)
    finally:
        if parent.poll() is None:
            parent.kill()
