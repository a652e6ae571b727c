"""The fleet file (`k8s/fleet.toml`): which bots run in the cluster, and with what resources.

A bot's strategy lives in its own TOML file; the fleet names that file, the Secret holding the
bot's keystore, and its sizing. Two bots sharing a keystore Secret is refused here: two pods
must never sign with one key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bots.errors import ConfigError
from bots.tomlfile import read_toml

Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$")]
DnsName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sizing(_Model):
    """Resources and shutdown budget; every field may be overridden per bot."""

    cpu_request: Quantity | None = None
    memory_request: Quantity | None = None
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None
    state_size: Quantity | None = None
    termination_grace_period_s: int | None = Field(default=None, ge=30, le=3600)


class BotEntry(Sizing):
    """One bot: its strategy file and the Secret with its `keystore.json` and `password`."""

    config: Path
    keystore_secret: DnsName
    env_secret: DnsName | None = None
    """Optional Secret whose keys become environment variables (e.g. a feed URL with an API key)."""


class Fleet(_Model):
    rpc_url: str = Field(pattern=r"^https?://")
    seed_plan: Path
    chainspec: Path
    defaults: Sizing
    bots: dict[DnsName, BotEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_key_per_bot(self) -> Fleet:
        owners: dict[str, str] = {}
        for name, bot in sorted(self.bots.items()):
            other = owners.setdefault(bot.keystore_secret, name)
            if other != name:
                raise ValueError(f"bots {other} and {name} share {bot.keystore_secret}")
        return self

    def sizing(self, bot: BotEntry) -> dict[str, Any]:
        """The bot's own sizing over the defaults; every field must end up set."""
        own = bot.model_dump(include=set(Sizing.model_fields), exclude_none=True)
        merged = self.defaults.model_dump() | own
        missing = sorted(key for key, value in merged.items() if value is None)
        if missing:
            raise ConfigError(f"fleet: set {', '.join(missing)} in [defaults] or per bot")
        return merged


def load_fleet(path: Path) -> Fleet:
    """Read and validate the fleet file; `ConfigError` with one line per problem."""
    data = read_toml(path, "fleet file")
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        lines = (f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError("\n".join(lines)) from None
