"""The repository layout the README shows is the one git holds, and modules stay small."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400


def _tracked() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def _readme_tree() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Layout\n") :]
    return section.split("```\n", 2)[1].splitlines()


def test_readme_tree_names_every_top_level_directory_and_nothing_else() -> None:
    shown = {line.split()[0].rstrip("/") for line in _readme_tree() if not line.startswith(" ")}
    tracked_dirs = {path.split("/")[0] for path in _tracked() if "/" in path}
    tracked_dirs -= {".ci"}
    assert tracked_dirs <= shown, tracked_dirs - shown
    assert shown <= tracked_dirs | {"Containerfile"}, shown - tracked_dirs


def test_readme_tree_names_every_bots_package_and_top_level_module() -> None:
    nested = [line for line in _readme_tree() if line.startswith("  ")]
    shown = {
        token.rstrip("/")
        for line in nested
        for token in re.split(r"\s{2,}", line.strip())[0].split()
        if token.endswith(("/", ".py"))
    }
    tracked = _tracked()
    packages = {p.split("/")[1] for p in tracked if re.fullmatch(r"bots/\w+/__init__\.py", p)}
    modules = {p.split("/")[1] for p in tracked if re.fullmatch(r"bots/\w+\.py", p)}
    expected = packages | (modules - {"__init__.py"}) | {"examples/demo"}
    assert shown == expected


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        path: len((REPO / path).read_text(encoding="utf-8").splitlines())
        for path in _tracked()
        if path.endswith(".py") and path.startswith(("bots/", "strategies/"))
    }
    too_big = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_big
