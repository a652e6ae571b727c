"""What the load benchmark watches while the bots run: /proc, /metrics and journal files.

- CPU seconds (user + system) and peak RSS of a process, from `/proc/<pid>/stat` and the
  `VmHWM` line of `/proc/<pid>/status`. A process that exited but is not reaped yet (state Z)
  still shows its CPU time, so the benchmark reads it once more before reaping: nothing after
  the last sample is lost. Peak RSS is the kernel's high-water mark, so sampling cannot miss a
  peak either; it is gone once the process is a zombie, so the last live reading is kept.
- A bot's Prometheus text, parsed into `{(sample name, labels): value}`.
- A journal's size in bytes, its maximum over the samples, and how often it shrank (each
  shrink is a compaction: the file only ever grows by appending otherwise).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Labels = tuple[tuple[str, str], ...]
SCRAPE_TIMEOUT_S = 5.0


@dataclass
class ProcUsage:
    """CPU seconds and peak resident memory (bytes) of one process, as last read."""

    pid: int
    cpu_s: float = 0.0
    peak_rss: int = 0
    exited: bool = False

    def sample(self) -> bool:
        """Read /proc; False once the process is a zombie or gone (its CPU read one last time)."""
        stat = _read(Path(f"/proc/{self.pid}/stat"))
        if stat is None:
            self.exited = True
            return False
        # Fields after the command name, which is in parentheses and may contain spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, utime, stime = fields[0], int(fields[11]), int(fields[12])
        self.cpu_s = max(self.cpu_s, (utime + stime) / CLOCK_TICKS)
        rss = _vm_hwm(self.pid)
        if rss is not None:
            self.peak_rss = max(self.peak_rss, rss)
        self.exited = state in ("Z", "X")
        return not self.exited


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _vm_hwm(pid: int) -> int | None:
    """The peak resident set size in bytes, or None (a zombie has no memory to report)."""
    status = _read(Path(f"/proc/{pid}/status"))
    for line in (status or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


@dataclass(frozen=True)
class Scrape:
    """One reading of a bot's /metrics at a monotonic time `at`."""

    at: float
    samples: Mapping[tuple[str, Labels], float]

    def total(self, name: str) -> float:
        """Sum of every series of `name` (e.g. `otcmm_rpc_calls_total`)."""
        return sum(v for (n, _), v in self.samples.items() if n == name)

    def by_labels(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


def parse_metrics(text: str, at: float) -> Scrape:
    """Prometheus text exposition into a `Scrape`; ValueError if it does not parse."""
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return Scrape(at, samples)


def scrape(url: str, at: float) -> Scrape | None:
    """GET `url` and parse it; None when the bot does not answer (stopping, or not up yet)."""
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as answer:  # noqa: S310
            text = answer.read().decode("utf-8")
    except (OSError, urllib.error.URLError):
        return None
    try:
        return parse_metrics(text, at)
    except ValueError:
        return None


@dataclass
class JournalWatch:
    """A journal file's size now, its maximum so far and the compactions seen (bytes)."""

    path: Path
    size: int = 0
    peak: int = 0
    compactions: int = 0
    _last: int = field(default=0, repr=False)

    def sample(self) -> None:
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        if size < self._last:
            self.compactions += 1
        self._last = self.size = size
        self.peak = max(self.peak, size)
