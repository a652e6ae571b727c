"""Keystores written by other wallets, derivation paths at 2**31, and mnemonics refused with a
reason (issue 12, item 10). Light KDF parameters throughout: the file records them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from bots.chain.keystore import import_mnemonic, keystore_address, unlock
from bots.devtools.devchain import DevChainParams
from bots.errors import KeystoreError
from tests.botharness import PASSWORD as BOT_PASSWORD
from tests.botharness import BotWorld, start_bot_world
from tests.clirun import otcmm as run_otcmm

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"  # noqa: S105 - test fixture
KEY_0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil account 0
ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
MNEMONIC = "test test test test test test test test test test test junk"
N = 2**4


def eth_account_file(kdf: str = "scrypt", key: str = KEY_0, password: str = PASSWORD) -> Any:
    """A keystore exactly as `eth_account.Account.encrypt` writes it (light KDF)."""
    iterations = N if kdf == "scrypt" else 1_000
    return Account.encrypt(bytes.fromhex(key), password, kdf=kdf, iterations=iterations)


def geth_style(data: dict[str, Any], *, address: bool = True) -> dict[str, Any]:
    """geth's layout: `Crypto` capitalised, lower-case address without 0x (or none at all)."""
    out = {k: v for k, v in data.items() if k != "crypto" and (address or k != "address")}
    out["Crypto"] = data["crypto"]
    if address:
        out["address"] = data["address"].lower().removeprefix("0x")
    return out


def write(path: Path, data: object, prefix: str = "") -> Path:
    path.write_text(prefix + json.dumps(data), encoding="utf-8")
    return path


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args)


# ---------------------------------------------------------------- other wallets' files


@pytest.mark.parametrize(
    "shape",
    ["eth-account scrypt", "eth-account pbkdf2", "geth Crypto", "no address", "geth pbkdf2 bare"],
)
def test_any_file_eth_account_decrypts_unlocks(tmp_path: Path, shape: str) -> None:
    data = {
        "eth-account scrypt": lambda: eth_account_file(),
        "eth-account pbkdf2": lambda: eth_account_file("pbkdf2"),
        "geth Crypto": lambda: geth_style(eth_account_file()),
        "no address": lambda: {k: v for k, v in eth_account_file().items() if k != "address"},
        "geth pbkdf2 bare": lambda: geth_style(eth_account_file("pbkdf2"), address=False),
    }[shape]()
    path = write(tmp_path / "key.json", data)
    assert Account.decrypt(json.loads(path.read_text()), PASSWORD).hex().endswith(KEY_0)
    assert unlock(path, PASSWORD).address == ADDRESS_0


def test_a_byte_order_mark_before_the_json_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "key.json", eth_account_file(), prefix="\ufeff")
    assert unlock(path, PASSWORD).address == ADDRESS_0
    assert keystore_address(path) == ADDRESS_0


def test_a_file_without_address_says_how_to_learn_it(tmp_path: Path) -> None:
    data = geth_style(eth_account_file(), address=False)
    path = write(tmp_path / "key.json", data)
    with pytest.raises(KeystoreError, match="does not record its address: `otcmm keystore verify`"):
        keystore_address(path)
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    verified = otcmm("keystore", "verify", str(path), "--password-file", str(tmp_path / "pw"))
    assert verified.returncode == 0 and verified.stdout.split()[0] == ADDRESS_0
    asked = otcmm("keystore", "address", str(path))
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert len(asked.stderr.strip().splitlines()) == 1


def test_a_recorded_address_that_is_not_the_keys_is_refused(tmp_path: Path) -> None:
    data = eth_account_file()
    data["address"] = "70997970c51812dc3a010c7d01b50e0d17dc79c8"
    with pytest.raises(KeystoreError, match="address does not match the key"):
        unlock(write(tmp_path / "key.json", data), PASSWORD)


def test_a_wrong_password_is_named_for_every_kdf(tmp_path: Path) -> None:
    for kdf in ("scrypt", "pbkdf2"):
        path = write(tmp_path / f"{kdf}.json", geth_style(eth_account_file(kdf), address=False))
        with pytest.raises(KeystoreError, match="wrong password"):
            unlock(path, "not it")


def test_a_v4_bls_keystore_is_refused_as_such(tmp_path: Path) -> None:
    path = write(tmp_path / "v4.json", {"version": 4, "crypto": {}, "pubkey": "aa"})
    with pytest.raises(KeystoreError, match="EIP-2335 .* BLS validator key"):
        unlock(path, PASSWORD)


