"""The counter-flow on a real dev chain: price-blind noise fills a wide quote as readily as a
tight one; the price-sensitive flow (A * exp(-k * delta)) leaves a quote far from the reference
alone and still trades with one close to it. That is what keeps a sweep from crowning the
widest spread."""

from __future__ import annotations

from typing import Any

import pytest

from bots.backtest.analytics import Analysis, analyse
from bots.backtest.engine import run_backtest
from bots.backtest.scenario import Scenario

pytestmark = pytest.mark.chain

INVENTORY = {"base": 10**7, "quote": 10**8}  # 1 000 BND (4 decimals), 1 000 000.00 EURT


def run(flow: dict[str, Any]) -> Analysis:
    makers = [
        {
            "name": name,
            "strategy": {"name": "fixed_spread", "params": {"spread_bps": bps, "size": 50_000}},
            "inventory": INVENTORY,
            "feed_lag_steps": 0,
        }
        for name, bps in (("tight", 10), ("wide", 400))
    ]
    scenario = Scenario.model_validate(
        {
            "name": "flows",
            "seed": 5,
            "steps": 16,
            "market": {
                "base": {"symbol": "BND", "decimals": 4},
                "quote": {"symbol": "EURT", "decimals": 2},
            },
            "path": {"kind": "gbm", "start": "100", "volatility": 0.05},
            "bots": makers,
            "flow": [{"name": "clients", "inventory": INVENTORY, **flow}],
        }
    )
    analysis = analyse(run_backtest(scenario))
    assert analysis.ok, analysis.accounting.lines
    return analysis


def test_noise_fills_a_wide_quote_and_the_price_sensitive_flow_does_not() -> None:
    noise = run({"kind": "noise", "probability": 0.9})
    sensitive = run(
        {"kind": "price_sensitive", "intensity": 0.45, "k_per_bp": 0.05, "max_size": 30_000}
    )

    # 200 bps from the reference (half of 400): noise takes it about as often as the tight one
    assert noise.agent("wide").fills_maker >= 3
    # exp(-0.05 * 200) = 4.5e-5 a step: the price-sensitive flow never reaches it ...
    assert sensitive.agent("wide").fills_maker == 0
    # ... and trades with the tight quote (5 bps away: 78% of the orders accept it)
    assert sensitive.agent("tight").fills_maker >= 5
    assert sensitive.agent("clients").role == "price_sensitive"
