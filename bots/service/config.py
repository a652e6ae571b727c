"""A bot's configuration: a TOML file, `OTCMM_*` environment overrides and a secrets directory.

Precedence, highest first: environment (`OTCMM_RPC_URL`, nested with `__`:
`OTCMM_RISK__MAX_GAS_PRICE_WEI`), then files in the secrets directory (Kubernetes mounts a
Secret as one file per key: `otcmm_rpc_url`, `otcmm_keystore__password_file`), then the TOML
file. Every problem is reported, one line each, before the bot touches the chain: a typo in a
risk limit must stop the bot, not quietly fall back to a default. Every number is bounded and
finite (`inf`, `nan` or `1e999999` is refused), so no setting can switch a guard off by accident.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bots.addresses import checked_address
from bots.errors import ConfigError
from bots.feeds.spec import FeedSpec
from bots.market.deployment import MAX_CHAIN_ID
from bots.service import overrides
from bots.service.overrides import ENV_PREFIX
from bots.tick.limits import ReconcileConfig, RiskLimits
from bots.tomlfile import read_toml
from strategies.api import Strategy, StrategyConfigError
from strategies.registry import build_strategy

_SYMBOL = re.compile(r"[A-Za-z0-9]{1,11}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeystoreConfig(_Section):
    """Where the bot's own key lives. The password comes from `password_file` (a mounted
    Secret) or `$OTCMM_KEYSTORE_PASSWORD`; it is never part of the config itself."""

    path: Path
    password_file: Path | None = None


class StrategyConfig(_Section):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class RpcConfig(_Section):
    """How hard the bot tries one JSON-RPC call (see `bots.chain.rpc.RetryingHTTPProvider`):
    each HTTP attempt waits `timeout_s`; a failure or malformed answer is retried after
    `backoff_s`, doubling, at most `retries` times; `deadline_s` (optional) bounds one call
    with all its retries, so a tick never blocks on one call for longer."""

    timeout_s: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    retries: int = Field(default=5, ge=0, le=100)
    backoff_s: float = Field(default=0.25, ge=0, le=600, allow_inf_nan=False)
    deadline_s: float | None = Field(default=None, gt=0, le=3_600, allow_inf_nan=False)


class RuntimeConfig(_Section):
    cancel_on_exit: bool = True
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Loopback unless set: /metrics shows inventory and P&L. Containers set"
        " 0.0.0.0 so the kubelet's probes reach it.",
    )
    metrics_port: int | None = Field(default=9100, ge=0, le=65535)
    state_dir: Path | None = Field(
        default=None,
        description="Account lock, kill-switch record and price anchor; default: the journal's"
        " directory, else <temp dir>/otcmm.",
    )
    unready_after_failures: int = Field(default=3, ge=1, le=1000)
    tick_timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="No tick blocks longer: RPC calls and receipt waits end by then (a pending"
        " transaction is held). Default: twice tick_interval_s, at least 10 s.",
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    journal: Path | None = None
    journal_max_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        le=1 << 30,
        description="Rewrite the journal with only its open entries once it grows past this.",
    )
    receipt_timeout_s: float = Field(default=60.0, gt=0, le=3_600, allow_inf_nan=False)
    stuck_after_s: float | None = Field(default=30.0, gt=0, le=86_400, allow_inf_nan=False)
    shutdown_timeout_s: float = Field(default=60.0, gt=0, le=3_600, allow_inf_nan=False)


class BotConfig(BaseSettings):
    """One bot: one keystore, one strategy, one market pair."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    rpc_url: str
    chain_id: int | None = Field(default=None, gt=0, le=MAX_CHAIN_ID)
    deployment: Path | None = None
    market: str = ""
    base: str
    quote: str
    base_decimals: int | None = Field(
        default=None,
        ge=0,
        le=77,
        description="Needed for a base token without decimals(); set, it pins the decimals.",
    )
    quote_decimals: int | None = Field(
        default=None,
        ge=0,
        le=77,
        description="Needed for a quote token without decimals(); set, it pins the decimals.",
    )
    fleet: tuple[str, ...] = ()
    tick_interval_s: float = Field(default=5.0, gt=0, le=86_400, allow_inf_nan=False)
    keystore: KeystoreConfig
    strategy: StrategyConfig
    feed: FeedSpec
    fallback_feeds: tuple[FeedSpec, ...] = ()
    risk: RiskLimits = RiskLimits()
    reconcile: ReconcileConfig = ReconcileConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    rpc: RpcConfig = RpcConfig()

    @field_validator("market")
    @classmethod
    def _checksummed(cls, value: str) -> str:
        return _address(value) if value else value

    @field_validator("base", "quote")
    @classmethod
    def _address_or_symbol(cls, value: str) -> str:
        if value.startswith("0x"):
            return _address(value)
        if not _SYMBOL.fullmatch(value):
            raise ValueError(f"{value!r} is neither an address nor an asset symbol")
        return value

    @field_validator("fleet")
    @classmethod
    def _fleet_checksummed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)

    @field_validator("rpc_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; they rank below env and mounted secrets.
        return env_settings, file_secret_settings, init_settings

    def tick_budget_s(self) -> float:
        """How long one tick may block (`runtime.tick_timeout_s` or its default)."""
        configured = self.runtime.tick_timeout_s
        return configured if configured is not None else max(2 * self.tick_interval_s, 10.0)

    def build_strategy(self) -> Strategy[Any]:
        try:
            return build_strategy(self.strategy.name, self.strategy.params)
        except StrategyConfigError as exc:
            raise ConfigError(str(exc)) from None


def _address(value: str) -> str:
    return checked_address(value)


def load_config(path: Path, *, secrets_dir: Path | None = None) -> BotConfig:
    """Read, merge and validate a bot config; raise `ConfigError` with one line per problem.

    Each problem names where the bad value came from: the file, the environment variable
    (`$OTCMM_RISK__MAX_OPEN_OFFERS`) or the secrets directory's file. Relative paths in the
    file (keystore, password file, journal, csv feeds) are relative to the file's directory, so
    a config and its keystore can be moved together.
    """
    data = read_toml(path, "config file")
    secrets = secrets_dir or overrides.secrets_dir()
    overrides.refuse_secret_dirs(secrets, BotConfig.model_fields)
    try:
        config = BotConfig(**data, _secrets_dir=secrets)
        # Bad strategy params must fail at load time, not at tick 1.
        build_strategy(config.strategy.name, config.strategy.params)
    except SettingsError as exc:
        raise ConfigError(overrides.unreadable_override(exc, secrets)) from None
    except ValidationError as exc:
        raise ConfigError(overrides.problems(path, exc, secrets)) from None
    except StrategyConfigError as exc:
        raise ConfigError(overrides.strategy_problems(path, exc, secrets)) from None
    except ConfigError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in str(exc).splitlines())) from None
    problems = [f"{path}: {problem}" for problem in _beyond_limits(config)]
    if problems:
        raise ConfigError("\n".join(problems))
    config = _resolve_deployment(_rebase_paths(config, path.parent), path, secrets)
    if config.base.lower() == config.quote.lower():  # symbols are addresses by now
        raise ConfigError(f"{path}: quote: {config.quote} is also the base: a pair needs 2 tokens")
    return config


