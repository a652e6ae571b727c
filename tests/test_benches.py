"""`make bench` keeps working: the tick and backtest benchmarks run end to end, small (the
load run has `tests/test_load_bench.py`).

Each runs as `python -m bench.<name>` in its own process on its own dev chain, with sizes that
only check it runs and prints what it claims to measure (figures are not asserted: tests never
time anything).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.chain


def bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done.stdout


def test_the_tick_benchmark_runs_every_scenario() -> None:
    out = bench("bench.tick", "--quick")
    for label in ("book of 40", "no change, 100 own", "requote all 50 own"):
        assert label in out
    assert "methods in one 'requote all 50 own' tick" in out


def test_the_backtest_benchmark_prints_its_ratio_to_the_ceiling() -> None:
    out = bench("bench.backtest", "--steps", "30", "--yardstick", "50")
    assert "blocks shared" in out and "ratio" in out and "where the time goes" in out
    assert "JSON-RPC calls:" in out
    assert "against the README's figure (" in out  # the README still records one it can read
