"""Bot config: TOML + OTCMM_* env + secrets dir, validated with one line per problem."""

from __future__ import annotations

import subprocess
import sys
import typing
from decimal import Decimal
from pathlib import Path

import pytest

from bots.errors import ConfigError
from bots.service.config import BotConfig, RpcConfig, RuntimeConfig, load_config
from bots.tick.limits import ReconcileConfig, RiskLimits

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BASE = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
QUOTE = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"

GOOD = f"""
name = "maker-1"
rpc_url = "http://127.0.0.1:8545"
chain_id = 8995
market = "{MARKET}"
base = "{BASE}"
quote = "{QUOTE}"
tick_interval_s = 2

[keystore]
path = "keys/maker.json"
password_file = "secrets/maker.pass"

[strategy]
name = "fixed_spread"
params = {{ spread_bps = 40, size = 1_000, levels = 2 }}

[feed]
kind = "static"
price = "1.25"

[[fallback_feeds]]
kind = "csv"
path = "prices.csv"

[risk]
max_open_offers = 6
max_gas_price_wei = 5_000_000_000
feed_max_age_s = 30

[runtime]
journal = "state/journal.jsonl"
metrics_port = 0
"""


def write(tmp_path: Path, text: str, name: str = "bot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("OTCMM_"):
            monkeypatch.delenv(key)


def test_a_good_file_loads_with_typed_values_and_relative_paths_rebased(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.name == "maker-1"
    assert config.market == MARKET
    assert config.base == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"  # checksummed
    assert config.risk.max_gas_price_wei == 5_000_000_000
    assert config.keystore.path == tmp_path / "keys/maker.json"
    assert config.keystore.password_file == tmp_path / "secrets/maker.pass"
    assert config.runtime.journal == tmp_path / "state/journal.jsonl"
    assert config.fallback_feeds[0].path == tmp_path / "prices.csv"  # type: ignore[union-attr]
    assert config.build_strategy().name == "fixed_spread"


def test_rpc_settings_default_to_the_clients_and_can_be_tuned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = load_config(write(tmp_path, GOOD)).rpc
    assert (default.timeout_s, default.retries, default.backoff_s, default.deadline_s) == (
        10.0,
        5,
        0.25,
        None,
    )
    with pytest.raises(ConfigError, match="rpc.retries: Input should be greater than or equal"):
        load_config(write(tmp_path, GOOD + "\n[rpc]\nretries = -1\n"))
    monkeypatch.setenv("OTCMM_RPC__RETRIES", "8")
    tuned = load_config(write(tmp_path, GOOD + "\n[rpc]\ntimeout_s = 2\ndeadline_s = 15\n")).rpc
    assert (tuned.timeout_s, tuned.retries, tuned.deadline_s) == (2.0, 8, 15.0)


def test_environment_overrides_the_file_including_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTCMM_RPC_URL", "http://node:8545")
    monkeypatch.setenv("OTCMM_RISK__MAX_OPEN_OFFERS", "2")
    monkeypatch.setenv("OTCMM_TICK_INTERVAL_S", "7.5")
    config = load_config(write(tmp_path, GOOD))
    assert config.rpc_url == "http://node:8545"
    assert config.risk.max_open_offers == 2
    assert config.risk.max_gas_price_wei == 5_000_000_000  # the rest of the section stays
    assert config.tick_interval_s == 7.5


def test_secrets_directory_fills_values_like_a_mounted_kubernetes_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.d"
    secrets.mkdir()
    (secrets / "otcmm_rpc_url").write_text("https://node.internal/rpc", encoding="utf-8")
    config = load_config(write(tmp_path, GOOD), secrets_dir=secrets)
    assert config.rpc_url == "https://node.internal/rpc"


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    bad = (
        GOOD.replace(f'market = "{MARKET}"', 'market = "0x123"')
        .replace("tick_interval_s = 2", "tick_interval_s = -1")
        .replace("max_open_offers = 6", "max_open_offers = 6\nmax_gas_price = 1")
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad))
    lines = str(info.value).splitlines()
    assert len(lines) == 3, lines
    assert any("market: '0x123' is not an address" in line for line in lines)
    assert any("tick_interval_s: Input should be greater than 0" in line for line in lines)
    assert any("risk.max_gas_price: Extra inputs are not permitted" in line for line in lines)
    assert all(line.startswith(str(tmp_path / "bot.toml")) for line in lines)


def test_strategy_params_are_validated_by_the_strategy_at_load_time(tmp_path: Path) -> None:
    bad = GOOD.replace("spread_bps = 40", "spread_bps = 0").replace("size = 1_000", "sise = 1")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad))
    text = str(info.value)
    assert "strategy fixed_spread: spread_bps: Input should be greater than 0" in text
    assert "sise: Extra inputs are not permitted" in text
    assert "size: Field required" in text