def _resolve_deployment(config: BotConfig, path: Path, secrets: Path | None) -> BotConfig:
    """Fill the market and turn asset symbols into addresses from the seed job's file."""
    symbols = [key for key in ("base", "quote") if not getattr(config, key).startswith("0x")]
    if config.deployment is None:
        missing = [
            f"{path}: {key}: the symbol {getattr(config, key)!r} needs a deployment file"
            for key in symbols
        ]
        if not config.market:
            missing.append(f"{path}: market: set an address or a deployment file")
        if missing:
            raise ConfigError("\n".join(missing))
        return config
    from bots.market.deployment import load_deployment

    deployment = load_deployment(config.deployment)
    if deployment is None:
        raise ConfigError(f"{path}: deployment: file not found: {config.deployment}")
    update: dict[str, object] = {k: deployment.address_of(getattr(config, k)) for k in symbols}
    if not config.market:
        if deployment.market is None:
            raise ConfigError(
                f"{path}: deployment: {config.deployment} has no market yet: "
                "run the seed job to the end"
            )
        update["market"] = deployment.market
    if config.chain_id is None:
        update["chain_id"] = deployment.chain_id
    elif config.chain_id != deployment.chain_id:
        raise ConfigError(
            f"{overrides.source(path, ('chain_id',), secrets)}: chain_id: {config.chain_id}, "
            f"but {config.deployment} is for chain id "
            f"{deployment.chain_id}: one of them is for another network"
        )
    return config.model_copy(update=update)


def _beyond_limits(config: BotConfig) -> list[str]:
    """Ranges of the tick's own settings that it leaves open: base units and wei fit a uint256,
    tolerances are at most 100%."""
    problems = []
    for section, name, high in _UPPER_BOUNDS:
        value = getattr(getattr(config, section), name)
        if value is not None and value > high:
            problems.append(f"{section}.{name}: Input should be less than or equal to {high}")
    return problems


_UINT256 = 2**256 - 1
_UPPER_BOUNDS = (
    ("risk", "max_base_inventory", _UINT256),
    ("risk", "max_quote_inventory", _UINT256),
    ("risk", "max_gas_price_wei", _UINT256),
    ("risk", "min_gas_balance_wei", _UINT256),
    ("reconcile", "price_bps", 10_000),
    ("reconcile", "size_bps", 10_000),
)


def _rebase_paths(config: BotConfig, base_dir: Path) -> BotConfig:
    def rebase(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base_dir / p

    keystore = config.keystore.model_copy(
        update={
            "path": rebase(config.keystore.path),
            "password_file": rebase(config.keystore.password_file),
        }
    )
    runtime = config.runtime.model_copy(
        update={
            "journal": rebase(config.runtime.journal),
            "state_dir": rebase(config.runtime.state_dir),
        }
    )
    deployment = rebase(config.deployment)
    feeds = [_rebase_feed(spec, base_dir) for spec in (config.feed, *config.fallback_feeds)]
    return config.model_copy(
        update={
            "keystore": keystore,
            "runtime": runtime,
            "deployment": deployment,
            "feed": feeds[0],
            "fallback_feeds": tuple(feeds[1:]),
        }
    )


def _rebase_feed(spec: FeedSpec, base_dir: Path) -> FeedSpec:
    path = getattr(spec, "path", None)
    if isinstance(path, Path) and not path.is_absolute():
        return spec.model_copy(update={"path": base_dir / path})
    return spec
