"""Keystores: v3 format, 0600 files, no overwrite, HD import, password sources, no secret leaks."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bots.chain.keystore import (
    Secret,
    create_keystore,
    import_mnemonic,
    import_private_key,
    keystore_address,
    read_password,
    unlock,
)
from bots.cli import main as cli_main
from bots.errors import KeystoreError

REPO = Path(__file__).resolve().parents[1]
N = 2**4  # light scrypt: the file records n, so unlock works regardless
PASSWORD = "correct horse battery staple"  # noqa: S105 - test fixture
MNEMONIC = "test test test test test test test test test test test junk"
ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ADDRESS_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil account 0


@pytest.fixture
def ks(tmp_path: Path) -> Path:
    return tmp_path / "bot.json"


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_create_writes_0600_v3_scrypt_keystore(ks: Path) -> None:
    address = create_keystore(ks, PASSWORD, scrypt_n=N)
    assert stat.S_IMODE(ks.stat().st_mode) == 0o600
    data = json.loads(ks.read_text())
    assert data["version"] == 3
    assert data["crypto"]["kdf"] == "scrypt"
    assert data["crypto"]["kdfparams"]["n"] == N
    assert keystore_address(ks) == address
    assert unlock(ks, PASSWORD).address == address
    assert [p.name for p in ks.parent.iterdir()] == ["bot.json"]  # no temp file left behind


def test_create_with_given_key_stores_that_key(ks: Path) -> None:
    address = create_keystore(ks, PASSWORD, private_key=bytes.fromhex(KEY_0), scrypt_n=N)
    assert address == ADDRESS_0
    assert unlock(ks, Secret(PASSWORD)).key.hex().removeprefix("0x") == KEY_0


def test_unlock_with_wrong_password_raises_one_line_exit_2(ks: Path) -> None:
    create_keystore(ks, PASSWORD, scrypt_n=N)
    with pytest.raises(KeystoreError) as info:
        unlock(ks, "wrong-password")
    assert str(info.value) == f"wrong password for keystore {ks}"
    assert info.value.exit_code == 2
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_create_refuses_to_overwrite_existing_file(ks: Path) -> None:
    create_keystore(ks, PASSWORD, scrypt_n=N)
    before = ks.read_text()
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        create_keystore(ks, PASSWORD, scrypt_n=N)
    assert ks.read_text() == before


def test_create_refuses_empty_password_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="empty password"):
        create_keystore(tmp_path / "a.json", "", scrypt_n=N)
    with pytest.raises(KeystoreError, match="directory does not exist"):
        create_keystore(tmp_path / "missing" / "a.json", PASSWORD, scrypt_n=N)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("index", "expected"), [(0, ADDRESS_0), (1, ADDRESS_1)])
def test_import_mnemonic_derives_bip44_account(ks: Path, index: int, expected: str) -> None:
    assert import_mnemonic(ks, PASSWORD, MNEMONIC, index=index, scrypt_n=N) == expected
    assert unlock(ks, PASSWORD).address == expected


def test_import_mnemonic_default_path_is_index_0(ks: Path) -> None:
    assert import_mnemonic(ks, PASSWORD, Secret(f"  {MNEMONIC}\n"), scrypt_n=N) == ADDRESS_0


def test_import_mnemonic_custom_path(ks: Path) -> None:
    path = "m/44'/60'/0'/0/1"
    assert import_mnemonic(ks, PASSWORD, MNEMONIC, account_path=path, scrypt_n=N) == ADDRESS_1


@pytest.mark.parametrize(
    "bad",
    [
        "test test test test test test test test test test test test",  # bad checksum
        "zebra zebra zebra",
        "secretword " * 12,
    ],
)
def test_invalid_mnemonic_error_does_not_echo_it(ks: Path, bad: str) -> None:
    with pytest.raises(KeystoreError) as info:
        import_mnemonic(ks, PASSWORD, bad, scrypt_n=N)
    message = str(info.value)
    assert message.startswith("invalid mnemonic: ")  # and why: tests/test_keystore_compat.py
    assert "\n" not in message
    assert_no_secret(message + repr(info.value), *set(bad.split()), PASSWORD)
    assert not ks.exists()


def test_invalid_derivation_path_and_index_are_refused(ks: Path) -> None:
    with pytest.raises(KeystoreError, match="invalid derivation path"):
        import_mnemonic(ks, PASSWORD, MNEMONIC, account_path="m/44'/x", scrypt_n=N)
    with pytest.raises(KeystoreError, match="account index"):
        import_mnemonic(ks, PASSWORD, MNEMONIC, index=-1, scrypt_n=N)


@pytest.mark.parametrize("key", [KEY_0, "0x" + KEY_0, f"  {KEY_0}\n"])
def test_import_private_key_roundtrip(ks: Path, key: str) -> None:
    assert import_private_key(ks, PASSWORD, key, scrypt_n=N) == ADDRESS_0
    assert unlock(ks, PASSWORD).key.hex().removeprefix("0x") == KEY_0


@pytest.mark.parametrize(
    "bad",
    [KEY_0[:-2], KEY_0 + "00", "zz" + KEY_0[2:], "0" * 64, "f" * 64],
)
def test_invalid_private_key_error_does_not_echo_it(ks: Path, bad: str) -> None:
    with pytest.raises(KeystoreError, match="invalid private key") as info:
        import_private_key(ks, PASSWORD, bad, scrypt_n=N)
    assert_no_secret(str(info.value) + repr(info.value), bad, bad[4:40], PASSWORD)
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert not ks.exists()


def test_keystore_address_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="keystore not found"):
        keystore_address(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KeystoreError, match="cannot read keystore"):
        keystore_address(bad)
    bad.write_text(json.dumps({"version": 4, "address": "00", "crypto": {}}))
    with pytest.raises(KeystoreError, match="not a v3 keystore"):
        unlock(bad, PASSWORD)


def test_password_file_strips_exactly_one_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTCMM_KEYSTORE_PASSWORD", "from-env")
    file = tmp_path / "pw"
    file.write_text(" pw \n\n")
    assert read_password(password_file=file, prompt=False).reveal() == " pw \n"
    file.write_text("pw\r\n")
    assert read_password(password_file=file, prompt=False).reveal() == "pw"
    with pytest.raises(KeystoreError, match="password file not found"):
        read_password(password_file=tmp_path / "missing", prompt=False)


def test_password_from_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTCMM_KEYSTORE_PASSWORD", PASSWORD)
    assert read_password(password_file=None, prompt=False).reveal() == PASSWORD
    monkeypatch.setenv("OTHER_PW", "other")
    assert read_password(password_file=None, env_var="OTHER_PW", prompt=False).reveal() == "other"


def test_missing_password_without_terminal_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTCMM_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(KeystoreError) as info:
        read_password(password_file=None, prompt=True)
    assert str(info.value) == (
        "no password: use --password-file, $OTCMM_KEYSTORE_PASSWORD or a terminal"
    )


def test_prompt_confirms_and_refuses_empty_for_new_keystores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTCMM_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["a", "a", "a", "b", "", ""])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert read_password(password_file=None, prompt=True, confirm=True).reveal() == "a"
    with pytest.raises(KeystoreError, match="passwords do not match"):
        read_password(password_file=None, prompt=True, confirm=True)
    with pytest.raises(KeystoreError, match="empty password"):
        read_password(password_file=None, prompt=True, confirm=True)


def test_secret_is_masked_and_not_picklable() -> None:
    secret = Secret(PASSWORD)
    assert repr(secret) == str(secret) == f"{secret}" == "Secret(***)"
    assert repr([secret]) == "[Secret(***)]"
    assert secret.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secrets_never_reach_logs_reprs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [PASSWORD, KEY_0, MNEMONIC, MNEMONIC[5:], "test test", "junk"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    texts = [
        import_private_key(a, PASSWORD, Secret(KEY_0), scrypt_n=N),
        import_mnemonic(b, Secret(PASSWORD), Secret(MNEMONIC), index=1, scrypt_n=N),
    ]
    account = unlock(a, PASSWORD)
    texts += [repr(account), str(account), a.read_text(), b.read_text()]
    for call in (
        lambda: unlock(a, PASSWORD + "x"),
        lambda: import_private_key(a, PASSWORD, KEY_0, scrypt_n=N),
        lambda: import_mnemonic(tmp_path / "c.json", PASSWORD, MNEMONIC[5:], scrypt_n=N),
    ):
        with pytest.raises(KeystoreError) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    assert "keystore created" in caplog.text  # logging did happen ...
    assert_no_secret("\n".join([caplog.text, *texts]), *secrets)  # ... without secrets


def test_cli_new_import_verify_and_address_print_only_address_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTCMM_SCRYPT_N", str(N))
    monkeypatch.delenv("OTCMM_KEYSTORE_PASSWORD", raising=False)
    pw, key, words = tmp_path / "pw", tmp_path / "key", tmp_path / "words"
    pw.write_text(PASSWORD + "\n")
    key.write_text(KEY_0 + "\n")
    words.write_text(MNEMONIC + "\n")
    new, k, m = tmp_path / "new.json", tmp_path / "k.json", tmp_path / "m.json"

    assert cli_main(["keystore", "new", str(new), "--password-file", str(pw)]) == 0
    address = keystore_address(new)
    assert capsys.readouterr().out == f"{address} {new}\n"
    assert json.loads(new.read_text())["crypto"]["kdfparams"]["n"] == N

    argv = ["keystore", "import-key", str(k), "--password-file", str(pw), "--key-file", str(key)]
    assert cli_main(argv) == 0
    assert capsys.readouterr().out == f"{ADDRESS_0} {k}\n"

    argv = ["keystore", "import-mnemonic", str(m), "--password-file", str(pw)]
    assert cli_main([*argv, "--mnemonic-file", str(words), "--index", "1"]) == 0
    assert capsys.readouterr().out == f"{ADDRESS_1} {m}\n"

    assert cli_main(["keystore", "verify", str(m), "--password-file", str(pw)]) == 0
    assert capsys.readouterr().out == f"{ADDRESS_1} {m}\n"
    assert cli_main(["keystore", "address", str(k)]) == 0
    assert capsys.readouterr().out == f"{ADDRESS_0}\n"


def test_cli_has_no_argument_for_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["keystore", "import-key", "k.json", "--key", KEY_0])
    with pytest.raises(SystemExit):
        cli_main(["keystore", "new", "k.json", "--password", PASSWORD])
    capsys.readouterr()


def cli_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The keystore CLI as a separate process without a terminal, as in a container."""
    full_env = {"PATH": os.environ.get("PATH", ""), "OTCMM_SCRYPT_N": str(N), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_cli_process_wrong_password_exits_2_with_one_line(tmp_path: Path) -> None:
    ks = tmp_path / "bot.json"
    created = cli_process("keystore", "new", str(ks), env={"OTCMM_KEYSTORE_PASSWORD": PASSWORD})
    assert created.returncode == 0, created.stderr
    assert created.stdout.split() == [keystore_address(ks), str(ks)]

    result = cli_process("keystore", "verify", str(ks), env={"OTCMM_KEYSTORE_PASSWORD": "nope"})
    assert result.returncode == 2
    assert result.stderr == f"otcmm: error: wrong password for keystore {ks}\n"
    assert result.stdout == ""

    missing = cli_process("keystore", "verify", str(ks))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert len(missing.stderr.splitlines()) == 1
    assert "no password" in missing.stderr
