"""`otcmm book` and `otcmm balances` as separate processes against the session's dev chain."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import Web3

from tests.chainfixtures import TwoAssetMarket, World, rolled_back, two_asset_market
from tests.clirun import otcmm as run_otcmm

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
FUNDS = 10_000_00  # 10 000.00 of each token (both have 2 decimals)


@pytest.fixture(scope="module")
def fresh_book(session_world: World) -> Iterator[TwoAssetMarket]:
    with rolled_back(session_world):
        yield two_asset_market(
            session_world, TwoAssetMarket, ("alice", "bob"), FUNDS, usd_decimals=2
        )


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args)


def market_flags(book: TwoAssetMarket, rpc_url: str | None = None) -> list[str]:
    return [
        "--rpc-url",
        rpc_url or book.world.chain.url,
        "--market",
        book.market.address,
        "--base",
        book.bnd.address,
        "--quote",
        book.usd.address,
    ]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def rows(stdout: str, first: str) -> list[list[str]]:
    """Table rows whose first cell is `first`, split into cells."""
    return [line.split() for line in stdout.splitlines() if line.split()[:1] == [first]]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("otcmm: error: ")
    return lines[0]


def test_book_lists_offers_in_whole_tokens_with_side_counts(book: TwoAssetMarket) -> None:
    ask = book.make("alice", 12_50, 1_262_50)  # 12.50 BND for 1262.50 USD: 101 each
    bid = book.make("bob", 990_00, 10_00, reverse=True)  # 990.00 USD for 10.00 BND: 99 each
    book.make("bob", 485_00, 5_00, reverse=True)  # 5.00 BND at 97

    result = otcmm("book", *market_flags(book))

    assert result.returncode == 0, result.stderr
    asks, bids = rows(result.stdout, "ask"), rows(result.stdout, "bid")
    assert [(Decimal(r[1]), Decimal(r[2]), r[3]) for r in asks] == [
        (Decimal(101), Decimal("12.5"), hex(ask))  # ids in hex, as everywhere in otcmm
    ]
    assert [(Decimal(r[1]), Decimal(r[2])) for r in bids] == [
        (Decimal(99), Decimal(10)),
        (Decimal(97), Decimal(5)),
    ]
    assert bids[0][3] == hex(bid)
    assert asks[0][4] == book.world.addr("alice")
    assert "---- mid 100.00000000  spread 2.00000000 (200.0 bps) ----" in result.stdout
    assert result.stdout.splitlines()[-1] == "2 bids, 1 ask (BND/USD)"


def test_book_shows_remaining_size_after_a_partial_take(book: TwoAssetMarket) -> None:
    ask = book.make("alice", 10_00, 1_000_00)
    book.world.send("bob", book.market.functions.buy(ask, 2_50))

    result = otcmm("book", *market_flags(book))

    assert result.returncode == 0, result.stderr
    (row,) = rows(result.stdout, "ask")
    assert (Decimal(row[1]), Decimal(row[2])) == (Decimal(100), Decimal("7.5"))
    assert "---- no mid: no bids ----" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 bids, 1 ask (BND/USD)"


def test_balances_show_free_and_escrowed_amounts_per_address(book: TwoAssetMarket) -> None:
    book.make("alice", 12_50, 1_262_50)
    book.make("bob", 990_00, 10_00, reverse=True)
    alice, bob = book.world.addr("alice"), book.world.addr("bob")

    result = otcmm("balances", *market_flags(book), "--address", alice, "--address", bob)

    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.split() == "address gas ETH BND free BND escrow USD free USD escrow".split()
    table = {line[:42]: line[42:].split() for line in result.stdout.splitlines()[1:]}
    assert set(table) == {alice, bob}
    # gas, then BND free, BND escrowed, USD free, USD escrowed, in whole tokens
    assert [Decimal(cell.replace(",", "")) for cell in table[alice][1:]] == [
        Decimal("9987.5"),
        Decimal("12.5"),
        10_000,
        0,
    ]
    assert [Decimal(cell.replace(",", "")) for cell in table[bob][1:]] == [10_000, 0, 9_010, 990]
    gas_wei = book.world.w3.eth.get_balance(Web3.to_checksum_address(alice))
    assert Decimal(table[alice][0].replace(",", "")) == round(Decimal(gas_wei).scaleb(-18), 6)


def test_balances_columns_stay_apart_with_a_large_gas_balance(book: TwoAssetMarket) -> None:
    alice = book.world.addr("alice")
    assert book.world.w3.eth.get_balance(Web3.to_checksum_address(alice)) >= 10**18

    result = otcmm("balances", *market_flags(book), "--address", alice)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == alice


@pytest.mark.parametrize("command", ["book", "balances"])
def test_missing_market_flags_exit_2_with_one_line(command: str, book: TwoAssetMarket) -> None:
    result = otcmm(command, "--rpc-url", book.world.chain.url, "--market", book.market.address)

    assert result.returncode == 2
    line = one_error_line(result)
    assert "--base" in line and "--quote" in line


def test_a_bad_address_exits_2_naming_the_flag(book: TwoAssetMarket) -> None:
    flags = market_flags(book)
    flags[flags.index("--base") + 1] = "0x1234"

    result = otcmm("book", *flags)

    assert result.returncode == 2
    assert "--base" in one_error_line(result)


def test_unreachable_rpc_exits_4_with_one_line(book: TwoAssetMarket) -> None:
    result = otcmm("book", *market_flags(book, rpc_url=closed_port_url()))

    assert result.returncode == 4
    assert "cannot reach RPC" in one_error_line(result)
    assert result.stdout == ""


def test_book_by_symbol_from_a_deployment_names_own_and_fleet_offers(
    book: TwoAssetMarket, tmp_path: Path
) -> None:
    from bots.chain.keystore import create_keystore

    ask = book.make("alice", 12_50, 1_262_50)
    bid = book.make("bob", 990_00, 10_00, reverse=True)
    assets = {
        s: {"address": t.address, "name": s, "decimals": 2}
        for s, t in (("BND", book.bnd), ("USD", book.usd))
    }
    record = {"chain_id": 8995, "market": book.market.address, "assets": assets}
    (tmp_path / "deployment.json").write_text(json.dumps(record), encoding="utf-8")
    key = bytes(book.world.accounts["alice"].key)
    create_keystore(tmp_path / "alice.json", "pw", private_key=key, scrypt_n=2**4)
    (tmp_path / "bot.toml").write_text(
        f'name = "alice-mm"\nrpc_url = "{book.world.chain.url}"\ndeployment = "deployment.json"\n'
        f'base = "BND"\nquote = "USD"\nfleet = ["{book.world.addr("bob")}"]\n'
        '[keystore]\npath = "alice.json"\n[strategy]\nname = "fixed_spread"\n'
        'params = { spread_bps = 40, size = 100 }\n[feed]\nkind = "static"\nprice = "1"\n',
        encoding="utf-8",
    )

    by_symbol = otcmm(
        "book",
        "--rpc-url",
        book.world.chain.url,
        "--deployment",
        str(tmp_path / "deployment.json"),
        "--base",
        "BND",
        "--quote",
        "USD",
    )
    by_config = otcmm("book", "--config", str(tmp_path / "bot.toml"))

    assert by_symbol.returncode == 0, by_symbol.stderr
    assert rows(by_symbol.stdout, "ask")[0][3:] == [hex(ask), book.world.addr("alice")]
    assert by_config.returncode == 0, by_config.stderr
    assert rows(by_config.stdout, "ask")[0][3:] == [hex(ask), "alice-mm", "(own)"]
    assert rows(by_config.stdout, "bid")[0][3:] == [hex(bid), "fleet"]


def _deployment(book: TwoAssetMarket, tmp_path: Path, chain_id: int = 8995) -> Path:
    assets = {
        s: {"address": t.address, "name": s, "decimals": 2}
        for s, t in (("BND", book.bnd), ("USD", book.usd))
    }
    record = {"chain_id": chain_id, "market": book.market.address, "assets": assets}
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def _otcmm_env(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**clean, **env, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("command", ["book", "balances"])
def test_the_rpc_url_comes_from_the_environment_as_the_readme_exports_it(
    command: str, book: TwoAssetMarket, tmp_path: Path
) -> None:
    flags = ["--deployment", str(_deployment(book, tmp_path)), "--base", "BND", "--quote", "USD"]
    if command == "balances":
        flags += ["--address", book.world.addr("alice")]
    result = _otcmm_env(command, *flags, OTCMM_RPC_URL=book.world.chain.url)
    assert result.returncode == 0, result.stderr
    missing = _otcmm_env(command, *flags)  # and without it, exactly what is missing
    assert missing.returncode == 2
    assert one_error_line(missing) == (
        "otcmm: error: missing --rpc-url (or $OTCMM_RPC_URL): give it, or a --config"
    )


def test_a_deployment_with_an_absurd_chain_id_is_refused_at_load(
    book: TwoAssetMarket, tmp_path: Path
) -> None:
    path = _deployment(book, tmp_path, chain_id=2**300)
    result = otcmm(
        "book", "--rpc-url", closed_port_url(), "--deployment", str(path), "--base", "BND"
    )
    assert result.returncode == 2
    assert "chain_id: Input should be less than or equal to" in one_error_line(result)


def test_a_token_address_holding_another_contract_exits_4_with_one_line(
    book: TwoAssetMarket,
) -> None:
    other = book.world.deploy("OtcMarket").address  # a contract, not a token
    flags = market_flags(book)
    flags[flags.index("--base") + 1] = other
    result = otcmm("balances", *flags, "--base-decimals", "2", "--address", book.address("alice"))
    assert result.returncode == 4, result.stderr
    assert f"the contract at {other} is not an ERC20 token" in one_error_line(result)
