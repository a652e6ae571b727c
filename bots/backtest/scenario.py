"""The scenario file: market, price path, bots under test, counter-flow, clock and sweep.

Validated at the door like a bot config: frozen pydantic models with ``extra="forbid"``, every
problem reported as one line (``file: where: what``) and `ConfigError` (exit 2) before any chain
starts. Strategy params are checked by each strategy's own model, as `otcmm run` checks them.
Amounts are integers in base units, as in bot configs; prices are quote per whole base token.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bots.backtest.flows import NAME_PATTERN, FlowSpec, Inventory, flow_strategy
from bots.backtest.optspec import OptimizeSpec
from bots.errors import ConfigError
from bots.feeds.pricefile import LAST_TIMESTAMP
from bots.numbers import count
from bots.tick.limits import ReconcileConfig, RiskLimits
from bots.tomlfile import read_toml
from strategies.api import StrategyConfigError
from strategies.registry import build_strategy

SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,11}$"
DEFAULT_START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # a Monday morning, for synthetic paths
DEFAULT_INTERVAL_S = 60
MAX_SWEEP_PARAMS = 2
# Keys of a bot that `--sweep strategy.params.x=...` may name without `bots.<name>.` in front.
_BOT_KEYS = ("strategy", "inventory", "feed_lag_steps", "risk", "reconcile")

Scalar = int | float | str | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetSpec(_Model):
    """One AssetToken the backtest deploys."""

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    name: str | None = None
    decimals: int = Field(ge=0, le=18)


class MarketSpec(_Model):
    base: AssetSpec
    quote: AssetSpec
    gas_cost_per_mgas: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=10**12,
        allow_inf_nan=False,
        description="Quote tokens a million gas costs you: the chain charges gas in its native"
        " coin, which has no quote price, so this is an assumption for the net P&L (0: ignore).",
    )

    @model_validator(mode="after")
    def _distinct(self) -> MarketSpec:
        if self.base.symbol == self.quote.symbol:
            raise ValueError("base and quote need different symbols")
        return self


class CsvPath(_Model):
    """A recorded path: rows of ``timestamp,price``; each row is one step at its timestamp."""

    kind: Literal["csv"]
    file: Path


class _Diffusion(_Model):
    start: Decimal = Field(gt=0, le=10**30, allow_inf_nan=False, description="Price at step 0.")
    drift: float = Field(default=0.0, ge=-10, le=10, description="Annualised drift.")
    volatility: float = Field(ge=0, le=20, description="Annualised volatility of log prices.")
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Default: the scenario's seed."
    )


class GbmPath(_Diffusion):
    """Geometric Brownian motion."""

    kind: Literal["gbm"]


class JumpPath(_Diffusion):
    """Merton jump diffusion: GBM plus Poisson jumps of normal log size, drift-compensated."""

    kind: Literal["jump"]
    jump_intensity: float = Field(ge=0, le=1e6, description="Expected jumps per year.")
    jump_mean: float = Field(default=0.0, ge=-1, le=1, description="Mean log jump size.")
    jump_std: float = Field(default=0.02, ge=0, le=1, description="Std dev of log jump size.")


PathSpec = Annotated[CsvPath | GbmPath | JumpPath, Field(discriminator="kind")]


class StrategySpec(_Model):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class BotSpec(_Model):
    """A bot under test: any strategy, ticked through the normal pipeline."""

    name: str = Field(pattern=NAME_PATTERN)
    strategy: StrategySpec
    inventory: Inventory = Inventory()
    feed_lag_steps: int = Field(
        default=1, ge=0, le=10_000, description="Its feed shows the price this many steps old."
    )
    risk: RiskLimits = RiskLimits()
    reconcile: ReconcileConfig = ReconcileConfig()


class Scenario(_Model):
    """One backtest. Synthetic paths need `steps`; a csv path takes its clock from the file."""

    name: str = Field(default="backtest", pattern=NAME_PATTERN)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    steps: int | None = Field(default=None, gt=0, le=1_000_000)
    block_interval_s: int | None = Field(default=None, gt=0, le=86_400 * 366)
    start_time: datetime | None = None
    markout_steps: int = Field(default=5, gt=0, le=100_000)
    blocks: Literal["shared", "per_tx"] = Field(
        default="shared",
        description="shared: every agent's transaction of a step goes into the step's one block,"
        " in a seeded order, as bots on a live chain share blocks (a re-quote can race a take);"
        " per_tx: each transaction mined alone at once, in tick order (no such races).",
    )
    market: MarketSpec
    path: PathSpec
    bots: tuple[BotSpec, ...] = Field(min_length=1)
    flow: tuple[FlowSpec, ...] = ()
    sweep: dict[str, list[Scalar]] = Field(default_factory=dict)
    optimize: OptimizeSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [agent.name for agent in (*self.bots, *self.flow)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique: {', '.join(duplicates)}")
        if isinstance(self.path, CsvPath):
            if self.block_interval_s is not None or self.start_time is not None:
                raise ValueError(
                    "a csv path takes its step times from the file: drop block_interval_s "
                    "and start_time"
                )
        elif self.steps is None:
            raise ValueError("steps: a synthetic path needs a number of steps")
        else:
            first = self.start.timestamp()
            last = first + self.steps * self.interval_s
            if first < 0 or last > LAST_TIMESTAMP:
                raise ValueError(
                    "start_time: the run's block times must lie in 1970 .. 9999 (anvil and the "
                    f"report count unix seconds); it spans {self.start.isoformat()} + "
                    f"{self.steps:,} x {self.interval_s:,} s"
                )
        if len(self.sweep) > MAX_SWEEP_PARAMS or any(not v for v in self.sweep.values()):
            raise ValueError("sweep: one or two parameters, each with at least one value")
        return self

    @property
    def interval_s(self) -> int:
        return self.block_interval_s or DEFAULT_INTERVAL_S

    @property
    def start(self) -> datetime:
        moment = self.start_time or DEFAULT_START
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_scenario(
    path: Path, overrides: Mapping[str, object] | None = None
) -> tuple[Scenario, dict[str, Any]]:
    """The validated scenario (with `overrides` applied) and the raw TOML it came from."""
    raw = read_toml(path, "scenario file")
    return scenario_from_raw(raw, path, overrides or {}), raw


def scenario_from_raw(
    raw: Mapping[str, Any], path: Path, overrides: Mapping[str, object]
) -> Scenario:
    """Apply dotted-key `overrides` to the raw file, validate, and resolve relative paths."""
    data = copy.deepcopy(dict(raw))
    for key, value in overrides.items():
        set_dotted(data, key, value)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_error_lines(path, exc, data, overrides))) from None
    problems = _strategy_problems(scenario, path)
    if problems:
        raise ConfigError("\n".join(problems))
    if isinstance(scenario.path, CsvPath) and not scenario.path.file.is_absolute():
        rebased = scenario.path.model_copy(update={"file": path.parent / scenario.path.file})
        scenario = scenario.model_copy(update={"path": rebased})
    return scenario


def _error_lines(
    path: Path, exc: ValidationError, data: Mapping[str, Any], overrides: Mapping[str, object]
) -> list[str]:
    """One line per problem: agents by name (`bots.mm`, not `bots.0`), a value given with
    `--set` blamed on it, and no "at least 1 item" echo of an agent that failed itself."""
    errors = exc.errors()
    failed_inside = {err["loc"][0] for err in errors if len(err["loc"]) > 1}
    lines = []
    for err in errors:
        loc = err["loc"]
        if err["type"] == "too_short" and len(loc) == 1 and loc[0] in failed_inside:
            continue
        where = _named(loc, data) or "(file)"
        source = next(
            (f"--set {key}" for key in overrides if where == key or where.endswith(f".{key}")),
            str(path),
        )
        lines.append(f"{source}: {where}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def _named(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """`loc` as a dotted key, an agent's index replaced by its name and a flow's kind tag
    (pydantic's union branch) dropped."""
    parts = [str(part) for part in loc]
    if len(loc) > 1 and loc[0] in ("bots", "flow") and isinstance(loc[1], int):
        agents = data.get(str(loc[0]))
        agent = agents[loc[1]] if isinstance(agents, list) and loc[1] < len(agents) else None
        if isinstance(agent, Mapping):
            if isinstance(agent.get("name"), str):
                parts[1] = agent["name"]
            if len(parts) > 2 and parts[2] == agent.get("kind"):
                del parts[2]
    return ".".join(parts)


def _strategy_problems(scenario: Scenario, path: Path) -> list[str]:
    """Every strategy's params checked by its own model, one line per bad field."""
    specs = [(f"bots.{b.name}", b.strategy.name, b.strategy.params) for b in scenario.bots]
    specs += [(f"flow.{f.name}", *flow_strategy(scenario.seed, f)) for f in scenario.flow]
    problems = []
    for where, name, params in specs:
        try:
            build_strategy(name, params)
        except StrategyConfigError as exc:
            lines = str(exc).replace("Value error, ", "").splitlines()
            problems += [f"{path}: {where}: {line}" for line in lines]
    return problems


def set_dotted(data: dict[str, Any], key: str, value: object) -> None:
    """Set `key` (``a.b.c``) in the raw scenario; in `bots`/`flow` a segment names an agent.

    ``strategy.params.x`` is short for ``bots.<name>.strategy.params.x`` when there is exactly
    one bot under test.
    """
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"--sweep/--set {key}: empty segment in the key")
    if parts[0] in _BOT_KEYS:
        parts = ["bots", _only_bot(data, key), *parts]
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, key, depth == 0)
    if not isinstance(node, dict):
        raise ConfigError(f"--sweep/--set {key}: {parts[-2]} is not a table")
    node[parts[-1]] = value


