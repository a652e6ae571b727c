"""The report folder: one run's files, never mixed with another run's.

A folder `--out` names must be new or empty. An existing non-empty one is refused (one line,
exit 2) unless `--force` is given; then it must be a folder a backtest wrote before (it holds
the `MARKER` file), and its old contents are deleted first, so no file of the previous run (a
grid point's folder, a plot) survives beside the new ones. A non-empty folder without the marker
is refused even with `--force`: it may be anything, and a typo must not delete it. A folder
holding nothing but the marker (a run that failed to start) counts as empty. An optimisation's
folder holding its default study (`study.db`) is reused as it is: the rerun continues the study
(the study itself refuses another scenario), and `--force` is refused there rather than delete it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bots.errors import ConfigError

MARKER = ".otcmm-backtest"
STUDY_FILE = "study.db"  # an optimisation's default study (`bots.backtest.studies`)


def prepare_out(
    out: Path, *, force: bool, keep: Path | None = None, continue_study: bool = False
) -> Path:
    """Make `out` ready for a new run (see the module docstring); return it.

    `keep` is a file the run itself needs from the old folder (a study's SQLite file that
    `--storage` names): `--force` would delete it, so that combination is refused.
    `continue_study`: the run is an optimisation whose study is `STUDY_FILE` in `out`; a report
    folder holding it is reused as it is, so the rerun continues the study. `--force` is
    refused for any folder holding a study: it would delete it.
    Raises `ConfigError` for a folder that cannot be used.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    marked = (out / MARKER).is_file()
    study = out / STUDY_FILE
    if marked and study.is_file():
        if force:
            raise ConfigError(
                f"--out {out}: holds an optimisation's study ({STUDY_FILE}); --force would delete "
                f"it: rerun the optimisation without --force to continue it, or delete {study} "
                "yourself first"
            )
        if continue_study:
            return out
    if out.is_dir() and any(child.name != MARKER for child in out.iterdir()):
        if not force:
            raise ConfigError(
                f"--out {out}: the folder exists and is not empty; choose a new folder, or pass "
                "--force to delete its previous report first"
            )
        if not marked:
            raise ConfigError(
                f"--out {out}: not a backtest report folder (no {MARKER} file); --force deletes "
                "only folders a backtest wrote: choose a new or empty folder"
            )
        if keep is not None and keep.resolve().is_relative_to(out.resolve()):
            raise ConfigError(
                f"--out {out}: --force would delete {keep}, which this run uses: "
                "choose another --out"
            )
        _empty(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by otcmm backtest\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there: {exc.strerror}") from None
    return out


def _empty(out: Path) -> None:
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
