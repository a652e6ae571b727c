"""Where a bot config's overrides come from, and whose fault a bad value is.

Settings come from the TOML file, `OTCMM_*` environment variables (nested with `__`) and files
in the secrets directory (`$OTCMM_SECRETS_DIR`, else `/run/secrets/otcmm` when present). A bad
value is reported against its source: `$OTCMM_RISK__MAX_OPEN_OFFERS: risk.max_open_offers: ...`
rather than blaming a config file that does not contain it. Values are never quoted: an
environment variable or a mounted secret may hold credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from bots.errors import ConfigError
from strategies.api import StrategyConfigError

ENV_PREFIX = "OTCMM_"
SECRETS_DIR_ENV = "OTCMM_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets/otcmm")


def secrets_dir() -> Path | None:
    """`$OTCMM_SECRETS_DIR` (must be a directory), else the Kubernetes default when present."""
    configured = os.environ.get(SECRETS_DIR_ENV)
    if configured:
        directory = Path(configured)
        if not directory.is_dir():
            what = "does not exist" if not directory.exists() else "is not a directory"
            raise ConfigError(f"${SECRETS_DIR_ENV}: {directory} {what}")
        return directory
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


def refuse_secret_dirs(secrets: Path | None, fields: Iterable[str]) -> None:
    """`ConfigError` naming the first `otcmm_<field>` entry of the secrets directory that is a
    directory: pydantic-settings would only warn (two lines) and ignore it, so a value the
    operator mounted would silently not apply."""
    if secrets is None:
        return
    names = {f"{ENV_PREFIX.lower()}{field.lower()}" for field in fields}
    try:
        entries = sorted(secrets.iterdir())
    except OSError as exc:
        raise ConfigError(f"{secrets}: cannot list it: {exc.strerror}") from None
    for entry in entries:
        if entry.name.lower() in names and entry.is_dir():
            raise ConfigError(
                f"{entry}: is a directory; the secret of {entry.name[len(ENV_PREFIX) :]} "
                "must be a file"
            )


def _env_name(loc: tuple[str | int, ...]) -> str | None:
    """The `OTCMM_*` variable that set the value at `loc` (or a table above it), if any."""
    present = {key.upper(): key for key in os.environ}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(str(part) for part in loc[:depth]).upper()
        if name in present:
            return present[name]
    return None


def _secret_file(loc: tuple[str | int, ...], secrets: Path | None) -> Path | None:
    """The secrets-directory file that set the top-level field of `loc`, if any."""
    if secrets is None or not loc:
        return None
    candidate = secrets / f"{ENV_PREFIX.lower()}{str(loc[0]).lower()}"
    return candidate if candidate.is_file() else None


def source(path: Path, loc: tuple[str | int, ...], secrets: Path | None) -> str:
    """Who gave the value at `loc`: `$OTCMM_X`, a secrets file, else the config file."""
    env = _env_name(loc)
    if env is not None:
        return f"${env}"
    secret = _secret_file(loc, secrets)
    return str(secret) if secret is not None else str(path)


def problems(path: Path, exc: ValidationError, secrets: Path | None) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(file)"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source(path, err['loc'], secrets)}: {where}: {message}")
    return "\n".join(lines)


def strategy_problems(path: Path, exc: StrategyConfigError, secrets: Path | None) -> str:
    """The strategy's own complaints (`strategies.registry.build_strategy`), each against the
    source of the value: `$OTCMM_STRATEGY__PARAMS__SPREAD_BPS`, a secrets file or the file."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError):  # an unknown strategy or a broken plug-in
        return f"{source(path, ('strategy', 'name'), secrets)}: {exc}"
    lines = []
    for err, line in zip(cause.errors(), str(exc).splitlines(), strict=False):
        lines.append(f"{source(path, ('strategy', 'params', *err['loc']), secrets)}: {line}")
    return "\n".join(lines)


_FIELD = re.compile(r'for field "([^"]+)" from source "(\w+)"')


def unreadable_override(exc: SettingsError, secrets: Path | None) -> str:
    """One line for an override pydantic-settings could not even parse (never its value)."""
    match = _FIELD.search(str(exc))
    field, source = match.groups() if match else ("?", "")
    if source.startswith("Secrets") and secrets is not None:
        file = secrets / f"{ENV_PREFIX.lower()}{field}"
        return f"{file}: cannot read it as the value of {field} (UTF-8 text; JSON for a table)"
    names = sorted(k for k in os.environ if k.upper().startswith(f"{ENV_PREFIX}{field.upper()}"))
    shown = ", ".join(f"${name}" for name in names) or f"${ENV_PREFIX}{field.upper()}"
    return f"{shown}: cannot parse it as the value of {field} (a table must be JSON)"
