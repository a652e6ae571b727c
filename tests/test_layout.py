"""The repository layout the README shows is the one git holds, and modules stay small."""

from __future__ import annotations

import json
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


def test_the_readme_bot_config_is_a_valid_config(tmp_path: Path) -> None:
    """The annotated example under "Configuration" must load as it stands (no rot)."""
    from bots.service.config import load_config

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Configuration\n") :]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assets = {
        symbol: {"address": "0x" + digit * 40, "name": symbol, "decimals": 2}
        for symbol, digit in (("BND30", "1"), ("EURT", "2"))
    }
    deployment = {"chain_id": 8995, "market": "0x" + "3" * 40, "assets": assets}
    (tmp_path / "deployment.json").write_text(json.dumps(deployment), encoding="utf-8")
    config_path = tmp_path / "bot.toml"
    config_path.write_text(example, encoding="utf-8")

    config = load_config(config_path, secrets_dir=tmp_path)

    assert config.risk.max_price_move_bps == 500 and config.runtime.metrics_host == "127.0.0.1"