def test_unknown_strategy_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'fixed-spread'; known: .*fixed_spread"):
        load_config(write(tmp_path, GOOD.replace('name = "fixed_spread"', 'name = "fixed-spread"')))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = [", "invalid TOML"),
        (GOOD.replace('kind = "static"', 'kind = "oracle"'), "feed"),
        (GOOD.replace('rpc_url = "http://127.0.0.1:8545"', 'rpc_url = "ws://x"'), "http"),
    ],
)
def test_malformed_inputs_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_cli_check_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = GOOD.replace("tick_interval_s = 2", "tick_interval_s = 0").replace(
        "feed_max_age_s = 30", "feed_max_age_s = -5"
    )
    path = write(tmp_path, bad)
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "run", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("otcmm: error: ") for line in lines)
    assert "Traceback" not in done.stderr


def with_keystore_and_prices(tmp_path: Path) -> str:
    """GOOD's keystore, password file and price file, made for real; the keystore's address."""
    from bots.chain.keystore import create_keystore

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/maker.pass").write_text("pw\n", encoding="utf-8")
    (tmp_path / "prices.csv").write_text("1,1.25\n2,1.26\n", encoding="utf-8")
    return create_keystore(tmp_path / "keys/maker.json", "pw", scrypt_n=2**4)


def test_cli_check_accepts_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    address = with_keystore_and_prices(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bots.cli",
            "run",
            "--config",
            str(write(tmp_path, GOOD)),
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"ok (bot maker-1, strategy fixed_spread, account {address})" in done.stdout


def test_config_is_frozen() -> None:
    assert BotConfig.model_config.get("frozen") is True


def test_symbols_and_market_come_from_the_seed_jobs_deployment_file(tmp_path: Path) -> None:
    from bots.market.deployment import AssetRecord, Deployment, save_deployment

    save_deployment(
        tmp_path / "deployment.json",
        Deployment(
            chain_id=8995,
            market=MARKET,
            assets={
                "BND30": AssetRecord(address=BASE, name="Bond", decimals=2),
                "EURT": AssetRecord(address=QUOTE, name="Euro", decimals=2),
            },
        ),
    )
    text = (
        GOOD.replace(f'market = "{MARKET}"\n', 'deployment = "deployment.json"\n')
        .replace(f'base = "{BASE}"', 'base = "BND30"')
        .replace(f'quote = "{QUOTE}"', 'quote = "EURT"')
        .replace("chain_id = 8995\n", "")
    )
    config = load_config(write(tmp_path, text))
    assert config.market == MARKET
    assert config.base == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    assert config.quote == QUOTE
    assert config.chain_id == 8995


def test_a_symbol_without_a_deployment_file_is_explained(tmp_path: Path) -> None:
    text = GOOD.replace(f'base = "{BASE}"', 'base = "BND30"')
    with pytest.raises(ConfigError, match="the symbol 'BND30' needs a deployment file"):
        load_config(write(tmp_path, text))


def test_an_unknown_symbol_in_the_deployment_is_a_config_error(tmp_path: Path) -> None:
    from bots.market.deployment import Deployment, save_deployment

    save_deployment(tmp_path / "d.json", Deployment(chain_id=8995, market=MARKET, assets={}))
    text = GOOD.replace(f'base = "{BASE}"', 'base = "BND30"\ndeployment = "d.json"')
    with pytest.raises(ConfigError, match="BND30"):
        load_config(write(tmp_path, text))


def test_a_deployment_whose_market_is_still_in_flight_is_explained(tmp_path: Path) -> None:
    """The seed job writes the file before its first deploy is mined: no market in it yet."""
    from bots.market.deployment import Deployment, TxRecord, save_deployment

    deploying = TxRecord(nonce=0, kind="deploy market", tx="0x" + "ab" * 32, creates=MARKET)
    save_deployment(tmp_path / "d.json", Deployment(chain_id=8995, transactions=[deploying]))
    text = GOOD.replace(f'market = "{MARKET}"\n', 'deployment = "d.json"\n')
    with pytest.raises(
        ConfigError, match=r"d\.json has no market yet: run the seed job to the end"
    ):
        load_config(write(tmp_path, text))


# --- every number bounded (a setting of inf or 1e999999 must not switch a guard off) --------


def _leaf_types(annotation: object) -> set[object]:
    """The plain types inside `X | None` and `Annotated[X, ...]`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _leaf_types(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    return set().union(*(_leaf_types(arg) for arg in args))


def _numeric_settings() -> list[tuple[str, str]]:
    """`(env path, kind)` of every numeric setting of the bot and its sections, found from the
    models themselves so that a new setting is covered without touching this test."""
    found: list[tuple[str, str]] = []
    sections = {"": BotConfig, "risk": RiskLimits, "runtime": RuntimeConfig, "rpc": RpcConfig}
    sections["reconcile"] = ReconcileConfig
    for section, model in sections.items():
        for name, field in model.model_fields.items():
            args = _leaf_types(field.annotation)
            kind = next(
                (k for t, k in ((float, "float"), (Decimal, "decimal"), (int, "int")) if t in args),
                None,
            )
            if kind is not None:
                found.append((f"{section}__{name}" if section else name, kind))
    return found


ABSURD = {"float": ["inf", "nan", "1e300"], "decimal": ["1e999999", "Infinity"], "int": ["1e80"]}


@pytest.mark.parametrize(
    ("setting", "value"),
    [(name, value) for name, kind in _numeric_settings() for value in ABSURD[kind]],
)
def test_every_numeric_setting_refuses_infinite_and_absurd_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    if value == "1e80":
        value = str(10**80)
    monkeypatch.setenv(f"OTCMM_{setting.upper()}", value)

    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, GOOD))

    assert setting.split("__")[-1] in str(raised.value)


def test_the_numeric_settings_walk_finds_the_guards() -> None:
    names = {name for name, _ in _numeric_settings()}
    assert {"tick_interval_s", "runtime__shutdown_timeout_s", "rpc__timeout_s"} <= names
    assert {"risk__max_loss", "risk__max_price_jump_bps", "risk__price_confirm_s"} <= names


@pytest.mark.parametrize(
    ("feed", "field"),
    [
        ('kind = "gbm"\nstart = "100"\nvolatility = inf', "volatility"),
        ('kind = "gbm"\nstart = "100"\nstep_s = 1e300', "step_s"),
        ('kind = "gbm"\nstart = "1e999999"', "start"),
        ('kind = "static"\nprice = "1e-999999"', "price"),
        ('kind = "http"\nurl = "http://x"\nfield = "p"\ntimeout_s = inf', "timeout_s"),
    ],
)
def test_feed_numbers_are_finite_and_bounded(tmp_path: Path, feed: str, field: str) -> None:
    text = GOOD.replace('[feed]\nkind = "static"\nprice = "1.25"', f"[feed]\n{feed}")

    with pytest.raises(ConfigError, match=f"feed.*{field}"):
        load_config(write(tmp_path, text))


def test_cli_check_refuses_an_infinite_tick_interval_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("tick_interval_s = 2", "tick_interval_s = inf"))
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "run", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert "tick_interval_s" in line and line.startswith("otcmm: error: ")
