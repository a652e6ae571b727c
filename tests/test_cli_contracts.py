"""Addresses that hold the wrong contract, or none: one line and exit 4, never a decoding error.

A token given as `--market`, the market given as `--base`, an address without code, and a
deployment file whose asset has no code (a restarted dev chain), for `book`, `balances` and
`run`, on the session's anvil with real contracts.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.chain.keystore import create_keystore
from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market
from tests.clirun import otcmm as run_otcmm

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
NOBODY = "0x0000000000000000000000000000000000000123"


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    with rolled_back(session_world):
        yield two_asset_market(session_world, TwoAssetMarket, ("alice",), 1_000_00, usd_decimals=2)


def otcmm(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args, cwd=cwd)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("otcmm: error: ")
    return line


def flags(book: TwoAssetMarket, market: str, base: str, quote: str) -> list[str]:
    url = book.world.chain.url
    return ["--rpc-url", url, "--market", market, "--base", base, "--quote", quote]


@pytest.mark.parametrize("command", ["book", "balances"])
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("a token as the market", "is not an OtcMarket"),
        ("no code at the market address", "no contract at the market address"),
        ("the market as the base", "is the market itself, not a token"),
        ("no code at the base address", "no contract at token address"),
    ],
)
def test_the_wrong_contract_is_one_line_exit_4_or_2(
    book: TwoAssetMarket, command: str, case: str, expected: str
) -> None:
    market, base, quote = book.market.address, book.bnd.address, book.usd.address
    if case == "a token as the market":
        market = quote
        quote = book.world.asset("EUR").address
    elif case == "no code at the market address":
        market = NOBODY
    elif case == "the market as the base":
        base = market
    else:
        base = NOBODY
    extra = ["--address", book.world.addr("alice")] if command == "balances" else []
    result = otcmm(command, *flags(book, market, base, quote), *extra)
    code = 2 if case == "the market as the base" else 4
    assert expected in one_line(result, code)
    assert result.stdout == ""


def test_a_deployment_whose_asset_has_no_code_is_refused_by_book(
    book: TwoAssetMarket, tmp_path: Path
) -> None:
    deployment = tmp_path / "deployment.json"
    assets = {
        "BND": {"address": book.bnd.address, "name": "Bond", "decimals": 2},
        "GONE": {"address": NOBODY, "name": "Gone", "decimals": 2},
    }
    record = {"chain_id": 8995, "market": book.market.address, "assets": assets}
    deployment.write_text(json.dumps(record), encoding="utf-8")
    result = otcmm(
        "book",
        *("--rpc-url", book.world.chain.url, "--deployment", str(deployment)),
        *("--base", "BND", "--quote", "GONE"),
    )
    line = one_line(result, 4)
    assert f"asset GONE at {NOBODY} has no code on chain" in line
    assert "was the chain reset?" in line


def test_run_refuses_a_token_as_its_market_before_the_first_tick(
    book: TwoAssetMarket, tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    key = book.world.accounts["alice"].key
    create_keystore(tmp_path / "keys/bot.json", "pw", private_key=bytes(key), scrypt_n=2**4)
    (tmp_path / "password").write_text("pw", encoding="utf-8")
    config = tmp_path / "bot.toml"
    config.write_text(
        f'name = "wrong"\nrpc_url = "{book.world.chain.url}"\n'
        f'market = "{book.usd.address}"\nbase = "{book.bnd.address}"\n'
        f'quote = "{book.world.asset("EUR").address}"\n'
        '[keystore]\npath = "keys/bot.json"\npassword_file = "password"\n'
        '[strategy]\nname = "fixed_spread"\nparams = { spread_bps = 40, size = 100 }\n'
        '[feed]\nkind = "static"\nprice = "1"\n'
        '[runtime]\nmetrics_port = 0\nstate_dir = "state"\nlog_format = "json"\n',
        encoding="utf-8",
    )
    nonce = book.world.w3.eth.get_transaction_count(book.world.addr("alice"))
    result = otcmm("run", "--config", str(config))
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("otcmm: error: ")]
    assert len(errors) == 1 and "is not an OtcMarket" in errors[0], result.stderr
    assert book.world.w3.eth.get_transaction_count(book.world.addr("alice")) == nonce
