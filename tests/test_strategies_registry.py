"""The strategy registry, plug-in entry points, and the README example."""

import importlib.metadata
import re
from pathlib import Path
from typing import Any

import pytest

from strategies import registry
from strategies.api import StrategyConfigError
from strategies.fixed_spread import FixedSpread
from strategies.testing import BASE, make_snapshot

README = Path(registry.__file__).with_name("README.md")


def readme_example() -> dict[str, Any]:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code.group(1), str(README), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    eps = [
        importlib.metadata.EntryPoint(name, value, registry.ENTRY_POINT_GROUP)
        for name, value in targets.items()
    ]

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        assert group == registry.ENTRY_POINT_GROUP
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_get_strategy_returns_builtins() -> None:
    assert registry.get_strategy("fixed_spread") is FixedSpread


def test_unknown_strategy_lists_known_names() -> None:
    with pytest.raises(StrategyConfigError) as err:
        registry.get_strategy("x")
    assert str(err.value).startswith("unknown strategy 'x'; known: avellaneda_stoikov, bands, ")


def test_build_strategy_reports_one_line_per_invalid_field() -> None:
    with pytest.raises(StrategyConfigError) as err:
        registry.build_strategy("fixed_spread", {"spread_bps": 0, "size": 1, "colour": "red"})
    lines = str(err.value).splitlines()
    assert "strategy fixed_spread: spread_bps: Input should be greater than 0" in lines
    assert any(line.startswith("strategy fixed_spread: colour: Extra inputs") for line in lines)
    assert len(lines) == 2
    assert isinstance(err.value, ValueError)


def test_plugin_strategy_is_found_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, spread_again="strategies.fixed_spread:FixedSpread")
    assert "spread_again" in registry.known_strategies()
    strategy = registry.build_strategy("spread_again", {"spread_bps": 10, "size": 5})
    assert isinstance(strategy, FixedSpread)


def test_broken_or_wrong_plugins_raise_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, missing="no_such_module_xyz:Thing", wrong="fractions:Fraction")
    with pytest.raises(StrategyConfigError, match="missing.*failed to load"):
        registry.get_strategy("missing")
    with pytest.raises(StrategyConfigError, match="not a Strategy subclass"):
        registry.get_strategy("wrong")


def test_builtins_win_over_plugins_of_the_same_name(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, fixed_spread="no_such_module_xyz:Thing")
    assert registry.get_strategy("fixed_spread") is FixedSpread


def test_readme_example_runs_and_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    one_ask = readme_example()["OneAsk"]
    monkeypatch.setattr(registry, "get_strategy", lambda name: one_ask)
    strategy = registry.build_strategy("one_ask", {"markup_bps": 50, "size": BASE.one})
    (quote,) = strategy.decide(make_snapshot()).quotes
    assert quote.side == "ask" and quote.pay_amt == BASE.one
    assert quote.price >= 2010
    assert strategy.decide(make_snapshot(reference_price=None)).quotes == ()
    with pytest.raises(StrategyConfigError, match="markup_bps"):
        registry.build_strategy("one_ask", {"markup_bps": -1, "size": 1})


def test_readme_example_is_under_30_lines() -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None and len(code.group(1).splitlines()) < 30
