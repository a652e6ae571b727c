"""A port or a price the command cannot use is bad input (exit 2) for every command that
serves one, said in one line before anything starts: `devchain` started anvil and reported its
failure as a tool's (exit 3) where `price-oracle` said exit 2 for the same busy port, and
`price-oracle --start 1e-320` passed the parser and failed in the walk (exit 1)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clirun import NO_ANVIL
from tests.clirun import otcmm as run_otcmm

REPO = Path(__file__).resolve().parents[1]


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args, env=NO_ANVIL)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("command", ["devchain", "price-oracle"])
def test_a_busy_port_exits_2_in_one_line(busy_port: int, command: str) -> None:
    result = otcmm(command, "--port", str(busy_port))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("otcmm: error: "), result.stderr
    assert f"127.0.0.1:{busy_port}" in lines[0]


@pytest.mark.parametrize("start", ["1e-320", "1e-31", "0"])
def test_a_start_price_below_what_feeds_take_is_refused_by_the_parser(start: str) -> None:
    result = otcmm("price-oracle", "--start", start, "--port", "0")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("otcmm price-oracle: error: argument --start: not in [1E-30")
