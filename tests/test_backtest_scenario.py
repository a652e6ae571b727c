"""The backtest's pure parts: scenario validation, overrides, price paths, statistics, progress."""

from __future__ import annotations

import io
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from bots.backtest.pricepath import build_path, load_csv
from bots.backtest.scenario import (
    Scenario,
    load_scenario,
    parse_assignments,
    scenario_from_raw,
    set_dotted,
)
from bots.backtest.stats import max_drawdown, sharpe
from bots.backtest.sweep import build_grid
from bots.cli.progress import every_tenth, progress
from bots.errors import ConfigError
from bots.feeds.pricefile import unix_seconds

GOOD = """
name = "unit"
seed = 5
steps = 20
[market]
base = { symbol = "BND", decimals = 4 }
quote = { symbol = "EURT", decimals = 2 }
[path]
kind = "gbm"
start = "100"
volatility = 0.3
[[bots]]
name = "mm"
strategy = { name = "fixed_spread", params = { spread_bps = 20, size = 1000 } }
inventory = { base = 100000, quote = 1000000 }
[[flow]]
kind = "noise"
name = "noise"
inventory = { base = 100000, quote = 1000000 }
"""

BROKEN = """
steps = -3
surprise = 1
[market]
base = { symbol = "BND!", decimals = 4 }
quote = { symbol = "EURT", decimals = 40 }
[path]
kind = "gbm"
start = "100"
volatility = 0.3
[[bots]]
name = "mm"
strategy = { name = "fixed_spread", params = { spread_bps = 20 } }
[[flow]]
kind = "informed"
name = "arb"
budget_quote = 10
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_scenario_loads_with_defaults(tmp_path: Path) -> None:
    scenario, raw = load_scenario(write(tmp_path, GOOD))

    assert scenario.bots[0].feed_lag_steps == 1
    assert scenario.interval_s == 60 and scenario.markout_steps == 5
    assert raw["name"] == "unit"


def test_every_problem_is_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)

    with pytest.raises(ConfigError) as caught:
        load_scenario(path)

    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    where = [line.split(": ")[1] for line in lines]
    assert {"steps", "surprise", "market.base.symbol", "market.quote.decimals"} <= set(where)
    assert "flow.arb.budget_base" in where  # by the agent's name, not its index and kind
    assert caught.value.exit_code == 2


def test_a_bad_value_given_with_set_is_blamed_on_it_in_one_line(tmp_path: Path) -> None:
    """It was blamed on the file, named `bots.0` and echoed by a second, spurious line
    ("bots: Tuple should have at least 1 item") (red teams 3 and 4)."""
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path, {"bots.mm.inventory.base": -1})
    assert str(caught.value) == (
        "--set bots.mm.inventory.base: bots.mm.inventory.base: "
        "Input should be greater than or equal to 0"
    )


def test_strategy_params_are_checked_by_the_strategy_one_line_each(tmp_path: Path) -> None:
    text = GOOD.replace("spread_bps = 20, size = 1000", "spread_bps = 0, colour = 1")
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_scenario(path)

    lines = str(caught.value).splitlines()
    assert len(lines) == 3  # spread_bps too small, size missing, colour unknown
    assert all(line.startswith(f"{path}: bots.mm: strategy fixed_spread: ") for line in lines)


def test_duplicate_agent_names_and_csv_with_a_clock_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace('name = "noise"', 'name = "mm"')
    with pytest.raises(ConfigError, match="agent names must be unique: mm"):
        load_scenario(write(tmp_path, text))
    csv_text = _csv_scenario().replace("steps = 20", "block_interval_s = 5")
    with pytest.raises(ConfigError, match="takes its step times from the file"):
        load_scenario(write(tmp_path, csv_text))


@pytest.mark.parametrize(
    "start", ["1960-01-01T00:00:00Z", "9999-12-31T23:59:00Z"], ids=["before-1970", "after-9999"]
)
def test_block_times_outside_1970_to_9999_are_refused_before_any_chain(
    tmp_path: Path, start: str
) -> None:
    """Before 1970 anvil refused to start (exit 3, "anvil missing"); past 9999 the run went to
    the end and the report crashed on the date, half written (red teams 3 and 4)."""
    with pytest.raises(ConfigError, match=r"start_time: the run's block times must lie in 1970"):
        load_scenario(write(tmp_path, f'start_time = "{start}"\n' + GOOD))


def test_a_price_file_timestamp_past_9999_is_refused() -> None:
    with pytest.raises(ValueError, match="not a timestamp in 1970 .. 9999"):
        unix_seconds("253402300800")
    assert unix_seconds("253402300799") == 253_402_300_799


def _csv_scenario() -> str:
    return GOOD.replace(
        'kind = "gbm"\nstart = "100"\nvolatility = 0.3', 'kind = "csv"\nfile = "p.csv"'
    )


def test_overrides_reach_the_only_bot_and_named_agents(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    scenario, _ = load_scenario(
        path,
        {"strategy.params.spread_bps": 80, "flow.noise.probability": 0.9, "path.volatility": 0.1},
    )

    assert scenario.bots[0].strategy.params["spread_bps"] == 80
    assert scenario.flow[0].probability == 0.9  # type: ignore[union-attr]
    assert scenario.path.volatility == 0.1  # type: ignore[union-attr]


def test_an_override_naming_no_agent_is_an_error() -> None:
    data = {"bots": [{"name": "a"}, {"name": "b"}]}
    with pytest.raises(ConfigError, match="say which"):
        set_dotted(data, "strategy.params.size", 1)
    with pytest.raises(ConfigError, match="no agent named 'c'"):
        set_dotted(data, "bots.c.strategy.name", "x")


def test_sweep_values_parse_as_toml_scalars() -> None:
    parsed = parse_assignments(["a.b=20,40", "c=0.5,x", "d=true"], "--sweep")

    assert parsed == {"a.b": [20, 40], "c": [0.5, "x"], "d": [True]}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments(["novalue"], "--sweep")


def test_a_grid_has_one_validated_scenario_per_point(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    _, raw = load_scenario(path)

    points = build_grid(
        raw, path, {"strategy.params.spread_bps": [10, 20, 40], "seed": [1, 2]}, {"steps": 3}
    )

    assert len(points) == 6
    assert [p.scenario.seed for p in points[:2]] == [1, 2]
    assert {p.scenario.steps for p in points} == {3}
    assert points[5].values == {"strategy.params.spread_bps": 40, "seed": 2}


def test_a_bad_grid_value_is_reported_before_anything_runs(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    _, raw = load_scenario(path)

    with pytest.raises(ConfigError) as caught:
        build_grid(raw, path, {"strategy.params.spread_bps": [10, -5]}, {})

    assert str(caught.value).startswith("[strategy.params.spread_bps=-5] ")


def test_a_seeded_path_is_the_same_every_time_and_starts_at_start(tmp_path: Path) -> None:
    scenario, _ = load_scenario(write(tmp_path, GOOD))

    first, second = build_path(scenario), build_path(scenario)

    assert first == second and len(first) == 20
    assert first.prices[0] == Decimal("100")
    assert first.times[1] - first.times[0] == 60
    assert first.at(-3) == first.prices[0] and first.at(99) == first.prices[-1]


def test_jump_paths_differ_from_their_diffusion(tmp_path: Path) -> None:
    scenario, _ = load_scenario(write(tmp_path, GOOD))
    jumpy = scenario_from_raw(
        {**_raw(tmp_path), "path": {"kind": "jump", "start": "100", "volatility": 0.3,
                                    "jump_intensity": 50_000, "jump_std": 0.05}},
        tmp_path / "s.toml",
        {},
    )  # fmt: skip

    assert build_path(jumpy).prices != build_path(scenario).prices


def _raw(tmp_path: Path) -> dict[str, object]:
    return load_scenario(write(tmp_path, GOOD))[1]


def test_csv_paths_take_iso_or_unix_times_and_refuse_going_back(tmp_path: Path) -> None:
    good = write(tmp_path, "timestamp,price\n2025-01-01T00:00:00Z,99.5\n1735689660,99.6\n", "p.csv")
    assert load_csv(good) == [(1735689600, Decimal("99.5")), (1735689660, Decimal("99.6"))]
    back = write(tmp_path, "100,1\n100,2\n", "q.csv")
    with pytest.raises(ConfigError, match=r"q.csv:2: timestamps must increase"):
        load_csv(back)


def test_csv_scenarios_resolve_the_file_next_to_the_scenario(tmp_path: Path) -> None:
    write(tmp_path, "timestamp,price\n100,1.5\n160,1.6\n220,1.7\n", "p.csv")
    scenario, _ = load_scenario(write(tmp_path, _csv_scenario().replace("steps = 20", "")))

    path = build_path(scenario)

    assert path.times == (100, 160, 220) and path.prices[-1] == Decimal("1.7")
    with pytest.raises(ConfigError, match="4 asked, but"):
        build_path(Scenario.model_validate({**scenario.model_dump(), "steps": 4}))


def test_max_drawdown_is_the_worst_fall_from_a_peak() -> None:
    assert max_drawdown([100, 110, 99, 105, 90, 120]) == (20.0, 20 / 110)
    assert max_drawdown([1, 2, 3]) == (0.0, 0.0)


def test_sharpe_is_none_without_variation_and_signed_with_it() -> None:
    times = [0, 60, 120, 180]
    assert sharpe([100, 100, 100, 100], times) is None
    rising = sharpe([100, 101, 101.5, 103], times)
    assert rising is not None and rising > 0


def test_progress_redraws_one_line_on_a_terminal_and_prints_tenths_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Terminal(), io.StringIO()
    for stream in (tty, plain):
        monkeypatch.setattr("sys.stderr", stream)
        with progress("bt", "step", every_tenth("bt")) as update:
            for done in range(1, 21):
                update(done, 20, f"{done} txs")

    assert "20/20" in tty.getvalue() and "\r" in tty.getvalue()  # tqdm redraws one line
    lines = plain.getvalue().splitlines()
    assert len(lines) == 11  # the first step, then every tenth
    assert lines[-1] == "bt: step 20/20 (100%), 20 txs"


def test_a_sweep_value_given_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"--sweep strategy.params.spread_bps: 10 given more"):
        build_grid(tomllib.loads(GOOD), path, {"strategy.params.spread_bps": [10, 20, 10]}, {})