def test_a_damaged_crypto_section_is_one_line(tmp_path: Path) -> None:
    data = eth_account_file()
    del data["crypto"]["kdfparams"]
    with pytest.raises(KeystoreError, match="cannot decrypt keystore .*: KeyError") as info:
        unlock(write(tmp_path / "key.json", data), PASSWORD)
    assert info.value.__suppress_context__


# ---------------------------------------------------------------- derivation paths


@pytest.mark.parametrize(
    "path",
    ["m/44'/60'/0'/0/2147483648", "m/44'/60'/2147483648'/0/0", "m/44'/60'/0'/0/4294967296"],
)
def test_a_path_component_of_2_31_or_more_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(KeystoreError, match=r"is 2\*\*31 or more"):
        import_mnemonic(tmp_path / "k.json", PASSWORD, MNEMONIC, account_path=path, scrypt_n=N)
    assert not (tmp_path / "k.json").exists()


def test_the_largest_components_still_derive(tmp_path: Path) -> None:
    path = "m/44'/60'/2147483647'/0/2147483647"
    assert import_mnemonic(tmp_path / "k.json", PASSWORD, MNEMONIC, account_path=path, scrypt_n=N)


# ---------------------------------------------------------------- mnemonics refused with a reason


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        (MNEMONIC.upper(), "word 1 has upper-case letters"),
        (MNEMONIC.replace("junk", "Junk"), "word 12 has upper-case letters"),
        ("\ufeff" + MNEMONIC, "byte-order mark"),
        ("1. " + MNEMONIC, "characters other than letters"),
        (MNEMONIC.rsplit(" ", 1)[0], "it has 11 words; BIP-39 phrases have 12"),
        (MNEMONIC.replace("junk", "junkk"), "word 12 is in no BIP-39 word list"),
        (MNEMONIC.replace("junk", "test"), "the checksum does not match"),
        ("abandon " * 11 + "abeille", "the checksum does not match"),  # French, valid words
        ("", "it is empty"),
    ],
)
def test_a_refused_mnemonic_says_why_without_quoting_it(
    tmp_path: Path, words: str, reason: str
) -> None:
    with pytest.raises(KeystoreError) as info:
        import_mnemonic(tmp_path / "k.json", PASSWORD, words, scrypt_n=N)
    message = str(info.value)
    assert message.startswith("invalid mnemonic: ") and reason in message
    assert "\n" not in message
    assert not any(word in message for word in set(words.split()) if len(word) > 3)


def test_the_cli_names_a_byte_order_mark_in_the_mnemonic_file(tmp_path: Path) -> None:
    (tmp_path / "words").write_text("\ufeff" + MNEMONIC + "\n", encoding="utf-8")
    (tmp_path / "pw").write_text(PASSWORD, encoding="utf-8")
    done = otcmm(
        "keystore",
        "import-mnemonic",
        str(tmp_path / "k.json"),
        "--mnemonic-file",
        str(tmp_path / "words"),
        "--password-file",
        str(tmp_path / "pw"),
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "byte-order mark" in line and "test" not in line.replace("otcmm", "")


# ---------------------------------------------------------------- a bot runs on a geth keystore


@pytest.fixture(scope="module")
def bot_world(
    chain_params: DevChainParams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotWorld]:
    params = dataclasses.replace(chain_params, accounts=2)
    yield from start_bot_world(params, tmp_path_factory.mktemp("gethkey"))


@pytest.mark.chain
def test_a_bot_runs_on_a_geth_style_keystore_without_address(bot_world: BotWorld) -> None:
    maker = {"name": "fixed_spread", "params": {"spread_bps": 100, "size": 500}}
    config = bot_world.new_bot("geth-key", maker, base=100_000, quote=10_000_000)
    key_file = config.parent / "key.json"
    account = unlock(key_file, BOT_PASSWORD)
    pbkdf2 = Account.encrypt(account.key, BOT_PASSWORD, kdf="pbkdf2", iterations=1_000)
    write(key_file, geth_style(pbkdf2, address=False))
    bot = bot_world.start(config, address=account.address)

    started = bot.wait_for(lambda line: line.get("event") == "starting")
    assert Web3.to_checksum_address(str(started["address"])) == account.address
    bot.wait_for(lambda line: line.get("event") == "tick" and line.get("made") == 2)
    assert len(list(bot_world.reader.owner_offers(account.address))) == 2
    assert bot.terminate() == 0
    assert list(bot_world.reader.owner_offers(account.address)) == []
