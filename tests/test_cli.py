"""The `otcmm` command line, run as a separate process the way users run it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OTCMM = [sys.executable, "-m", "bots.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OTCMM, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_roundtrip_trades_once_and_reports_gas() -> None:
    result = run("roundtrip")
    assert result.returncode == 0, result.stderr
    for step in ("make", "partial take", "cancel"):
        assert any(line.startswith(step) for line in result.stdout.splitlines())
    assert "settlement check: OK" in result.stdout


def test_compile_check_passes_on_committed_artifacts() -> None:
    result = run("compile", "--check")
    assert result.returncode == 0, result.stderr


def test_chain_config_check_passes_on_committed_render() -> None:
    result = run("chain-config", "check")
    assert result.returncode == 0, result.stderr


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    env_home = {"OTCMM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [*OTCMM, "chain-config", "check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env_home,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("otcmm: error: ")


def test_unknown_command_exits_2_in_two_lines_pointing_at_help() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    first, second = result.stderr.splitlines()
    assert first.startswith("otcmm: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert second == "see `otcmm --help`"
