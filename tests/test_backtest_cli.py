"""`otcmm backtest` as users run it: a separate process, on the shipped examples, shortened."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import otcmm as run_otcmm

REPO = Path(__file__).resolve().parents[1]
OTCMM = [sys.executable, "-m", "bots.cli"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args, timeout=300)


@pytest.mark.chain
def test_backtest_runs_the_csv_example_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bond"
    result = otcmm(
        "backtest", "--config", "examples/bond_day.toml", "--set", "steps=8", "--out", str(out)
    )

    assert result.returncode == 0, result.stderr
    assert "backtest bond-day: 8 steps" in result.stdout
    assert "conservation: OK; accounting (fills vs chain): OK" in result.stdout
    assert "step 8/8 (100%)" in result.stderr  # progress, on stderr
    for name in ("summary.json", "trades.csv", "equity.csv", "equity.png", "inventory.png"):
        assert (out / name).is_file(), name
    assert (out / "price_mm.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.chain
def test_a_sweep_writes_one_row_per_grid_point_and_a_heatmap(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = otcmm(
        "backtest",
        *("--config", "examples/gbm_basket.toml", "--set", "steps=5", "--out", str(out)),
        *("--sweep", "bots.fixed.strategy.params.spread_bps=40,80", "--jobs", "2", "--no-plots"),
    )

    assert result.returncode == 0, result.stderr
    with (out / "sweep.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["bots.fixed.strategy.params.spread_bps"] for row in rows] == ["40", "80"]
    assert all(row["checks_ok"] == "True" for row in rows)
    assert {"fixed.pnl_net", "a-s.pnl_net"} <= set(rows[0])
    assert (out / "sweep_heatmap.png").read_bytes()[:8] == PNG_MAGIC
    assert len(list((out / "runs").iterdir())) == 2
    assert "spread_bps" in result.stdout.splitlines()[0]  # the comparison table


def test_an_invalid_scenario_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'steps = 0\n[market]\nbase = { symbol = "B", decimals = 99 }\n'
        'quote = { symbol = "Q", decimals = 2 }\n[path]\nkind = "gbm"\nstart = "1"\n'
        'volatility = 0.1\n[[bots]]\nname = "mm"\nstrategy = { name = "nope" }\n',
        encoding="utf-8",
    )

    result = otcmm("backtest", "--config", str(bad), "--check")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 2  # steps and decimals; the strategy is checked once those pass
    assert all(line.startswith(f"otcmm: error: {bad}: ") for line in lines)


def test_both_examples_validate() -> None:
    for name in ("bond_day", "gbm_basket"):
        result = otcmm("backtest", "--config", f"examples/{name}.toml", "--check")
        assert result.returncode == 0, result.stderr
