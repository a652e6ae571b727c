"""The scenario's `[optimize]` table: what `otcmm backtest --optimize` searches, and for what.

```toml
[optimize]
trials = 40                  # trials in the study, all workers together
metric = "pnl_net"           # one of bots.backtest.analytics.METRICS, of `bot`
direction = "maximize"       # or "minimize"
# bot = "mm"                 # whose metric (default: the first bot under test)
# study = "bond-day"         # the study's name in the storage (default: the scenario's name)
# storage = "sqlite:///..."  # default: a SQLite file in --out (--storage and
#                            # $OTCMM_STUDY_STORAGE override it)
# seed = 7                   # the sampler's seed (default: the scenario's)
# startup_trials = 8         # random trials before TPE models the results; no pruning before
# pruner = "median"          # or "none"
# report_every_steps = 30    # intermediate objective every this many steps (default: a tenth)
# warmup_steps = 60          # no pruning before this step (default: two reports)

[optimize.params]            # dotted keys, as --sweep takes them
"strategy.params.spread_bps" = { kind = "int", low = 2, high = 60 }
"strategy.params.size" = { kind = "int", low = 50000, high = 400000, step = 50000 }
"strategy.params.max_skew_bps" = { kind = "float", low = 0, high = 10 }
"flow.arb.edge_bps" = { kind = "categorical", choices = [0, 2, 5] }
"path.volatility" = { kind = "log", low = 0.05, high = 1.0 }
```

Shapes only: frozen pydantic models, unknown keys refused. `bots.backtest.optimize.check_spec`
checks what needs the scenario (the keys, the ranges' ends, the bot, the metric's window).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bots.backtest.metrics import METRICS

MAX_TRIALS = 10_000
MAX_PARAMS = 16
STUDY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"

Choice = int | float | str | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Model):
    """Integers from `low` to `high` inclusive, every `step`-th (or log-uniform with `log`)."""

    kind: Literal["int"]
    low: int
    high: int
    step: int = Field(default=1, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _valid(self) -> IntRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and (self.low <= 0 or self.step != 1):
            raise ValueError("log needs low > 0 and step 1")
        if (self.high - self.low) % self.step:
            raise ValueError(f"high - low ({self.high - self.low}) is not a multiple of step")
        return self

    def ends(self) -> tuple[Choice, ...]:
        return self.low, self.high


class FloatRange(_Model):
    """Reals from `low` to `high`, uniform (or every `step`)."""

    kind: Literal["float"]
    low: float
    high: float
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _valid(self) -> FloatRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def ends(self) -> tuple[Choice, ...]:
        return self.low, self.high


class LogRange(_Model):
    """Reals from `low` to `high`, log-uniform: as likely in [1, 10] as in [10, 100]."""

    kind: Literal["log"]
    low: float = Field(gt=0)
    high: float

    @model_validator(mode="after")
    def _valid(self) -> LogRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def ends(self) -> tuple[Choice, ...]:
        return self.low, self.high


class Categorical(_Model):
    """One of `choices` (numbers, text or booleans: TOML scalars)."""

    kind: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _distinct(self) -> Categorical:
        if len({repr(c) for c in self.choices}) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self

    def ends(self) -> tuple[Choice, ...]:
        return tuple(self.choices)


ParamRange = Annotated[IntRange | FloatRange | LogRange | Categorical, Field(discriminator="kind")]


class OptimizeSpec(_Model):
    """The `[optimize]` table (see the module docstring)."""

    trials: int = Field(ge=1, le=MAX_TRIALS)
    metric: str
    direction: Literal["maximize", "minimize"]
    bot: str | None = None
    study: str | None = Field(default=None, pattern=STUDY_PATTERN)
    storage: str | None = Field(default=None, min_length=1)
    seed: int | None = Field(default=None, ge=0)
    startup_trials: int = Field(default=8, ge=0, le=MAX_TRIALS)
    pruner: Literal["median", "none"] = "median"
    report_every_steps: int | None = Field(default=None, gt=0)
    warmup_steps: int | None = Field(default=None, ge=0)
    params: dict[str, ParamRange] = Field(min_length=1, max_length=MAX_PARAMS)

    @field_validator("metric")
    @classmethod
    def _metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: one of {', '.join(METRICS)}")
        return metric
