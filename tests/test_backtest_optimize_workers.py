"""The optimiser's `--jobs` workers end, whatever ends them, and leave no trial RUNNING forever.

A worker killed outright stops the command in one line (a pool would wait for its result
forever); a SIGTERM that lands outside a trial's own code stops the worker at the next trial
boundary without a trial left RUNNING; a trial whose worker died before its first heartbeat
(which Optuna would keep RUNNING forever, and every report would wait for) is cleared.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bots.backtest import optworkers
from bots.backtest.optimize import Plan, StopSignal, check_spec, clear_stale, counted, run_worker
from bots.backtest.optreport import INTERRUPTED_ATTR, lost
from bots.backtest.scenario import load_scenario
from bots.backtest.studies import open_study, scenario_identity
from bots.errors import Interrupted
from tests.procs import marked, none_left, poll
from tests.test_backtest_optimize import SCENARIO, write
from tests.test_backtest_optimize_stop import (  # noqa: F401 - runs: the fixture
    MANY,
    Run,
    command,
    runs,
    two_trials_running,
)


def plan_for(tmp_path: Path, text: str = SCENARIO) -> Plan:
    config = write(tmp_path, text)
    scenario, raw = load_scenario(config)
    spec, bot, every = check_spec(raw, config, scenario, {})
    return Plan(
        raw=raw, path=config, sets={}, spec=spec, bot=bot, every_steps=every,
        storage=f"sqlite:///{tmp_path / 'w.db'}", study="w", identity=scenario_identity(raw),
        seed=1,
    )  # fmt: skip


def study_of(plan: Plan) -> optuna.Study:
    return open_study(plan.storage, plan.study, plan.spec, plan.identity)


@pytest.mark.chain
def test_a_killed_worker_stops_the_command_in_one_line_and_leaves_nothing(
    runs: list[Run],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    run = two_trials_running(runs, tmp_path)
    workers = sorted(p.pid for p in marked(run.token) if "spawn_main" in p.command)
    assert len(workers) == 2, workers

    os.kill(workers[0], signal.SIGKILL)
    assert run.process.wait(timeout=240) == 1, run.stderr.text()
    none_left(run.token)  # the other worker and both chains stopped
    stderr = run.stderr.text()
    last = stderr.splitlines()[-1]
    assert f"(pid {workers[0]}) ended without finishing its trials" in last, stderr
    assert "exit code -9" in last and "Traceback" not in stderr, stderr


def test_a_trial_whose_worker_died_before_its_heartbeat_is_cleared(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    study = study_of(plan)
    orphan = study.ask()  # RUNNING, no heartbeat, never reached the objective
    live = study.ask()
    study._storage.set_trial_user_attr(live._trial_id, "worker", "0.1")  # noqa: SLF001
    assert counted(study) == 2

    clear_stale(study, grace_s=3600)  # too young to tell: left alone
    assert {t.state for t in study.get_trials()} == {TrialState.RUNNING}

    clear_stale(study, grace_s=0)
    trials = {t.number: t for t in study.get_trials()}
    assert trials[orphan.number].state == TrialState.PRUNED
    assert trials[orphan.number].user_attrs[INTERRUPTED_ATTR] is True
    assert trials[live.number].state == TrialState.RUNNING  # a worker owns it: its heartbeat rules
    assert counted(study) == 1  # the orphan does not count: a rerun runs one in its place


def test_a_signal_noted_outside_a_trial_stops_the_worker_at_the_next_one(
    tmp_path: Path,
) -> None:
    """The SIGTERM landed while Optuna created the trial: the trial is abandoned at its start
    (no dev chain started), marked interrupted, and the worker ends as interrupted."""
    plan = plan_for(tmp_path)
    stop = StopSignal()
    stop.request(signal.SIGTERM)  # outside a trial: noted, nothing raised
    assert stop.requested == signal.SIGTERM

    with pytest.raises(Interrupted) as raised:
        run_worker(plan, "0.0", stop=stop)
    assert raised.value.signum == signal.SIGTERM
    trials = study_of(plan).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED]
    assert trials[0].user_attrs[INTERRUPTED_ATTR] is True
    assert counted(study_of(plan)) == 0


class StopAfterThreeSteps(StopSignal):
    """The SIGTERM arrives while step 3 of the trial's backtest runs."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks == 4:  # the trial's own check, then one before each step
            self.request(signal.SIGTERM)
        super().check()