def _only_bot(data: Mapping[str, Any], key: str) -> str:
    bots = data.get("bots")
    names = [b.get("name") for b in bots if isinstance(b, dict)] if isinstance(bots, list) else []
    if len(names) != 1 or not isinstance(names[0], str):
        raise ConfigError(
            f"--sweep/--set {key}: the scenario has {count(len(names), 'bot')}; say which: "
            f"bots.<name>.{key}"
        )
    return names[0]


def _child(node: Any, part: str, key: str, top: bool) -> Any:
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and item.get("name") == part:
                return item
        raise ConfigError(f"--sweep/--set {key}: no agent named {part!r}")
    if not isinstance(node, dict):
        raise ConfigError(f"--sweep/--set {key}: cannot descend into {part!r}")
    if part not in node:
        if top and part in ("bots", "flow"):
            raise ConfigError(f"--sweep/--set {key}: the scenario has no {part}")
        node[part] = {}
    return node[part]


def parse_value(text: str) -> Scalar:
    """A command-line value as TOML reads it (``40`` int, ``0.5`` float, ``true``), else text."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, int | float | str | bool) else text


def parse_assignments(items: Sequence[str], flag: str) -> dict[str, list[Scalar]]:
    """``KEY=V1,V2`` items (of `flag`) as {key: [values]}; a bad item, or a key given twice, is
    a `ConfigError`."""
    result: dict[str, list[Scalar]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE[,VALUE...]")
        if key in result:
            raise ConfigError(f"{flag} {key}: given twice; give each key once")
        result[key] = [parse_value(v.strip()) for v in values.split(",")]
    return result


def canonical_key(raw: Mapping[str, Any], key: str) -> str:
    """`key` with the single-bot shorthand spelled out (``strategy.x`` is
    ``bots.<name>.strategy.x``), so two spellings of one value compare equal."""
    parts = key.split(".")
    if parts[0] in _BOT_KEYS:
        try:
            return f"bots.{_only_bot(raw, key)}.{key}"
        except ConfigError:
            return key  # set_dotted reports it when the key is used
    return key


def refuse_duplicates(raw: Mapping[str, Any], keys: Sequence[tuple[str, str]]) -> None:
    """Refuse two (flag, key) pairs naming the same scenario value, however spelled."""
    seen: dict[str, tuple[str, str]] = {}
    for flag, key in keys:
        canonical = canonical_key(raw, key)
        if canonical in seen:
            first_flag, first_key = seen[canonical]
            raise ConfigError(
                f"{flag} {key}: the same value as {first_flag} {first_key}; give each key once"
            )
        seen[canonical] = (flag, key)
