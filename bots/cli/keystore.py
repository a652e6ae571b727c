"""`otcmm keystore`: create, import, verify and inspect a bot's encrypted keystore.

Secrets are read from files (mounted Kubernetes secrets) or a no-echo terminal prompt, never
from arguments: argv is visible to every user via `ps` and lands in shell history. Commands
print only the address and the keystore path.

`$OTCMM_SCRYPT_N` lowers the scrypt cost for tests and dev chains only (with a warning on
stderr outside pytest); never set it in production, where the default 2**18 is what makes a
stolen keystore expensive to brute-force.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.cli import argtypes
from bots.cli.parser import hide_values
from bots.errors import KeystoreError

if TYPE_CHECKING:  # eth-account loads only when a keystore command runs: `otcmm --help` is quick
    from bots.chain.keystore import Secret

SCRYPT_N_ENV = "OTCMM_SCRYPT_N"
FIRST_ACCOUNT = "m/44'/60'/0'/0/0"  # bots.chain.hdwallet.DEFAULT_ACCOUNT_PATH, for --help


def scrypt_n_from_env() -> int:
    """The scrypt cost: `$OTCMM_SCRYPT_N` (tests/dev only) or the production default.

    A value below the default prints a loud warning on stderr, unless pytest is running (it
    sets `$PYTEST_CURRENT_TEST`): a weak keystore made by mistake must not go unnoticed.
    """
    from bots.chain.keystore import DEFAULT_SCRYPT_N

    raw = os.environ.get(SCRYPT_N_ENV)
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        value = int(raw)
    except ValueError:
        raise KeystoreError(f"${SCRYPT_N_ENV} must be an integer, got {raw!r}") from None
    if value < DEFAULT_SCRYPT_N and not os.environ.get("PYTEST_CURRENT_TEST"):
        weaker = DEFAULT_SCRYPT_N // max(value, 1)
        print(
            f"otcmm: WARNING: ${SCRYPT_N_ENV}={value} makes keystores {weaker:,} times cheaper "
            "to brute-force than the default: for tests only, never for real keys",
            file=sys.stderr,
        )
    return value


def _read_secret(file: Path | None, what: str, option: str) -> Secret:
    """A mnemonic or key from `file` (surrounding whitespace stripped) or a no-echo prompt."""
    from bots.chain.keystore import Secret

    if file is not None:
        try:
            return Secret(file.read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            raise KeystoreError(f"{what} file not found: {file}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeystoreError(f"cannot read {what} file {file}: {type(exc).__name__}") from None
    if sys.stdin.isatty():
        return Secret(getpass.getpass(f"{what.capitalize()}: ").strip())
    raise KeystoreError(f"no {what}: use {option} or a terminal")


def _new_password(args: argparse.Namespace) -> Secret:
    from bots.chain.keystore import read_password

    return read_password(password_file=args.password_file, prompt=True, confirm=True)


def _new_file(path: Path) -> None:
    """`KeystoreError` unless a new keystore can be written at `path`: checked before any
    secret is read or a key derived, so a typo costs nothing."""
    if path.exists():
        raise KeystoreError(f"keystore already exists, refusing to overwrite: {path}")
    if not path.parent.is_dir():
        raise KeystoreError(f"directory does not exist: {path.parent}")
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise KeystoreError(
            f"cannot write in {path.parent}: {exc.strerror or type(exc).__name__}"
        ) from None


def _report(address: str, path: Path) -> int:
    print(f"{address} {path}")
    return 0


def _cmd_new(args: argparse.Namespace) -> int:
    from bots.chain.keystore import create_keystore

    _new_file(args.keystore)
    password = _new_password(args)
    address = create_keystore(args.keystore, password, scrypt_n=scrypt_n_from_env())
    return _report(address, args.keystore)


def _cmd_import_mnemonic(args: argparse.Namespace) -> int:
    from bots.chain.keystore import DEFAULT_ACCOUNT_PATH, import_mnemonic

    _new_file(args.keystore)
    mnemonic = _read_secret(args.mnemonic_file, "mnemonic", "--mnemonic-file")
    password = _new_password(args)
    address = import_mnemonic(
        args.keystore,
        password,
        mnemonic,
        account_path=args.account_path or DEFAULT_ACCOUNT_PATH,
        index=args.index,
        scrypt_n=scrypt_n_from_env(),
    )
    return _report(address, args.keystore)


def _cmd_import_key(args: argparse.Namespace) -> int:
    from bots.chain.keystore import import_private_key

    _new_file(args.keystore)
    key = _read_secret(args.key_file, "private key", "--key-file")
    password = _new_password(args)
    address = import_private_key(args.keystore, password, key, scrypt_n=scrypt_n_from_env())
    return _report(address, args.keystore)


def _cmd_verify(args: argparse.Namespace) -> int:
    from bots.chain.keystore import read_password, unlock

    account = unlock(args.keystore, read_password(password_file=args.password_file, prompt=True))
    return _report(str(account.address), args.keystore)


def _cmd_address(args: argparse.Namespace) -> int:
    from bots.chain.keystore import keystore_address

    print(keystore_address(args.keystore))
    return 0


def _add_common(p: argparse.ArgumentParser, *, password: bool = True) -> None:
    p.add_argument("keystore", type=Path, help="keystore JSON file")
    if password:
        p.add_argument(
            "--password-file",
            type=Path,
            help="file holding the password (one trailing newline ignored); "
            "else $OTCMM_KEYSTORE_PASSWORD, else a prompt",
        )


def _action(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A sub-action parser that never echoes its arguments (`bots.cli.parser.hide_values`).

    Abbreviations are off for every otcmm parser: `--key 0x...` is an unknown option, not
    `--key-file 0x...`, and unknown options of a secret-handling command are not repeated.
    """
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary)
    hide_values(parser)
    return parser


def register(subparsers: Any) -> None:
    """Add `keystore {new,import-mnemonic,import-key,verify,address}` to argparse subparsers.

    `subparsers` is what `ArgumentParser.add_subparsers()` returns (typed `Any` because
    argparse's `_SubParsersAction` is private).
    """
    keystore = subparsers.add_parser("keystore", help="create, import or inspect a keystore")
    hide_values(keystore)
    sub = keystore.add_subparsers(dest="keystore_action", required=True, metavar="ACTION")

    p = _action(sub, "new", "generate a key into a new keystore")
    _add_common(p)
    p.set_defaults(handler=_cmd_new)

    p = _action(sub, "import-mnemonic", "store one BIP-44 account of a mnemonic")
    _add_common(p)
    p.add_argument("--mnemonic-file", type=Path, help="file holding the mnemonic; else a prompt")
    p.add_argument(
        "--path",
        dest="account_path",
        default=None,
        help=f"derivation path (default {FIRST_ACCOUNT})",
    )
    p.add_argument(
        "--index",
        type=argtypes.integer(0, 2**31 - 1),
        help="address index, 0..2^31-1: replaces the path's last component",
    )
    p.set_defaults(handler=_cmd_import_mnemonic)

    p = _action(sub, "import-key", "store a hex private key in a new keystore")
    _add_common(p)
    p.add_argument("--key-file", type=Path, help="file holding the hex key; else a prompt")
    p.set_defaults(handler=_cmd_import_key)

    p = _action(sub, "verify", "check that the password unlocks the keystore")
    _add_common(p)
    p.set_defaults(handler=_cmd_verify)

    p = _action(sub, "address", "print a keystore's address (no password needed)")
    _add_common(p, password=False)
    p.set_defaults(handler=_cmd_address)
