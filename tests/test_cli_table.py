"""Every `otcmm` command, fed bad input as a new user would, run as a real process.

For each command of `build_parser()` (a new command without cases fails
`test_every_command_has_bad_input_cases`), each case of `tests/clicases.py` and, generated from
the parser, an unknown option and an abbreviation of each long option must: exit non-zero, say
so in at most two lines on stderr, print no traceback, repeat no secret, and refuse before
working: no request reaches the RPC recorder and no anvil is started (side effects, not time).

The runs are independent processes, so they run a few at a time in a module fixture; each test
then checks its own result.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bots.cli import build_parser
from bots.cli.parser import commands
from tests.clicases import CASES, SECRETS, Build, Invocation, Workspace, env_for

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 60  # a bound, not a measurement: refusing takes a second or two


def command_names() -> list[str]:
    prefix = len("otcmm ")
    return [parser.prog[prefix:] for parser in commands(build_parser())]


def long_options(command: str) -> list[str]:
    parser = next(p for p in commands(build_parser()) if p.prog == f"otcmm {command}")
    return [
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and len(option) > 4
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def generated() -> dict[str, dict[str, Build]]:
    """An unknown option and the first long option shortened by one letter, for every command
    (every abbreviation of every option is refused in-process below, without a process each)."""
    cases: dict[str, dict[str, Build]] = {}
    for command in command_names():
        words = command.split()

        def build(*extra: str, words: list[str] = words) -> Build:
            return lambda ws, case: Invocation([*words, *extra])

        cases[command] = {"unknown option": build("--no-such-option", "1")}
        for option in long_options(command)[:1]:
            cases[command][f"abbreviated {option}"] = build(option[:-1], "1")
    return cases


ALL = [
    (command, what, build)
    for table in (CASES, generated())
    for command, cases in table.items()
    for what, build in cases.items()
]


class Recorder(ThreadingHTTPServer):
    """An HTTP server that counts requests per path and answers every one with an error."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, Recorder)
        with server.lock:
            server.paths.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass(frozen=True)
class Outcome:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    requests: int
    anvil_started: bool


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    recorder = Recorder()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    ws = Workspace(tmp_path_factory.mktemp("cli-table"), recorder.url)

    def run(item: tuple[str, str, Build]) -> tuple[str, Outcome]:
        command, what, build = item
        case = slug(f"{command} {what}")
        invocation = build(ws, case)
        process = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", *invocation.argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env_for(ws, case, invocation.env),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so a command that did not refuse goes with all it started
        )
        try:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
            code = process.returncode
        except subprocess.TimeoutExpired:  # it is working instead of refusing: a failure below
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            code, stderr = 0, f"(still running after {RUN_TIMEOUT_S} s)\n{stderr}"
        with recorder.lock:
            requests = sum(1 for path in recorder.paths if path.strip("/") == case)
        marker = ws.root / f"anvil-started-{case}"
        outcome = Outcome(invocation.argv, code, stdout, stderr, requests, marker.exists())
        return case, outcome

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(pool.map(run, ALL))
    finally:
        recorder.shutdown()
        recorder.server_close()


def test_every_command_has_bad_input_cases() -> None:
    assert sorted(CASES) == sorted(command_names())
    assert all(CASES[command] for command in CASES)


@pytest.mark.parametrize(("command", "what"), [(c, w) for c, w, _ in ALL])
def test_bad_input_is_one_or_two_lines_before_any_work(
    outcomes: dict[str, Outcome], command: str, what: str
) -> None:
    outcome = outcomes[slug(f"{command} {what}")]
    shown = f"otcmm {' '.join(outcome.argv)}\n--- stderr:\n{outcome.stderr}"
    assert outcome.code != 0, shown
    assert "Traceback" not in outcome.stderr, shown
    lines = outcome.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, shown
    assert lines[0].startswith("otcmm"), shown  # otcmm: error: ..., otcmm run: error: ...
    assert "site-packages" not in outcome.stderr and "Warning" not in outcome.stderr, shown
    for secret in SECRETS:
        assert secret not in outcome.stdout + outcome.stderr, shown
    assert outcome.requests == 0, f"{shown}\nsent {outcome.requests} RPC requests"
    assert not outcome.anvil_started, f"{shown}\nstarted anvil"


@pytest.mark.parametrize("command", command_names())
def test_no_option_of_any_command_may_be_abbreviated(command: str) -> None:
    parser = build_parser()
    for option in long_options(command):
        with pytest.raises(SystemExit) as info:
            parser.parse_args([*command.split(), option[:-1], "1"])
        assert info.value.code == 2, option


def test_option_values_and_arguments_of_secret_commands_are_never_repeated(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes[slug("keystore import-key a key on the command line")]
    assert outcome.code == 2
    assert outcome.stderr.splitlines()[0] == (
        "otcmm: error: unrecognized arguments (not shown: this command handles secrets)"
    )


def test_an_invalid_value_from_the_environment_is_blamed_on_the_variable(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes[slug("run tick interval 1e308 from the environment")]
    assert outcome.code == 2
    assert outcome.stderr.startswith("otcmm: error: $OTCMM_TICK_INTERVAL_S: tick_interval_s: ")
    assert "less than or equal to 86400" in outcome.stderr


def test_the_password_hint_of_run_names_the_config_setting(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[slug("run no password")]
    assert outcome.code == 2
    assert "keystore.password_file" in outcome.stderr and "--password-file" not in outcome.stderr


def test_debug_after_the_command_keeps_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_bytes(b"\xff")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bots.cli",
            "run",
            "--config",
            str(tmp_path / "bad.toml"),
            "--debug",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ConfigError: " in done.stderr


def test_version() -> None:
    from bots import __version__

    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"otcmm {__version__}\n")


@pytest.mark.parametrize("under_pytest", [False, True])
def test_a_weak_scrypt_cost_is_announced_outside_tests(tmp_path: Path, under_pytest: bool) -> None:
    (tmp_path / "pw").write_text("pw\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["OTCMM_SCRYPT_N"] = "1024"
    if under_pytest:
        env["PYTEST_CURRENT_TEST"] = "this test"
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "keystore", "new", str(tmp_path / "k.json")]
        + ["--password-file", str(tmp_path / "pw")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    warned = "WARNING: $OTCMM_SCRYPT_N=1024 makes keystores 256 times cheaper" in done.stderr
    assert warned is not under_pytest, done.stderr
