"""Results a researcher can trust: no mixed report folders, no ambiguous or unbounded grids,
progress per grid point, Sharpe only over a long enough window, heatmaps centred on zero."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from bots.backtest.heatmap import norm_for, unit_of
from bots.backtest.outdir import MARKER
from bots.backtest.stats import DAY_S, judge_sharpe
from tests.clirun import otcmm as run_otcmm

REPO = Path(__file__).resolve().parents[1]
BOND = "examples/bond_day.toml"
SPREAD = "strategy.params.spread_bps"


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm("backtest", *args, timeout=300)


def test_a_non_empty_out_folder_is_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("a previous run")
    result = otcmm("--config", BOND, "--set", "steps=3", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the folder exists and is not empty" in result.stderr and "--force" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_force_deletes_only_a_folder_a_backtest_wrote(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("not a report")
    result = otcmm("--config", BOND, "--set", "steps=3", "--out", str(tmp_path), "--force")
    assert result.returncode == 2 and "not a backtest report folder" in result.stderr
    assert (tmp_path / "thesis.tex").read_text() == "not a report"


@pytest.mark.chain
def test_force_replaces_an_earlier_report_whole(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "stale.csv").write_text("an old grid point")
    (tmp_path / "price_gone.png").write_bytes(b"old")

    result = otcmm("--config", BOND, "--set", "steps=3", "--out", str(tmp_path), "--force")

    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert "runs" not in names and "price_gone.png" not in names
    assert {"summary.json", "trades.csv", MARKER} <= names


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--sweep", f"{SPREAD}=5,10", "--sweep", f"{SPREAD}=20"],
            "--sweep strategy.params.spread_bps: given twice",
        ),
        (
            ["--sweep", f"{SPREAD}=5,10", "--sweep", f"bots.mm.{SPREAD}=20"],
            "the same value as --sweep strategy.params.spread_bps",
        ),
        (
            ["--set", "bots.mm.feed_lag_steps=2", "--sweep", "feed_lag_steps=0,1"],
            "--sweep feed_lag_steps: the same value as --set bots.mm.feed_lag_steps",
        ),
    ],
)  # fmt: skip
def test_one_value_swept_twice_is_refused(flags: list[str], message: str) -> None:
    result = otcmm("--config", BOND, *flags, "--check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


def test_a_grid_larger_than_the_limit_is_refused_before_it_is_built() -> None:
    values = ",".join(str(v) for v in range(1, 21))
    result = otcmm(
        "--config", BOND, "--sweep", f"strategy.params.spread_bps={values}",
        "--sweep", f"strategy.params.level_spacing_bps={values}", "--check",
    )  # fmt: skip
    assert result.returncode == 2
    assert "the grid has 400 points (20 x 20); the limit is 256" in result.stderr


@pytest.mark.chain
def test_a_sweep_reports_progress_per_point(tmp_path: Path) -> None:
    result = otcmm(
        "--config", "examples/gbm_basket.toml", "--set", "steps=8", "--out", str(tmp_path / "s"),
        "--sweep", "bots.fixed.strategy.params.spread_bps=40,80", "--jobs", "2", "--no-plots",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for index, spread in ((1, 40), (2, 80)):
        tag = f"sweep [{index}/2 spread_bps={spread}]"
        assert f"{tag}: started, 8 steps" in result.stderr
        assert f"{tag}: step 4/8 (50%)" in result.stderr
        assert f"({'spread_bps'}={spread}: net P&L" in result.stderr


def test_sharpe_is_shown_only_over_a_long_enough_window() -> None:
    steps = 120
    equity = [1000.0 + i + 3 * math.sin(i) for i in range(steps + 1)]
    minutes = [60 * i for i in range(steps)]
    days = [DAY_S * i for i in range(steps)]

    short = judge_sharpe(equity, minutes)
    assert short.sharpe is None and short.short_window is not None and not short.shown
    assert short.stderr is not None and short.stderr > 40  # two hours: meaningless
    long = judge_sharpe(equity, days)
    assert long.shown and long.sharpe is not None and long.short_window is None
    assert long.stderr is not None and long.stderr < 3
    assert long.sharpe == pytest.approx(short.short_window / math.sqrt(24 * 60))


def test_heatmap_colours_diverge_around_zero_with_units() -> None:
    losses = norm_for([[-3.0, -1.0]])
    assert losses(-1.0) < 0.5 and losses(-3.0) == 0.0  # the least loss is still red
    gains = norm_for([[2.0, 5.0]])
    assert gains(2.0) > 0.5 and gains(0.0) == 0.5
    mixed = norm_for([[-1.0, 4.0]])
    assert mixed(0.0) == 0.5 and mixed(-4.0) == 0.0  # symmetric: -1 is as pale as +1
    symbols = {"base": "BND", "quote": "EURT"}
    assert unit_of("fixed.pnl_net", symbols) == "EURT, after gas"
    assert unit_of("adverse_selection_bps", symbols) == "bps of maker volume"