def test_a_signal_during_the_backtest_stops_the_trial_before_its_next_step(
    tmp_path: Path,
) -> None:
    """The handler only notes the signal (an exception raised from it inside SQLAlchemy could
    leave SQLite's write lock held; inside a finaliser Python swallows it): the backtest acts
    on it before its next step, its chain is stopped and the trial marked interrupted."""
    plan = plan_for(tmp_path)
    stop = StopAfterThreeSteps()
    with pytest.raises(Interrupted):
        run_worker(plan, "0.0", stop=stop)
    (trial,) = study_of(plan).get_trials()
    assert trial.state == TrialState.PRUNED and trial.user_attrs[INTERRUPTED_ATTR] is True
    assert stop.checks == 4 and trial.value is None  # 10 steps: it did not run to its end


def test_a_lost_trial_does_not_count_and_a_rejected_one_does(tmp_path: Path) -> None:
    """FAIL without otcmm's `error`: its worker died (stale heartbeat) or raised. It used to
    count and make every rerun exit 1."""
    plan = plan_for(tmp_path)
    study = study_of(plan)
    lost_one, rejected = study.ask(), study.ask()
    storage = study._storage  # noqa: SLF001
    storage.set_trial_user_attr(rejected._trial_id, "error", "invalid values: ...")  # noqa: SLF001
    for trial in (lost_one, rejected):
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # noqa: SLF001
    trials = {t.number: t for t in study.get_trials()}

    assert lost(trials[lost_one.number]) and not lost(trials[rejected.number])
    assert counted(study) == 1


def _send_a_large_result(results: Connection) -> None:
    results.send(("ok", "x" * 300_000))  # far beyond a pipe's 64 KiB buffer
    results.close()


def test_a_result_larger_than_the_pipe_buffer_does_not_hang_the_parent() -> None:
    """The parent used to read a worker's message only after the worker exited, while the
    worker could not exit before its message was read."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_send_a_large_result, args=(send,))
    process.start()
    send.close()
    worker = optworkers._Worker("0.0", process, receive)  # noqa: SLF001
    waiter = threading.Thread(target=optworkers._await, args=([worker],))  # noqa: SLF001
    waiter.start()
    waiter.join(timeout=60)
    try:
        assert not waiter.is_alive(), "the parent waits for ever"
        assert worker.message is not None and worker.message[0] == "ok"
    finally:
        process.kill()
        process.join()
        waiter.join(timeout=5)


@pytest.mark.chain
def test_one_worker_in_the_command_itself_stops_the_same_way(
    runs: list[Run],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """`--jobs 1` runs the trials in otcmm's own process: the signal is noted there too and
    the trial stops before its next step (not inside a storage call)."""
    config = tmp_path / "opt.toml"
    config.write_text(MANY, encoding="utf-8")
    argv = command(config, tmp_path / "out", tmp_path / "study.db")
    argv[argv.index("--jobs") + 1] = "1"
    run = Run(argv)
    runs.append(run)
    poll(lambda: run.anvils() == 1, "a running trial", timeout_s=240)

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=240) == 143
    none_left(run.token)
    stderr = run.stderr.text()
    assert stderr.splitlines()[-1] == "otcmm: stopped by SIGTERM", stderr
    assert "abandoned (interrupted)" in stderr and "Traceback" not in stderr, stderr
    study = optuna.load_study(study_name="opt", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert TrialState.RUNNING not in {t.state for t in study.get_trials()}
