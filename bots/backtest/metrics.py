"""The per-bot figures a sweep row carries and an optimisation may target, with their units.

Definitions: `bots/backtest/README.md` ("Report fields") and `bots.backtest.analytics`.
"""

from __future__ import annotations

METRICS = (
    "pnl_total", "pnl_spread", "pnl_inventory", "gas_cost", "pnl_net", "fills", "volume_base",
    "fill_ratio", "quote_uptime", "adverse_selection_bps", "max_drawdown", "sharpe",
)  # fmt: skip

LOWER_IS_BETTER = frozenset({"gas_cost", "max_drawdown", "adverse_selection_bps"})
"""Metrics where less is better (a heatmap reverses its colours for them)."""

UNITS = {
    "pnl_total": "{quote}",
    "pnl_spread": "{quote}",
    "pnl_inventory": "{quote}",
    "gas_cost": "{quote}",
    "pnl_net": "{quote}, after gas",
    "fills": "count",
    "volume_base": "{base}",
    "fill_ratio": "share of posted base filled, 0..1",
    "quote_uptime": "share of steps quoted both sides, 0..1",
    "adverse_selection_bps": "bps of maker volume",
    "max_drawdown": "{quote}",
    "sharpe": "annualised, no risk-free rate",
}
"""Each metric's unit; `{base}` and `{quote}` stand for the token symbols."""


def unit(metric: str, base: str, quote: str) -> str:
    """The unit of `metric` with the token symbols filled in (empty when unknown)."""
    return UNITS.get(metric, "").format(base=base, quote=quote)
