"""The README's exit-code table against the code: every error class, every constant, no more.

Every `OtcmmError` subclass anywhere in `bots` must be named in the row of its `exit_code`; every
name in the table must be such a class (or `EXIT_OFFERS_LEFT`, `Interrupted`, argparse) with
that code. A new error class, or a changed code, fails here until the README says so.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import signal
from pathlib import Path

import pytest

import bots
from bots.cli.main import main
from bots.errors import Interrupted, OtcmmError
from bots.seed.interrupt import SeedInterrupted
from bots.service.loop import EXIT_OFFERS_LEFT

README = Path(__file__).resolve().parents[1] / "README.md"
SIGNAL_ROW = "128 + N"


def table() -> dict[str, set[str]]:
    """{code cell: names in backticks in the row's last column}."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Exit codes") :]
    section = section[: section.index("\n## ", 1)]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (cells[0].isdigit() or cells[0] == SIGNAL_ROW):
            names = set(re.findall(r"`([A-Za-z_]+)`", cells[2]))
            rows[cells[0]] = names | ({"argparse"} if "argparse" in cells[2] else set())
    return rows


def error_classes() -> set[type[OtcmmError]]:
    for module in pkgutil.walk_packages(bots.__path__, "bots."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[OtcmmError]] = set()
    todo: list[type[OtcmmError]] = [OtcmmError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    return found


def test_the_table_has_a_row_for_every_code_and_no_other() -> None:
    assert list(table()) == ["0", "1", "2", "3", "4", "5", "6", "7", "8", SIGNAL_ROW]


def test_every_error_class_is_named_in_the_row_of_its_exit_code() -> None:
    rows = table()
    for cls in error_classes():
        row = SIGNAL_ROW if cls is SeedInterrupted else str(cls.exit_code)
        assert cls.__name__ in rows[row], f"{cls.__name__} (exit {cls.exit_code}) not in row {row}"


def test_every_name_in_the_table_is_what_the_row_says() -> None:
    classes = {cls.__name__: cls for cls in error_classes()}
    for code, names in table().items():
        for name in names:
            if name == "EXIT_OFFERS_LEFT":
                assert code == str(EXIT_OFFERS_LEFT)
            elif name == "argparse":
                with pytest.raises(SystemExit) as info:
                    main(["no-such-command"])
                assert str(info.value.code) == code
            elif name == "Interrupted":
                assert code == SIGNAL_ROW
            elif name == "SeedInterrupted":
                assert code == SIGNAL_ROW
                assert SeedInterrupted(signal.SIGTERM, "here").exit_code == 128 + signal.SIGTERM
            else:
                assert name in classes, f"{name} in the README is no error class"
                assert str(classes[name].exit_code) == code, name


def test_a_stop_signal_exits_128_plus_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Interrupted` (what the CLI raises for SIGINT, SIGTERM and SIGHUP) becomes the shell's
    code for the signal, with one line; the real signals are sent in test_cli_signals.py."""
    from bots.cli.parser import commands

    cli_main = importlib.import_module("bots.cli.main")  # `bots.cli.main` is also the function

    def interrupted(_args: argparse.Namespace) -> int:
        raise Interrupted(signal.SIGHUP)

    parser = cli_main.build_parser()
    for command in commands(parser):
        command.set_defaults(handler=interrupted)
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    previous = {signum: signal.getsignal(signum) for signum in cli_main.STOP_SIGNALS}
    try:
        assert main(["chain-config", "check"]) == 128 + signal.SIGHUP
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
