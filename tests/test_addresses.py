"""Typed addresses: EIP-55 checksums checked everywhere a user types one; a pair needs two tokens.

Issue 12, items 4 and 5. None of these touch a chain: every refusal must come before the first
RPC call, so the CLI cases point at a closed port and still exit 2 (not 4).
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from bots.addresses import checked_address
from bots.errors import ConfigError
from bots.seed.plan import load_plan
from bots.service.config import load_config
from tests.clirun import otcmm as run_otcmm
from tests.test_bot_config import BASE, GOOD, MARKET, QUOTE, write
from tests.test_seed import PLAN, config_error

REPO = Path(__file__).resolve().parents[1]
GOOD_SUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # an EIP-55 test vector
BAD_SUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # its last letter's case flipped


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("otcmm: error: ")
    return line


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("OTCMM_"):
            monkeypatch.delenv(key)


# ---------------------------------------------------------------- the shared validator


@pytest.mark.parametrize("typed", [GOOD_SUM, GOOD_SUM.lower(), "0x" + GOOD_SUM[2:].upper()])
def test_lower_upper_and_correctly_checksummed_addresses_are_accepted(typed: str) -> None:
    assert checked_address(typed) == GOOD_SUM


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (BAD_SUM, "has a bad EIP-55 checksum"),
        ("0x1234", "is not an address"),
        (GOOD_SUM[2:], "is not an address"),  # no 0x
        ("0x" + "g" * 40, "is not an address"),
    ],
)
def test_bad_addresses_are_refused_in_one_line(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        checked_address(typed)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- bot config, run --check


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (f'market = "{MARKET}"', f'market = "{BAD_SUM}"', "market"),
        (f'base = "{BASE}"', f'base = "{BAD_SUM}"', "base"),
        (f'quote = "{QUOTE}"', f'quote = "{BAD_SUM}"', "quote"),
        ('name = "maker-1"', f'name = "maker-1"\nfleet = ["{GOOD_SUM}", "{BAD_SUM}"]', "fleet"),
    ],
)
def test_a_bad_checksum_in_a_bot_config_is_refused(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    (line,) = str(info.value).splitlines()
    assert f": {where}" in line and "bad EIP-55 checksum" in line


def test_a_good_checksum_and_plain_lower_case_load(tmp_path: Path) -> None:
    text = GOOD.replace("tick_interval_s = 2", f'tick_interval_s = 2\nfleet = ["{GOOD_SUM}"]')
    config = load_config(write(tmp_path, text.replace(MARKET, MARKET.lower())))
    assert config.fleet == (GOOD_SUM,) and config.market == MARKET


def test_run_check_exits_2_on_a_bad_checksum(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace(f'base = "{BASE}"', f'base = "{BAD_SUM}"'))
    result = otcmm("run", "--config", str(path), "--check")
    assert result.returncode == 2
    assert "base: " in one_error_line(result) and "bad EIP-55 checksum" in result.stderr


# ---------------------------------------------------------------- seed plan


@pytest.mark.parametrize(
    ("typed", "where"),
    [
        ('address = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"', "participants.0.address"),
        ('to = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"', "donations.1.to"),
    ],
)
def test_a_bad_checksum_in_a_seed_plan_is_refused(tmp_path: Path, typed: str, where: str) -> None:
    key = typed.split(" = ")[0]
    (line,) = config_error(tmp_path, PLAN.replace(typed, f'{key} = "{BAD_SUM}"'))
    assert f"{where}: " in line and "bad EIP-55 checksum" in line


def test_seed_plan_with_lower_case_and_good_checksums_loads(tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    path.write_text(PLAN, encoding="utf-8")
    assert load_plan(path).participants[0].address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_seed_dry_run_exits_2_on_a_bad_checksum(tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    path.write_text(PLAN.replace("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", BAD_SUM), "utf-8")
    result = otcmm(
        "seed", "--plan", str(path), "--rpc-url", closed_port_url(), "--dev-account", "0"
    )
    assert result.returncode == 2
    assert "donations.1.to: " in one_error_line(result)


# ---------------------------------------------------------------- CLI flags


def market_flags(base: str = BASE, quote: str = QUOTE, market: str = MARKET) -> list[str]:
    return ["--rpc-url", closed_port_url(), "--market", market, "--base", base, "--quote", quote]


def address_flag(command: str) -> list[str]:
    return ["--address", GOOD_SUM] if command == "balances" else []


@pytest.mark.parametrize("flag", ["--market", "--base", "--quote"])
@pytest.mark.parametrize("command", ["book", "balances"])
def test_a_bad_checksum_flag_exits_2_before_any_rpc(command: str, flag: str) -> None:
    flags = market_flags()
    flags[flags.index(flag) + 1] = BAD_SUM
    result = otcmm(command, *flags, *address_flag(command))
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"{flag}: " in line and "bad EIP-55 checksum" in line


def test_a_bad_checksum_address_flag_exits_2_before_any_rpc() -> None:
    result = otcmm("balances", *market_flags(), "--address", GOOD_SUM, "--address", BAD_SUM)
    assert result.returncode == 2
    assert "--address: " in one_error_line(result)


def test_good_flags_get_as_far_as_the_node() -> None:
    result = otcmm("balances", *market_flags(), "--address", GOOD_SUM.lower())
    assert result.returncode == 4  # past every check: the closed port is what stops it


# ---------------------------------------------------------------- base equal to quote (item 5)


def test_base_equal_to_quote_is_refused_in_a_config(tmp_path: Path) -> None:
    text = GOOD.replace(f'quote = "{QUOTE}"', f'quote = "{BASE.upper().replace("0X", "0x")}"')
    with pytest.raises(ConfigError, match="quote: .* is also the base: a pair needs 2 tokens"):
        load_config(write(tmp_path, text))


def test_a_symbol_and_its_own_address_are_the_same_token(tmp_path: Path) -> None:
    assets = {"BND30": {"address": BASE, "name": "Bond", "decimals": 2}}
    deployment = {"chain_id": 8995, "market": MARKET, "assets": assets}
    (tmp_path / "deployment.json").write_text(json.dumps(deployment), encoding="utf-8")
    text = GOOD.replace(f'market = "{MARKET}"', 'deployment = "deployment.json"')
    text = text.replace(f'base = "{BASE}"', 'base = "BND30"').replace(QUOTE, BASE)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="is also the base"):
        load_config(path)
    result = otcmm("run", "--config", str(path), "--check")
    assert result.returncode == 2
    assert "is also the base" in one_error_line(result)


@pytest.mark.parametrize("command", ["book", "balances"])
def test_book_and_balances_refuse_base_equal_to_quote(command: str, tmp_path: Path) -> None:
    result = otcmm(command, *market_flags(quote=BASE.lower()), *address_flag(command))
    assert result.returncode == 2
    assert "--quote: " in one_error_line(result) and "is also the base" in result.stderr
    config = write(tmp_path, GOOD)
    result = otcmm(command, "--config", str(config), "--quote", BASE, *address_flag(command))
    assert result.returncode == 2
    assert "is also the base" in one_error_line(result)
