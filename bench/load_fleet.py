"""The load benchmark's fleet: who trades, with what, and the files each bot process reads.

Makers cycle through ten strategy set-ups (fixed_spread, bands and avellaneda_stoikov with
different spreads, levels and sizes), so any fleet of three makers or more mixes all three
strategies; takers alternate a seeded `noise` taker and a `taker` that lifts offers on the
wrong side of the reference. Every bot trades BND30/EURT (2 decimals each, ~100 EURT per BND30),
so amounts below are base units: 2000 BND30 units = 20 bonds, 200000 EURT units = 2000 euro.

The seed plan funds every bot from the dev chain's first account; the bot configs read the
deployment file it writes and a shared reference price over HTTP, as the demo's bots do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

Role = Literal["maker", "taker"]
PASSWORD_FILE = "password"  # noqa: S105 - the name of the file, not a password


@dataclass(frozen=True)
class BotSpec:
    """One bot: its name, strategy and params, and risk settings beyond the defaults."""

    name: str
    role: Role
    strategy: str
    params: Mapping[str, Any]
    risk: Mapping[str, Any] = field(default_factory=dict)

    @property
    def describe(self) -> str:
        """A short tag for the report: strategy and its distinguishing figures."""
        p = self.params
        if self.strategy == "fixed_spread":
            return f"fixed_spread {p['spread_bps']}bps x{p.get('levels', 1)}"
        if self.strategy == "bands":
            return f"bands x{len(p['sell_bands'])}"
        if self.strategy == "avellaneda_stoikov":
            return f"AS g={p['gamma']} edge {p['min_edge_bps']}bps"
        if self.strategy == "noise":
            return f"noise p={p['probability']}"
        return f"taker edge {p['edge_bps']}bps"


def _band(margins: tuple[str, str, str], amounts: tuple[int, int, int]) -> dict[str, Any]:
    low, mid, high = margins
    least, usual, most = amounts
    return {
        "min_margin": low,
        "avg_margin": mid,
        "max_margin": high,
        "min_amount": least,
        "avg_amount": usual,
        "max_amount": most,
    }


def _bands(*margins: tuple[str, str, str], base: int) -> dict[str, Any]:
    """Bands at `margins` on both sides: `base` units of BND30 an ask band, the same in EURT."""
    quote = base * 100  # ~100 EURT per BND30, same decimals
    return {
        "sell_bands": [_band(m, (base // 2, base, 3 * base // 2)) for m in margins],
        "buy_bands": [_band(m, (quote // 2, quote, 3 * quote // 2)) for m in margins],
    }


_INVENTORY = {"target_base_inventory": 200_000}


def _skew(max_bps: int) -> dict[str, int]:
    """Inventory skew up to `max_bps` (below half the spread, or quotes would cross)."""
    return {**_INVENTORY, "skew_range": 100_000, "max_skew_bps": max_bps}


_AS = {"sigma": 0.02, "horizon_seconds": 600, **_INVENTORY}

MAKER_SETUPS: tuple[tuple[str, dict[str, Any], dict[str, Any]], ...] = (
    ("fixed_spread", {"spread_bps": 40, "levels": 1, "size": 2000, **_skew(15)}, {}),
    ("bands", _bands(("0.002", "0.004", "0.006"), base=2000), {}),
    ("avellaneda_stoikov", {"gamma": 0.1, "k": 4, "size": 2000, "min_edge_bps": 10, **_AS}, {}),
    (
        "fixed_spread",
        {"spread_bps": 60, "levels": 3, "level_spacing_bps": 25, "size": 2500, **_skew(20)},
        {"max_open_offers": 10},
    ),
    ("bands", _bands(("0.003", "0.005", "0.007"), ("0.010", "0.015", "0.020"), base=1500), {}),
    ("avellaneda_stoikov", {"gamma": 0.05, "k": 4, "size": 1500, "min_edge_bps": 20, **_AS}, {}),
    (
        "fixed_spread",
        {"spread_bps": 100, "levels": 5, "level_spacing_bps": 20, "size": 1000, **_skew(30)},
        {},
    ),
    ("bands", _bands(("0.010", "0.020", "0.030"), base=3000), {}),
    ("avellaneda_stoikov", {"gamma": 0.2, "k": 2, "size": 2500, "min_edge_bps": 30, **_AS}, {}),
    (
        "fixed_spread",
        {"spread_bps": 30, "levels": 2, "level_spacing_bps": 10, "size": 1500, **_skew(10)},
        {},
    ),
)

MAKER_FUNDS = {"BND30": "2000", "EURT": "200000"}
TAKER_FUNDS = {"BND30": "1000", "EURT": "150000"}


def fleet(makers: int, takers: int) -> list[BotSpec]:
    """`makers` makers cycling through `MAKER_SETUPS`, then `takers` noise/taker bots."""
    bots = []
    for i in range(makers):
        strategy, params, risk = MAKER_SETUPS[i % len(MAKER_SETUPS)]
        bots.append(BotSpec(f"maker-{i + 1:02d}", "maker", strategy, params, risk))
    return bots + [_taker(i) for i in range(takers)]


def _taker(i: int) -> BotSpec:
    """Even: a seeded noise taker; odd: a taker of offers on the wrong side of the reference."""
    name = f"taker-{i + 1:02d}"
    if i % 2 == 0:
        noise = {"seed": 7 + i, "probability": 0.6, "min_fraction": 0.2, "max_fraction": 0.7}
        return BotSpec(name, "taker", "noise", noise)
    budgets = {"edge_bps": 0, "budget_quote": 500_000, "budget_base": 5_000}
    return BotSpec(name, "taker", "taker", budgets)


def toml_value(value: object) -> str:
    """A TOML inline value: str, bool, int, float, Decimal, lists and dicts of those.

    Raises TypeError for anything else (a None has no TOML form).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Decimal):
        return json.dumps(str(value))  # a JSON string of printable ASCII is a TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def seed_plan_text(bots: Sequence[BotSpec]) -> str:
    """A seed plan: BND30 and EURT issued exactly to what the bots are funded with."""
    funds = [MAKER_FUNDS if b.role == "maker" else TAKER_FUNDS for b in bots]
    supply = {sym: sum(Decimal(f[sym]) for f in funds) for sym in ("BND30", "EURT")}
    lines = [
        "# Written by bench.load: every bot funded by the dev chain's first account.",
        '[[assets]]\nsymbol = "BND30"\nname = "Bond 2030 4%"\ndecimals = 2',
        f'supply = "{supply["BND30"]}"',
        '[[assets]]\nsymbol = "EURT"\nname = "Euro cash token"\ndecimals = 2',
        f'supply = "{supply["EURT"]}"',
    ]
    for bot, money in zip(bots, funds, strict=True):
        lines += [
            "[[participants]]",
            f'name = "{bot.name}"',
            f'keystore = "keys/{bot.name}.json"',
            'gas = "10"',
            f"tokens = {toml_value(money)}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RunSettings:
    """What every bot of one run shares (URLs, tick, journal bound, log level)."""

    rpc_url: str
    chain_id: int
    feed_url: str
    tick_interval_s: float
    journal_max_bytes: int | None
    log_level: str


def journal_path(workdir: Path, name: str) -> Path:
    return workdir / "state" / name / "journal.jsonl"


def bot_config_text(bot: BotSpec, run: RunSettings) -> str:
    """The bot's TOML config: deployment file, keystore and journal relative to `workdir`."""
    runtime: dict[str, Any] = {
        "metrics_port": 0,  # any free port: the bot logs the one it bound
        "log_format": "json",
        "log_level": run.log_level,
        "journal": f"state/{bot.name}/journal.jsonl",
    }
    if run.journal_max_bytes is not None:
        runtime["journal_max_bytes"] = run.journal_max_bytes
    sections: dict[str, dict[str, Any]] = {
        "keystore": {"path": f"keys/{bot.name}.json", "password_file": PASSWORD_FILE},
        "strategy": {"name": bot.strategy, "params": dict(bot.params)},
        "feed": {
            "kind": "http",
            "url": run.feed_url,
            "field": "price",
            "timestamp_field": "timestamp",
        },
        "risk": {"feed_max_age_s": 30, **bot.risk},
        "runtime": runtime,
    }
    lines = [
        f'name = "{bot.name}"',
        f"rpc_url = {toml_value(run.rpc_url)}",
        f"chain_id = {run.chain_id}",
        'deployment = "deployment.json"',
        'base = "BND30"',
        'quote = "EURT"',
        f"tick_interval_s = {run.tick_interval_s!r}",
    ]
    for title, table in sections.items():
        lines.append(f"\n[{title}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
