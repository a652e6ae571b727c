"""What `otcmm run` needs before it touches the chain, checked by `run` and by `run --check`.

`--check` must not pass a config that `run` then refuses: besides the config itself (loaded by
`bots.service.config`), the keystore must unlock with its password (the password file exists
and can be read, or `$OTCMM_KEYSTORE_PASSWORD` is set) and every csv feed's file must parse.
The chain-side checks (chain id, contracts) need the node and are made by `run` at start-up.
"""

from __future__ import annotations

import os

from eth_account.signers.local import LocalAccount

from bots.chain.keystore import PASSWORD_ENV, read_password, unlock
from bots.errors import ConfigError, KeystoreError
from bots.feeds.sources import CsvFeed, FeedError
from bots.feeds.spec import CsvSpec
from bots.service.config import BotConfig


def unlock_account(config: BotConfig) -> LocalAccount:
    """The bot's signing account; `KeystoreError` (exit 2) naming the setting that is missing."""
    keystore = config.keystore
    if keystore.password_file is None and not os.environ.get(PASSWORD_ENV):
        raise KeystoreError(
            f"no password for keystore {keystore.path}: set keystore.password_file in the "
            f"config or ${PASSWORD_ENV}"
        )
    password = read_password(password_file=keystore.password_file, prompt=False)
    return unlock(keystore.path, password)


def preflight(config: BotConfig) -> LocalAccount:
    """Unlock the keystore and read every csv feed; `ConfigError` listing each problem.

    Returns the unlocked account (`run` goes on with it). Raises `ConfigError` (exit 2) with
    one line per problem: the keystore or its password, then each unreadable price file.
    """
    problems: list[str] = []
    account: LocalAccount | None = None
    try:
        account = unlock_account(config)
    except KeystoreError as exc:
        problems.append(str(exc))
    for where, spec in (("feed", config.feed), *_fallbacks(config)):
        if isinstance(spec, CsvSpec):
            try:
                CsvFeed(spec.path)
            except FeedError as exc:
                problems.append(f"{where}: {exc}")
    if problems or account is None:
        raise ConfigError("\n".join(problems))
    return account


def _fallbacks(config: BotConfig) -> list[tuple[str, object]]:
    return [(f"fallback_feeds.{i}", spec) for i, spec in enumerate(config.fallback_feeds)]
