"""The settings a tick enforces: risk limits and reconcile tolerances (`[risk]`, `[reconcile]`).

They live with the tick, which applies them, so the tick never reaches up into the service that
reads them from a config file; a backtest hands the same models to the same tick.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bots.tick.reconcile import Tolerance


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskLimits(_Section):
    """Hard limits the runner enforces whatever the strategy wants (base units, wei, seconds)."""

    max_base_inventory: int | None = Field(default=None, gt=0)
    max_quote_inventory: int | None = Field(default=None, gt=0)
    max_open_offers: int = Field(default=20, ge=0, le=500)
    max_gas_price_wei: int | None = Field(default=None, ge=0)
    feed_max_age_s: float = Field(default=60.0, gt=0)
    min_gas_balance_wei: int = Field(default=0, ge=0)


class ReconcileConfig(_Section):
    price_bps: int = Field(default=5, ge=0)
    size_bps: int = Field(default=1_000, ge=0)

    def tolerance(self) -> Tolerance:
        return Tolerance(price_bps=self.price_bps, size_bps=self.size_bps)
