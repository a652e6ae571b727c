"""Encrypted key storage for a bot: Web3 Secret Storage v3 JSON files (scrypt).

otcmm writes scrypt files; it unlocks any v3 file eth-account decrypts, whoever wrote it (geth's
``Crypto``, pbkdf2, no ``address`` member: the address is then derived from the key).

Each bot owns one keystore in its own container; the key is decrypted in memory only and never
leaves the process. Secret material (password, private key, mnemonic) travels inside `Secret`,
whose `repr`/`str` are masked, and every error raised here is a one-line `KeystoreError` that
names the file but never the secret. Underlying library errors are raised `from None` because
eth-account echoes mnemonics and keys in its own messages.

The scrypt cost `n` is recorded in each file, so a keystore written with a light `n` (tests,
dev) still decrypts; production keystores use `DEFAULT_SCRYPT_N` and must never be lowered.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from bots.chain.hdwallet import DEFAULT_ACCOUNT_PATH as DEFAULT_ACCOUNT_PATH  # re-exported
from bots.chain.hdwallet import account_from_mnemonic, derivation_path
from bots.errors import KeystoreError

log = logging.getLogger(__name__)

DEFAULT_SCRYPT_N = 2**18
"""Production scrypt cost (geth's "standard" setting): ~1 s and 256 MiB to unlock once."""

PASSWORD_ENV = "OTCMM_KEYSTORE_PASSWORD"  # noqa: S105 - a variable name, not a password

_KEY_HEX = re.compile(r"(0x)?[0-9a-fA-F]{64}")


class Secret:
    """A password, private key or mnemonic that must not leak through logs or tracebacks.

    `repr` and `str` are masked, so an accidental f-string or a logged local shows
    `Secret(***)`; only `reveal()` returns the value, at the point it is handed to the crypto.
    Pickling is refused so a secret cannot be shipped to another process by mistake.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value; call only where it is consumed, never to log or format it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values cannot be pickled")


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _check_scrypt_n(scrypt_n: int) -> None:
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise KeystoreError(f"scrypt n must be a power of two >= 2, got {scrypt_n}")


def _write_new_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, mode 0600 from the first byte, never clobbering.

    The temp file is created with O_EXCL and 0600 so the ciphertext is never briefly world
    readable; `os.link` publishes it atomically and fails if `path` appeared meanwhile. On
    filesystems without hard links it falls back to `os.replace` after an existence check.
    """
    if path.exists():
        raise KeystoreError(f"keystore already exists, refusing to overwrite: {path}")
    if not path.parent.is_dir():
        raise KeystoreError(f"directory does not exist: {path.parent}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _publish(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise KeystoreError(f"keystore already exists, refusing to overwrite: {path}") from None
    except OSError:
        if path.exists():
            raise KeystoreError(f"keystore already exists, refusing to overwrite: {path}") from None
        os.replace(tmp, path)


def _store(path: Path, password: Secret, account: LocalAccount, scrypt_n: int) -> str:
    _check_scrypt_n(scrypt_n)
    if not password.reveal():
        raise KeystoreError("empty password refused for a new keystore")
    keyfile = Account.encrypt(account.key, password.reveal(), kdf="scrypt", iterations=scrypt_n)
    _write_new_file(path, json.dumps(keyfile, indent=2) + "\n")
    address = str(account.address)
    log.info("keystore created: address=%s path=%s", address, path)
    return address


def create_keystore(
    path: Path,
    password: str | Secret,
    *,
    private_key: bytes | None = None,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> str:
    """Encrypt `private_key` (or a fresh random key) into a new keystore; return its address.

    Refuses to overwrite an existing file: losing a funded key to a typo is unrecoverable.
    """
    if private_key is None:
        account: LocalAccount = Account.create()
    else:
        account = _account_from_key_bytes(private_key)
    return _store(path, _secret(password), account, scrypt_n)


def _account_from_key_bytes(private_key: bytes) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(private_key)
    except Exception:  # eth-keys raises ValueError/ValidationError variants
        raise KeystoreError("invalid private key: not a valid secp256k1 key") from None
    return account


def import_private_key(
    path: Path,
    password: str | Secret,
    key_hex: str | Secret,
    *,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> str:
    """Store an existing hex private key (64 hex digits, optional 0x) in a new keystore."""
    text = _secret(key_hex).reveal().strip()
    if not _KEY_HEX.fullmatch(text):
        raise KeystoreError("invalid private key: expected 32 bytes as 64 hex digits")
    account = _account_from_key_bytes(bytes.fromhex(text.removeprefix("0x")))
    return _store(path, _secret(password), account, scrypt_n)


def import_mnemonic(
    path: Path,
    password: str | Secret,
    mnemonic: str | Secret,
    *,
    account_path: str = DEFAULT_ACCOUNT_PATH,
    index: int | None = None,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> str:
    """Derive one account from a BIP-39 mnemonic and store only that key in a new keystore.

    The mnemonic itself is not stored: a bot needs one key, and a leaked keystore then exposes
    one account rather than every account of the wallet.
    """
    hd_path = derivation_path(account_path, index)
    account = account_from_mnemonic(_secret(mnemonic).reveal(), hd_path)
    return _store(path, _secret(password), account, scrypt_n)


def _load(path: Path) -> dict[str, Any]:
    """The keystore's JSON, checked to be Web3 Secret Storage v3 as eth-account reads it.

    Key names are matched case-insensitively (geth and older wallets write ``Crypto``) and a
    UTF-8 byte-order mark is skipped; ``address`` is optional in v3 and may be missing.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise KeystoreError(f"keystore not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise KeystoreError(f"not a v3 keystore: {path}")
    fields = {str(key).lower(): value for key, value in data.items()}
    if fields.get("version") == 4:
        raise KeystoreError(
            f"not a v3 keystore: {path} is EIP-2335 (version 4), a BLS validator key, no account"
        )
    if not (fields.get("version") == 3 and isinstance(fields.get("crypto"), dict)):
        raise KeystoreError(f"not a v3 keystore: {path}")
    address = fields.get("address")
    if address is not None and not isinstance(address, str):
        raise KeystoreError(f"not a v3 keystore (bad address field): {path}")
    return data


def _recorded_address(path: Path, data: dict[str, Any]) -> str | None:
    """The checksum address the file records, or None when it records none."""
    address = {str(k).lower(): v for k, v in data.items()}.get("address")
    if address is None:
        return None
    try:
        return str(to_checksum_address("0x" + address.removeprefix("0x")))
    except ValueError:
        raise KeystoreError(f"not a v3 keystore (bad address field): {path}") from None


def keystore_address(path: Path) -> str:
    """The checksum address recorded in a keystore, read without the password.

    `KeystoreError` when the file records none (the member is optional in v3): only the key,
    unlocked with the password (`otcmm keystore verify`), tells the address then.
    """
    address = _recorded_address(path, _load(path))
    if address is None:
        raise KeystoreError(
            f"keystore {path} does not record its address: `otcmm keystore verify` derives it"
            " with the password"
        )
    return address


def unlock(path: Path, password: str | Secret) -> LocalAccount:
    """Decrypt the keystore at `path` into a signing account held only in this process.

    Any v3 file eth-account decrypts unlocks: scrypt or pbkdf2, any key-name case, with or
    without ``address`` (derived from the key when missing, checked against it when present).
    """
    data = _load(path)
    try:
        key = Account.decrypt(data, _secret(password).reveal())
    except Exception as exc:  # eth-keyfile raises ValueError, TypeError, KeyError variants
        if "MAC mismatch" in str(exc):
            raise KeystoreError(f"wrong password for keystore {path}") from None
        raise KeystoreError(f"cannot decrypt keystore {path}: {type(exc).__name__}") from None
    account: LocalAccount = Account.from_key(key)
    recorded = _recorded_address(path, data)
    if recorded is not None and account.address != recorded:
        raise KeystoreError(f"keystore {path} is corrupt: address does not match the key")
    return account


def read_password(
    *,
    password_file: Path | None,
    env_var: str | None = PASSWORD_ENV,
    prompt: bool,
    confirm: bool = False,
) -> Secret:
    """The keystore password from a file, else `$env_var`, else a terminal prompt.

    A file (a mounted Kubernetes secret) wins; one trailing newline is stripped since editors
    and `echo` add it, but other whitespace is part of the password. An empty env var counts as
    unset. `confirm=True` means the password is for a new keystore: the prompt asks twice and an
    empty password is refused from any source.
    """
    if password_file is not None:
        password = _read_password_file(password_file)
    elif env_var and os.environ.get(env_var):
        password = Secret(os.environ[env_var])
    elif prompt and sys.stdin.isatty():
        password = _prompt_password(confirm)
    else:
        raise KeystoreError(
            f"no password: use --password-file, ${env_var or PASSWORD_ENV} or a terminal"
        )
    if confirm and not password.reveal():
        raise KeystoreError("empty password refused for a new keystore")
    return password


def _read_password_file(path: Path) -> Secret:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"password file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read password file {path}: {type(exc).__name__}") from None
    for newline in ("\r\n", "\n"):
        if text.endswith(newline):
            return Secret(text.removesuffix(newline))
    return Secret(text)


def _prompt_password(confirm: bool) -> Secret:
    first = getpass.getpass("Keystore password: ")
    if confirm and getpass.getpass("Repeat password: ") != first:
        raise KeystoreError("passwords do not match")
    return Secret(first)
