"""Backtests on a real dev chain: determinism, conservation, P&L sanity and the report files.

One scenario runs once for the module (two makers, a tight and a wide one, lagging the true
price by a step; noise takers; an informed taker that sees the true price) and the determinism
test runs it a second time. Small step counts keep the module within a few seconds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bots.backtest.analytics import Analysis, analyse
from bots.backtest.engine import run_backtest
from bots.backtest.report import write_report
from bots.backtest.results import RunResult
from bots.backtest.scenario import Scenario
from bots.devtools.network import load_network

pytestmark = pytest.mark.chain

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INVENTORY = {"base": 10**7, "quote": 10**8}  # 1 000 BND (4 decimals), 1 000 000.00 EURT
SIZE = 50_000  # 5 BND a quote
BASE_FEE = load_network().fees.base_fee_initial  # wei per gas; the dev chain never moves it
ANVIL_TIP = 10**9  # what anvil suggests as the tip (eth_maxPriorityFeePerGas), in wei per gas


def scenario(steps: int = 25) -> Scenario:
    """Per-step moves of ~28 bps against a 1 bp half spread (tight) and a 200 bps one (wide)."""
    maker = {"inventory": INVENTORY, "feed_lag_steps": 1}
    return Scenario.model_validate(
        {
            "name": "sanity",
            "seed": 11,
            "steps": steps,
            "block_interval_s": 60,
            "market": {
                "base": {"symbol": "BND", "decimals": 4},
                "quote": {"symbol": "EURT", "decimals": 2},
                "gas_cost_per_mgas": "0.1",
            },
            "path": {"kind": "gbm", "start": "100", "volatility": 2.0},
            "bots": [
                {
                    "name": "tight",
                    "strategy": {"name": "fixed_spread", "params": {"spread_bps": 2, "size": SIZE}},
                    **maker,
                },
                {
                    "name": "wide",
                    "strategy": {
                        "name": "fixed_spread",
                        "params": {"spread_bps": 400, "size": SIZE},
                    },
                    **maker,
                },
            ],
            "flow": [
                {"kind": "noise", "name": "noise", "probability": 0.7, "inventory": INVENTORY},
                {
                    "kind": "informed",
                    "name": "informed",
                    "edge_bps": 2,
                    "budget_quote": 10**6,
                    "budget_base": 10**5,
                    "inventory": INVENTORY,
                },
            ],
        }
    )


@dataclass
class Run:
    result: RunResult
    analysis: Analysis
    out: Path
    files: list[Path]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("backtest")
    result = run_backtest(scenario())
    analysis = analyse(result)
    yield Run(result, analysis, out, write_report(analysis, out))


def test_same_scenario_and_seed_give_the_same_trades_byte_for_byte(
    run: Run, tmp_path: Path
) -> None:
    again = write_report(analyse(run_backtest(scenario())), tmp_path, plots=False)

    trades = (run.out / "trades.csv").read_bytes()
    assert trades.count(b"\n") > 10  # the scenario trades: the comparison means something
    assert (tmp_path / "trades.csv").read_bytes() == trades
    assert (tmp_path / "equity.csv").read_bytes() == (run.out / "equity.csv").read_bytes()
    assert again[0].name == "trades.csv"


def test_no_token_is_created_or_lost(run: Run) -> None:
    result = run.result
    assert result.conservation.ok, result.conservation.lines
    for index, symbol in enumerate(("BND", "EURT")):
        held = sum(h[index] for h in result.final_holdings.values())
        issued = len(result.agents) * INVENTORY["base" if index == 0 else "quote"]
        assert held == issued, symbol


def test_fills_replayed_from_events_match_the_holdings_on_chain(run: Run) -> None:
    assert run.analysis.accounting.ok, run.analysis.accounting.lines


def test_pnl_splits_exactly_into_spread_capture_and_inventory(run: Run) -> None:
    for agent in run.analysis.agents:
        assert agent.pnl_total == agent.pnl_spread + agent.pnl_inventory
        assert agent.pnl_total == agent.equity_end - agent.equity_start
        assert agent.pnl_net == agent.pnl_total - agent.gas_cost
        base, quote = run.result.final_holdings[agent.name]
        marked = Decimal(base).scaleb(-4) * run.result.path.prices[-1] + Decimal(quote) / 100
        assert agent.equity_end == marked


def test_a_tight_quote_is_picked_off_by_the_informed_taker_and_a_wide_one_is_not(
    run: Run,
) -> None:
    tight, wide = run.analysis.agent("tight"), run.analysis.agent("wide")
    informed = run.analysis.agent("informed")
    informed_address = informed.address

    assert tight.pnl_spread < 0 < wide.pnl_spread
    assert informed.pnl_spread > 0
    picked = [f for f in run.analysis.fills if f.taker == informed_address]
    assert picked and all(f.maker == tight.address for f in picked)


def test_gas_is_counted_per_bot_and_costed_at_the_scenario_rate(run: Run) -> None:
    for agent in run.analysis.agents:
        # the dev chain's fee policy is the network's: every unit of gas pays the base fee
        # plus the node's tip (anvil suggests 1 gwei), taken from the agent's gas money
        assert agent.gas_paid_wei == agent.gas_used * (BASE_FEE + ANVIL_TIP)
        assert agent.gas_cost == Decimal(agent.gas_used) * Decimal("0.1") / 1_000_000
    tight = run.analysis.agent("tight")
    # One block per step, shared with the takers: a quote taken in a block is replaced in the
    # next, so the tight maker is not quoted on both sides at the end of every step.
    assert tight.txs > 0 and tight.gas_used > 0 and 0.5 <= tight.quote_uptime < 1.0


def test_agents_sharing_a_block_race_and_every_lost_race_is_named(run: Run) -> None:
    """Shared blocks: a take of an offer its maker replaced earlier in the block fails with
    `OfferNotActive`, a conditional requote whose offer was taken first with
    `UnexpectedRemaining`; no transaction fails for any other reason (out of gas, unknown)."""
    reasons: Counter[str] = Counter()
    for agent in run.result.agents:
        assert sum(agent.txs_failed_by_reason.values()) == agent.txs_failed
        reasons.update(agent.txs_failed_by_reason)
    assert reasons["buy: OfferNotActive"] > 0
    assert set(reasons) <= {"buy: OfferNotActive", "requoteUntil: UnexpectedRemaining"}
    summary = json.loads((run.out / "summary.json").read_text())
    assert sum(sum(a["txs_failed_by_reason"].values()) for a in summary["agents"]) == sum(
        reasons.values()
    )


def test_with_a_block_per_transaction_a_maker_requotes_before_any_take() -> None:
    """The old mode: makers tick first, each transaction mined alone, and the quotes recorded
    are the book after the makers' ticks, so a maker is always quoted on both sides; nothing
    races, so nothing fails; and the mode is as deterministic as shared blocks."""
    per_tx = scenario(steps=8).model_copy(update={"blocks": "per_tx"})
    result = run_backtest(per_tx)
    tight = analyse(result).agent("tight")
    assert tight.quote_uptime == 1.0 and result.conservation.ok
    assert all(agent.txs_failed == 0 for agent in result.agents)
    assert len(result.events) > 8 and run_backtest(per_tx).events == result.events


def test_report_files_exist_and_the_plots_are_png(run: Run) -> None:
    names = {p.name for p in run.files}
    assert {"summary.json", "trades.csv", "equity.csv", "inventory.png", "equity.png"} <= names
    assert {"price_tight.png", "price_wide.png"} <= names
    for path in run.files:
        assert path.is_file() and path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC, path.name


def test_summary_json_carries_every_agent_and_the_checks(run: Run) -> None:
    summary: dict[str, Any] = json.loads((run.out / "summary.json").read_text())

    assert summary["conservation"]["ok"] and summary["accounting"]["ok"]
    assert [a["name"] for a in summary["agents"]] == ["tight", "wide", "noise", "informed"]
    tight = summary["agents"][0]
    for key in ("pnl_spread", "pnl_inventory", "fill_ratio", "adverse_selection_bps", "sharpe"):
        assert key in tight
    # 25 one-minute steps: far too short a window for an annualised Sharpe ratio to mean
    # anything, so it is not shown; the estimate is kept, marked, with its standard error
    assert tight["sharpe"] is None and tight["sharpe_short_window"] is not None
    assert tight["sharpe_stderr"] > 100
    assert summary["scenario"]["steps"] == 25
    rows = (run.out / "equity.csv").read_text().splitlines()
    assert len(rows) == 1 + 25 * 4


def test_a_report_write_that_fails_leaves_no_summary_and_no_half_file(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`summary.json` is written last and every file whole or not at all: a folder whose
    report failed (a full disk, a signal) never looks finished."""
    import bots.backtest.plots as plots

    def broken(fig: Any, path: Path, **_: Any) -> None:
        path.write_bytes(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots.Figure, "savefig", broken)
    with pytest.raises(OSError):
        write_report(run.analysis, tmp_path, plots=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["equity.csv", "trades.csv"]


def test_the_largest_accepted_price_gives_a_whole_report(tmp_path: Path) -> None:
    """A 1e30 start price (the scenario's limit is 1e30): the equity of a holding no longer
    fits the default 28 digits to 6 decimals; the report is computed and written in full."""
    import subprocess
    import sys

    out = tmp_path / "big"
    result = subprocess.run(
        [sys.executable, "-m", "bots.cli", "backtest", "--config", "examples/gbm_basket.toml",
         "--set", "path.start=1e30", "--set", "steps=3", "--no-plots", "--out", str(out)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {
        ".otcmm-backtest",
        "trades.csv",
        "equity.csv",
        "summary.json",
    }
    first = (out / "equity.csv").read_text().splitlines()[1].split(",")
    assert first[3] == "1E+30" and first[6].endswith(".000000")
