"""The settings a tick enforces: risk limits and reconcile tolerances (`[risk]`, `[reconcile]`).

They live with the tick, which applies them, so the tick never reaches up into the service that
reads them from a config file; a backtest hands the same models to the same tick.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bots.feeds.spec import PositivePrice as Price
from bots.tick.reconcile import Tolerance

UINT256 = 2**256 - 1  # no amount or wei figure on the chain is larger


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskLimits(_Section):
    """Hard limits the runner enforces whatever the strategy wants.

    Amounts are base units, gas in wei, times in seconds, prices quote per whole base token
    (`Decimal`, as written in the file, sane: 1e-30 .. 1e31), losses whole quote tokens. Every
    number is bounded and finite: `inf` or `1e999999` is a config error, not a setting. See
    README "Safety, shutdown, restarts" for what each one does when it trips.
    """

    max_base_inventory: int | None = Field(default=None, gt=0, le=UINT256)
    max_quote_inventory: int | None = Field(default=None, gt=0, le=UINT256)
    max_open_offers: int = Field(default=20, ge=0, le=500)
    max_gas_price_wei: int | None = Field(default=None, ge=0, le=UINT256)
    feed_max_age_s: float = Field(default=60.0, gt=0, le=86_400, allow_inf_nan=False)
    max_feed_skew_s: float = Field(
        default=5.0,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description="A reading this far in the future is stale.",
    )
    min_gas_balance_wei: int = Field(default=0, ge=0, le=UINT256)
    gas_reserve: bool = Field(
        default=True,
        description="Keep the gas money to cancel every own offer at the current fee; below it"
        " only cancels are sent.",
    )
    min_price: Price | None = Field(default=None, description="Refuse readings below this.")
    max_price: Price | None = Field(default=None, description="Refuse readings above this.")
    max_price_move_bps: int | None = Field(
        default=500, ge=1, le=1_000_000, description="A larger move per tick needs confirming."
    )
    max_price_jump_bps: int = Field(
        default=5_000,
        ge=1,
        le=1_000_000,
        description="A larger move from the anchor is never followed by itself: a price_jump"
        " stop until the feed comes back or an operator starts with --reset-price-anchor.",
    )
    max_price_drift_bps: int | None = Field(
        default=2_000,
        ge=1,
        le=1_000_000,
        description="A move this large within price_drift_window_s, however small its steps,"
        " needs confirming like a large move (a walking feed); never below"
        " max_price_move_bps (the larger applies); None: off.",
    )
    price_drift_window_s: float = Field(default=300.0, ge=0, le=86_400, allow_inf_nan=False)
    price_confirmations: int = Field(default=3, ge=1, le=100)
    price_confirm_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        allow_inf_nan=False,
        description="The confirming readings of a move must span this many seconds.",
    )
    post_only: bool = Field(
        default=True, description="Drop quotes that would cross the best opposite offer."
    )
    offer_ttl_s: int = Field(
        default=300,
        ge=0,
        le=30 * 86_400,
        description="Dead-man's switch: offers become untakable this long after the bot last"
        " refreshed it (refreshed at half-life); 0: off, offers stay takable until cancelled.",
    )
    max_loss: Price | None = Field(
        default=None, description="Kill switch: P&L since start below -max_loss (quote tokens)."
    )
    max_drawdown: Price | None = Field(
        default=None, description="Kill switch: P&L this far below its peak (quote tokens)."
    )

    @model_validator(mode="after")
    def _ttl_outlives_a_block(self) -> RiskLimits:
        if 0 < self.offer_ttl_s < 10:
            raise ValueError("offer_ttl_s must be 0 (off) or at least 10 seconds")
        return self

    @model_validator(mode="after")
    def _jump_above_move(self) -> RiskLimits:
        move = self.max_price_move_bps
        if move is not None and move > self.max_price_jump_bps:
            raise ValueError("max_price_move_bps must not exceed max_price_jump_bps")
        return self

    @model_validator(mode="after")
    def _band_is_a_band(self) -> RiskLimits:
        if self.min_price is not None and self.max_price is not None:
            if self.min_price >= self.max_price:
                raise ValueError("min_price must be below max_price")
        return self


class ReconcileConfig(_Section):
    price_bps: int = Field(default=5, ge=0, le=10_000)
    size_bps: int = Field(default=1_000, ge=0, le=10_000)

    def tolerance(self) -> Tolerance:
        return Tolerance(price_bps=self.price_bps, size_bps=self.size_bps)
