"""`otcmm run` and late or early stop signals (red team 2): exit 0 means a clean stop.

A second Ctrl-C after the bot cancelled everything used to turn exit 0 into 130 (the CLI's own
handler came back before the process ended); a SIGTERM during start-up before the bot's own
handlers were installed ended with 143 although nothing had been started.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import bots.service.config
from bots.cli.main import main
from bots.errors import Interrupted
from bots.service.signals import StopSignal


def test_after_a_run_a_late_signal_is_ignored_not_an_interruption() -> None:
    before = signal.getsignal(signal.SIGINT)
    stop = StopSignal()
    try:
        with stop.installed(restore=False):
            stop.started()
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, after the clean stop
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_in_process_callers_get_their_handlers_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignal().installed():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_signal_before_the_bot_installed_its_handlers_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_path: Path) -> None:
        raise Interrupted(signal.SIGTERM)  # what the CLI's handler raises mid-load

    monkeypatch.setattr(bots.service.config, "load_config", interrupted)

    assert main(["run", "--config", str(tmp_path / "bot.toml")]) == 0
    assert capsys.readouterr().err.strip() == (
        "otcmm: stopped by SIGTERM during start-up: nothing quoted"
    )
