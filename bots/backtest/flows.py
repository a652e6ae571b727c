"""The counter-flow a scenario declares: who trades against the bots under test, and why.

Three kinds, each a built-in strategy ticked through the normal bot pipeline:

- ``noise``: the `noise` strategy. It takes a random share of one random affordable offer with a
  fixed probability a step, whatever the offer's price: a flow that ignores prices rewards the
  widest spread (every offer is taken as often, so wider means more per fill).
- ``price_sensitive``: the `price_sensitive` strategy, Avellaneda-Stoikov's arrival model:
  orders accepting a price ``delta`` bps from the reference arrive with probability
  ``A * exp(-k * delta)`` a step per side, so a wider spread trades less. The honest default.
- ``informed``: the `taker` strategy fed a better price than the makers' (the true price now
  or a later step's): it picks off stale quotes.

Seeds not given are derived from the scenario seed and the agent's name (`derived_seed`), so a
renamed agent draws differently and two agents never share a stream.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Inventory(_Model):
    """Starting holdings in base units of each token."""

    base: int = Field(default=0, ge=0, lt=2**96)
    quote: int = Field(default=0, ge=0, lt=2**96)


class NoiseFlow(_Model):
    """Uninformed, price-blind takers: the built-in `noise` strategy, seeded."""

    kind: Literal["noise"]
    name: str = Field(pattern=NAME_PATTERN)
    inventory: Inventory = Inventory()
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Default: derived from the name."
    )
    probability: float = Field(default=0.3, ge=0, le=1)
    min_fraction: float = Field(default=0.1, gt=0, le=1)
    max_fraction: float = Field(default=0.5, gt=0, le=1)


class PriceSensitiveFlow(_Model):
    """Uninformed takers whose orders arrive at ``A * exp(-k * delta)`` (Avellaneda-Stoikov):
    the built-in `price_sensitive` strategy on the true price, seeded."""

    kind: Literal["price_sensitive"]
    name: str = Field(pattern=NAME_PATTERN)
    inventory: Inventory = Inventory()
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Default: derived from the name."
    )
    intensity: float = Field(
        default=0.2, ge=0, le=0.5, description="A: orders a step per side at the reference."
    )
    k_per_bp: float = Field(
        default=0.1, gt=0, le=100, description="k: decay per bp of distance from the reference."
    )
    min_size: int | None = Field(
        default=None, gt=0, lt=2**96, description="Smallest order, base units (default max_size)."
    )
    max_size: int = Field(gt=0, lt=2**96, description="Largest order, base units.")


class InformedFlow(_Model):
    """An informed taker: the built-in `taker` strategy fed a better price than the makers'."""

    kind: Literal["informed"]
    name: str = Field(pattern=NAME_PATTERN)
    inventory: Inventory = Inventory()
    lookahead_steps: int = Field(
        default=0, ge=0, le=10_000, description="0: the true price now; 1: the next step's."
    )
    edge_bps: int = Field(default=0, ge=0, le=10_000)
    budget_quote: int = Field(ge=0, lt=2**96, description="Quote units it may spend per step.")
    budget_base: int = Field(ge=0, lt=2**96, description="Base units it may sell per step.")


AnyFlow = NoiseFlow | PriceSensitiveFlow | InformedFlow
FlowSpec = Annotated[AnyFlow, Field(discriminator="kind")]


def derived_seed(seed: int, name: str) -> int:
    """A per-agent seed fixed by the scenario seed and the agent's name (any process, any OS)."""
    digest = hashlib.sha256(f"otcmm-backtest:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def flow_strategy(scenario_seed: int, flow: AnyFlow) -> tuple[str, dict[str, Any]]:
    """The built-in strategy (name, params) a counter-flow agent runs."""
    if isinstance(flow, InformedFlow):
        return "taker", {
            "edge_bps": flow.edge_bps,
            "budget_quote": flow.budget_quote,
            "budget_base": flow.budget_base,
        }
    seed = derived_seed(scenario_seed, flow.name) if flow.seed is None else flow.seed
    if isinstance(flow, NoiseFlow):
        return "noise", {
            "seed": seed,
            "probability": flow.probability,
            "min_fraction": flow.min_fraction,
            "max_fraction": flow.max_fraction,
        }
    return "price_sensitive", {
        "seed": seed,
        "intensity": flow.intensity,
        "k_per_bp": flow.k_per_bp,
        "min_size": flow.max_size if flow.min_size is None else flow.min_size,
        "max_size": flow.max_size,
    }


def flow_offset(flow: AnyFlow) -> int:
    """How many steps ahead of now the agent's feed reads the true price."""
    return flow.lookahead_steps if isinstance(flow, InformedFlow) else 0
