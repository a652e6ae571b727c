"""`otcmm backtest --optimize` and its folders: the storage checked before --out is made, a
study in --out continued by a rerun and never deleted by --force, a report of a study that does
not exist refused, and the optimisation's flags refused without --optimize."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest

from tests.test_backtest_optimize import SCENARIO, otcmm, write

TWO = SCENARIO.replace("trials = 6", "trials = 2")


@pytest.mark.parametrize("under", ["file", "proc"])
def test_a_sqlite_path_that_cannot_be_made_is_exit_5_in_one_line_and_makes_no_out(
    tmp_path: Path, under: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    parent = tmp_path / "a-file" if under == "file" else Path("/proc/nope")
    out = tmp_path / "out"
    run = otcmm(
        *("--config", str(write(tmp_path, TWO)), "--optimize", "--out", str(out)),
        *("--storage", f"sqlite:///{parent}/x.db"),
    )
    assert run.returncode == 5, run.stderr
    assert run.stderr.splitlines() == [
        f"otcmm: error: study storage sqlite:///{parent}/x.db: cannot create its folder: "
        + ("File exists" if under == "file" else "No such file or directory")
    ]
    assert not out.exists()  # the plain rerun is not refused for a folder left behind


def test_a_folder_holding_only_the_marker_counts_as_empty(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".otcmm-backtest").write_text("written by otcmm backtest\n")
    run = otcmm("--config", str(write(tmp_path, TWO)), "--optimize", "--out", str(out), "--check")
    assert run.returncode == 0
    run = otcmm(
        "--config", str(write(tmp_path, TWO)), "--optimize", "--out", str(out), "--report-only"
    )
    assert run.returncode == 2  # no study there yet: refused, and nothing created
    assert not (out / "study.db").exists()


@pytest.mark.chain
def test_a_rerun_continues_the_study_in_its_folder_and_force_never_deletes_it(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, TWO)
    out = tmp_path / "out"
    base = ("--config", str(config), "--optimize", "--out", str(out), "--jobs", "1", "--no-plots")
    assert otcmm(*base).returncode == 0
    forced = otcmm(*base, "--force")
    assert forced.returncode == 2 and "holds an optimisation's study" in forced.stderr
    assert (out / "study.db").is_file()
    write(tmp_path, SCENARIO.replace("trials = 6", "trials = 3"))
    again = otcmm(*base)
    assert again.returncode == 0, again.stderr
    with (out / "trials.csv").open() as handle:
        assert [r["number"] for r in csv.DictReader(handle)] == ["0", "1", "2"]
    sweep = otcmm("--config", str(config), "--out", str(out), "--force", "--set", "steps=3")
    assert sweep.returncode == 2 and (out / "study.db").is_file()  # any command


def test_a_report_of_a_study_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    config = str(write(tmp_path, TWO))
    optuna.create_study(storage=storage, study_name="opt")
    typo = otcmm(
        *("--config", config, "--optimize", "--storage", storage, "--report-only"),
        *("--study", "opt-typo", "--out", str(tmp_path / "r")),
    )
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        f"otcmm: error: study 'opt-typo' at {storage}: no such study (check --study and the "
        "storage)"
    ]
    assert optuna.get_all_study_names(storage) == ["opt"]  # nothing created


@pytest.mark.parametrize(
    "flags",
    [["--storage", "sqlite:////tmp/x.db"], ["--study", "s"], ["--report-only"],
     ["--worker-index", "1"]],
)  # fmt: skip
def test_optimisation_flags_without_optimize_are_refused(tmp_path: Path, flags: list[str]) -> None:
    run = otcmm("--config", str(write(tmp_path, TWO)), "--check", *flags)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"otcmm: error: {flags[0]}: only with --optimize"]
