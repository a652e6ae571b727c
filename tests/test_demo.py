"""`otcmm demo`, shortened: a real chain, the seed job and three bot processes that trade."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bots.demo.session import BOT_NAMES, DemoOptions, run_demo

pytestmark = pytest.mark.chain


def test_a_short_demo_trades_and_every_token_is_accounted_for(tmp_path: Path) -> None:
    out = io.StringIO()
    report = run_demo(DemoOptions(duration_s=15, refresh_s=2, workdir=tmp_path), out=out)
    text = out.getvalue()
    assert report.trades.trades > 0, text
    assert report.trades.base_volume > 0 and report.trades.quote_volume > 0
    assert report.conservation.ok, text
    assert "conservation check:" in text and "=> OK" in text
    for name in BOT_NAMES:
        assert f"started {name}" in text
        assert (tmp_path / "keys" / f"{name}.json").exists()
    # The bots cancelled on SIGTERM: nothing of theirs is left on the book.
    assert report.offers_left == dict.fromkeys(BOT_NAMES, 0), text
    market_escrow = [line for line in report.conservation.lines if "live offers escrow" in line]
    assert len(market_escrow) == 2
    assert all(report.pnl(name) is not None for name in BOT_NAMES)
    # Gas is paid as on the real network, out of the gas money the seed job gave each bot; a bot
    # spends its native coin on nothing else, so what it paid is exactly what it lost.
    before = report.before
    assert before is not None
    for name in BOT_NAMES:
        units, wei = report.gas[name]
        assert units > 0 and wei > units  # more than the 1 wei base fee: the node's tip too
        spent = before.holdings[name].native_wei - report.holdings[name].native_wei
        assert wei == spent, (name, wei, spent)
    # A second demo in the same workdir starts afresh: the first one's deployment, journals
    # and logs belonged to a chain that is gone (it failed with "market has no code").
    again = io.StringIO()
    rerun = run_demo(DemoOptions(duration_s=3, refresh_s=1, workdir=tmp_path), out=again)
    assert rerun.conservation.ok, again.getvalue()
    assert rerun.offers_left == dict.fromkeys(BOT_NAMES, 0), again.getvalue()
