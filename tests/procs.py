"""The processes a command started, found in /proc, and waiting (with a deadline) for them to go.

A test gives the command a unique `OTCMM_TEST_RUN` environment variable; every process it
starts inherits it (anvil, sweep workers and their anvils, the demo's bots), so `marked` finds
them all, also after their parent died and they were adopted elsewhere. A process is named by
(pid, start time), so a pid the kernel reuses is not mistaken for a survivor; a zombie (exited,
not yet reaped by whoever adopted it) counts as gone.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # clock ticks since boot: with the pid, a process's identity
    command: str


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of `pid`, None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command may hold spaces and ")"
    return int(fields[1]), fields[0], int(fields[19])


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def descendants(root: int) -> set[Proc]:
    """Every living process below `root`, at this moment."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            info[int(entry)] = stat
            children.setdefault(stat[0], []).append(int(entry))
    found: set[Proc] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        parent, state, started = info[pid]
        if state != "Z":
            found.add(Proc(pid, started, _command(pid)))
        todo += children.get(pid, [])
    return found


MARK = "OTCMM_TEST_RUN"


def marked(token: str) -> set[Proc]:
    """Every living process whose environment has `OTCMM_TEST_RUN=token`."""
    needle = f"{MARK}={token}".encode()
    found: set[Proc] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[1] != "Z" and needle in environ.split(b"\0"):
            found.add(Proc(int(entry), stat[2], _command(int(entry))))
    return found


def none_left(token: str, timeout_s: float = 60.0) -> None:
    """Wait until no process carries `token`; fail naming the survivors at the deadline."""
    deadline = time.monotonic() + timeout_s
    while survivors := marked(token):
        if time.monotonic() > deadline:
            for proc in survivors:  # clean up after the failure, then report it
                os.kill(proc.pid, 9)
            raise AssertionError(f"outlived the command: {survivors}")
        time.sleep(0.05)


def alive(proc: Proc) -> bool:
    stat = _stat(proc.pid)
    return stat is not None and stat[2] == proc.started and stat[1] != "Z"


def poll(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def none_survive(procs: set[Proc], timeout_s: float = 60.0) -> None:
    """Wait until every one of `procs` is gone; fail naming the survivors at the deadline."""
    deadline = time.monotonic() + timeout_s
    while survivors := [p for p in procs if alive(p)]:
        if time.monotonic() > deadline:
            for proc in survivors:  # clean up after the failure, then report it
                os.kill(proc.pid, 9)
            raise AssertionError(f"outlived their parent: {survivors}")
        time.sleep(0.05)


class Output:
    """A stream read line by line in a thread, so a test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def has(self, needle: str) -> bool:
        with self._lock:
            return any(needle in line for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=30)
        with self._lock:
            return "\n".join(self.lines)


def start(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`otcmm argv` as the leader of a new process group, the way a shell runs a job: a
    terminal's Ctrl-C is then `os.killpg(process.pid, SIGINT)`."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
