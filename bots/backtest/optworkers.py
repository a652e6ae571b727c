"""`--jobs N` optimiser workers on one machine: N spawned processes, each running `run_worker`.

Plain `multiprocessing.Process`es, one result pipe each, rather than a `Pool`: a pool waits
forever for the result of a worker that died (SIGKILL, the OOM killer) and its shutdown takes
a lock an idle worker may hold, so a finished optimisation could hang. Here the parent waits on
the workers' process sentinels, so it learns of every end at once:

- a worker that finishes sends ("ok", trials it ran) and exits 0;
- a worker that fails sends ("error", the exception), which the parent raises (a
  `StudyStorageError` stays exit 5, a `ConfigError` exit 2);
- a worker that ends without a message (killed) is an `OtcmmError` naming it and its exit code.

On any of these but the first, on an interruption of the parent, and always on the way out, the
parent stops the workers still alive: SIGTERM (each abandons its running trial and stops its
dev chain, `bots.backtest.optimize.StopSignal`), then SIGKILL after `workerproc.STOP_GRACE_S` (their
chains die with them, `bots.devtools.lifetime`). Workers die with the parent if it is killed and
ignore SIGINT: a terminal's Ctrl-C reaches the whole process group, and the parent decides.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from bots.backtest.optimize import Plan, StopSignal, run_worker
from bots.backtest.workerproc import init_worker, send_error, stop_processes
from bots.errors import Interrupted, OtcmmError


@dataclass
class _Worker:
    name: str
    process: BaseProcess
    results: Connection
    message: tuple[str, object] | None = None  # what it sent, read as soon as it was sent


def run_workers(plan: Plan, jobs: int, worker_index: int) -> None:
    """`jobs` workers on this machine, ids `<worker_index>.<j>`: this process alone for 1, else
    spawned processes (each with its own dev chains). Returns when all have finished.

    Raises the first worker's error, `OtcmmError` for a worker that died, and lets an
    interruption of this process through; in every case no worker is left running."""
    if jobs <= 1:
        _run_here(plan, f"{worker_index}.0")
        return
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    try:
        for j in range(jobs):
            name = f"{worker_index}.{j}"
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(plan, name, os.getpid(), send),
                name=f"otcmm-optimise-{name}",
            )
            process.start()
            send.close()  # the worker's end: a dead worker's pipe reads as closed
            workers.append(_Worker(name, process, receive))
        _await(workers)
    finally:
        _stop(workers)


def _run_here(plan: Plan, name: str) -> None:
    """One worker in this process: SIGINT, SIGTERM and SIGHUP are noted and acted on at the
    trial's next step (`StopSignal`), as in a spawned worker; a second one stops at once."""
    stop = StopSignal()

    def note(signum: int, _frame: FrameType | None) -> None:
        if stop.requested is not None:
            raise Interrupted(signum)
        stop.request(signum)

    kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {kind: signal.signal(kind, note) for kind in kinds}
    try:
        run_worker(plan, name, stop=stop)
    finally:
        for kind, handler in before.items():
            signal.signal(kind, handler)


def _await(workers: list[_Worker]) -> None:
    """Until every worker has ended: its message is read as soon as it is sent (a message
    larger than the pipe's buffer would otherwise keep its sender from ever exiting), its end
    judged once its process is gone."""
    pending = list(workers)
    while pending:
        listening = [w.results for w in pending if w.message is None and not w.results.closed]
        ready = multiprocessing.connection.wait(
            [*listening, *(w.process.sentinel for w in pending)]
        )
        for worker in pending:
            if worker.results in ready:
                _receive(worker)
        for worker in [w for w in pending if w.process.sentinel in ready]:
            pending.remove(worker)
            worker.process.join()
            if worker.message is None:
                _receive(worker)
            _outcome(worker)


def _receive(worker: _Worker) -> None:
    try:
        if worker.results.poll():
            worker.message = worker.results.recv()
            return
    except (EOFError, OSError):
        pass
    except Exception as exc:  # noqa: BLE001 - sent, but it does not unpickle here
        error = OtcmmError(f"optimise: worker {worker.name} failed: {exc}")
        worker.message = ("error", error)
        return
    worker.results.close()  # closed by a worker that died: nothing more will come


def _outcome(worker: _Worker) -> None:
    """Raise what a worker's end means, unless it finished its share."""
    message, code = worker.message, worker.process.exitcode
    if message is not None and message[0] == "ok" and code == 0:
        return
    if message is not None and message[0] == "error" and isinstance(message[1], BaseException):
        raise message[1]
    raise OtcmmError(
        f"optimise: worker {worker.name} (pid {worker.process.pid}) ended without finishing "
        f"its trials (exit code {code}; killed?): the others are stopped; its running trial "
        "is marked lost once its heartbeat is stale (it does not count), and a rerun "
        "continues the study"
    )


def _stop(workers: list[_Worker]) -> None:
    stop_processes([w.process for w in workers])
    for worker in workers:
        if not worker.results.closed:
            worker.results.close()


_STOP = StopSignal()  # this worker's: where a SIGTERM lands
_RUNNING = False  # run_worker has started and not returned
_PARENT = 0  # the otcmm process that started this worker


def _worker_main(plan: Plan, name: str, parent: int, results: Connection) -> None:
    """A spawned worker: dies with the parent, leaves Ctrl-C to it, stops on SIGTERM (noted by
    the handler, acted on by the worker at its next step: `StopSignal`)."""
    global _RUNNING, _PARENT
    _PARENT = parent
    init_worker(parent, _on_sigterm)
    _RUNNING = True
    try:
        ran = run_worker(plan, name, stop=_STOP)
    except Interrupted as exc:  # its trial abandoned, its chain stopped
        _RUNNING = False
        results.close()
        sys.exit(128 + exc.signum)
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, as is
        _RUNNING = False
        send_error(results, exc, "optimise")
        results.close()
        sys.exit(1)
    _RUNNING = False
    results.send(("ok", ran))
    results.close()


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    if not _RUNNING:  # idle: nothing to unwind
        os._exit(128 + signum)
    if _STOP.requested is not None:  # stopping already (the group's signal and the parent's)
        if os.getppid() != _PARENT:  # the parent is gone (its death signal): nobody waits
            os._exit(128 + signum)
        return  # the trial is being marked; the parent's grace (then SIGKILL) bounds it
    _STOP.request(signum)  # noted: the trial stops before its next step
