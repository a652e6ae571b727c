"""Reading the TOML files users write (bot configs, seed plans, the network file).

One place decides how a missing, unreadable or malformed file is reported: one line naming the
file and what is wrong (with TOML's own line and column), never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bots.errors import ConfigError


def read_toml(path: Path, what: str, shown: str | None = None) -> dict[str, Any]:
    """The parsed file; `what` names it in errors ("config file"), `shown` overrides its path.

    Raises `ConfigError` (one line) when the file is missing, unreadable (a directory, no
    permission), not UTF-8 or not valid TOML.
    """
    name = shown or str(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {name}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}): "
            "TOML files are UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {name}: {exc.strerror}") from None
