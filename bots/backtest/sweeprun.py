"""Running a sweep's grid points: in this process, or in `--jobs` spawned worker processes.

Workers are plain processes, each with its own two-way pipe, not a `multiprocessing.Pool`: a
pool shares queues and locks among its workers, and a worker stopped mid-write (a SIGTERM
raising inside `put`) or killed while holding a lock left the pool waiting for ever (CI saw an
interrupted sweep hang). Here the parent sends one point at a time down a worker's pipe and
reads its progress lines and its row back; it waits on every pipe and every process sentinel at
once, so a worker that dies (SIGKILL, the OOM killer) is seen at once, and a pipe a dead worker
half wrote reads as closed, never as a wait.

A worker dies with the parent if it is killed (`bots.devtools.lifetime`), ignores SIGINT (a
terminal's Ctrl-C reaches the whole process group: the parent decides), and on SIGTERM: exits
at once when idle, else notes it and stops before its backtest's next step (its dev chain
stopped on the way out), so no signal ever interrupts a write to its pipe. The parent stops the
workers still running on any way out: SIGTERM, then SIGKILL after `workerproc.STOP_GRACE_S`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TextIO

from bots.backtest.sweep import GridPoint, PointLines, Row, net_pnl, run_point
from bots.backtest.workerproc import init_worker, send_error, stop_processes
from bots.errors import Interrupted, OtcmmError


def run_sweep(
    points: Sequence[GridPoint],
    out: Path,
    *,
    jobs: int,
    plots: bool,
    log_level: str,
    stream: TextIO | None = None,
) -> Generator[Row, None, None]:
    """Run every point (in up to `jobs` worker processes), yielding rows as points finish.

    Progress goes to `stream` (stderr) per point: a line when it starts, at each quarter of its
    steps, and when it is done (with its net P&L). Close the iterator (`contextlib.closing`)
    when stopping early: an interruption (`KeyboardInterrupt`, which the CLI raises for SIGINT,
    SIGTERM and SIGHUP too) or a failed point stops the workers, which stop their dev chains,
    and the rows yielded so far stand. A worker that dies is an `OtcmmError` naming it.
    """
    lines = PointLines(stream or sys.stderr, len(points))
    if jobs <= 1 or len(points) <= 1:
        for point in points:
            row = run_point(point, out, plots, lines.step)
            with _signals_held():
                lines.done(point, net_pnl(row))
                yield row
        return
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    todo = list(points)
    try:
        for _ in range(min(jobs, len(points))):
            mine, theirs = context.Pipe(duplex=True)
            process = context.Process(
                target=_worker_main,
                args=(theirs, os.getpid(), out, plots, log_level),
                name="otcmm-sweep",
            )
            process.start()
            theirs.close()  # a dead worker's pipe then reads as closed
            worker = _Worker(process, mine)
            workers.append(worker)
            worker.give(todo)
        yield from _collect(workers, todo, lines, len(points))
    finally:
        _stop(workers)


@dataclass
class _Worker:
    process: BaseProcess
    pipe: Connection
    point: GridPoint | None = None  # the point it runs, None when idle
    done: bool = False

    def give(self, todo: list[GridPoint]) -> None:
        """Send the next point, or the end (None) when there is none."""
        self.point = todo.pop(0) if todo else None
        self.pipe.send(self.point)
        self.done = self.point is None


def _collect(
    workers: list[_Worker], todo: list[GridPoint], lines: PointLines, total: int
) -> Generator[Row, None, None]:
    finished = 0
    while finished < total:
        busy = [w for w in workers if not w.done]
        ready = multiprocessing.connection.wait(
            [*(w.pipe for w in busy), *(w.process.sentinel for w in busy)]
        )
        for worker in busy:
            if worker.pipe in ready:
                point, row = worker.point, _read(worker, lines)
                if row is not None and point is not None:
                    finished += 1
                    with _signals_held():
                        lines.done(point, net_pnl(row))
                        yield row
                    worker.give(todo)
            elif worker.process.sentinel in ready and not worker.pipe.poll():
                raise _died(worker)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back while a finished point's line is written and its
    row handed over: the consumer has the row of every point reported done (a signal in
    between lost it). A held signal is delivered when the section ends."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _read(worker: _Worker, lines: PointLines) -> Row | None:
    """Handle one message of `worker`: its row when it finished its point."""
    try:
        message = worker.pipe.recv()
    except (EOFError, OSError):  # it died, maybe mid-write: the pipe is closed
        raise _died(worker) from None
    kind, payload = message
    point = worker.point
    assert point is not None  # noqa: S101 - a busy worker sends only about its point
    if kind == "step":
        done, steps = payload
        lines.step(point, done, steps)
        return None
    if kind == "error":
        raise payload
    return dict(payload)


def _died(worker: _Worker) -> OtcmmError:
    worker.process.join(timeout=5)
    return OtcmmError(
        f"sweep worker {worker.process.pid} died (killed? exit code "
        f"{worker.process.exitcode}) and its grid point with it: stopping the sweep"
    )


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.done:  # sent the end: it is on its way out by itself
            worker.process.join(timeout=10)
    stop_processes([w.process for w in workers])  # idle ones exit, busy ones stop their chain
    for worker in workers:
        worker.pipe.close()


_BUSY = False  # this worker runs a point
_STOP: int | None = None  # a SIGTERM noted while busy


def _worker_main(pipe: Connection, parent: int, out: Path, plots: bool, log_level: str) -> None:
    """A sweep worker: points in, progress and rows out, until it is sent None."""
    from bots.service.logs import configure_logging

    global _BUSY
    init_worker(parent, _on_sigterm)
    configure_logging("console", log_level)

    def progress(_point: GridPoint, done: int, steps: int) -> None:
        if _STOP is not None:
            raise Interrupted(_STOP)  # before the next step: `with DevChain` stops anvil
        pipe.send(("step", (done, steps)))

    while (point := pipe.recv()) is not None:
        _BUSY = True
        try:
            row = run_point(point, out, plots, progress)
        except Interrupted as exc:
            sys.exit(128 + exc.signum)
        except BaseException as exc:  # noqa: BLE001 - the parent raises it, as it is
            send_error(pipe, exc, "sweep")
            sys.exit(1)
        pipe.send(("row", row))
        _BUSY = False
        if _STOP is not None:
            sys.exit(128 + _STOP)


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    global _STOP
    if not _BUSY:  # idle, waiting for a point: nothing to unwind
        os._exit(128 + signum)
    _STOP = signum  # noted: the point stops before its next step
