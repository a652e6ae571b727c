"""A bad bot setting is blamed on the source it came from, and a source that cannot apply is
refused, not warned about: a strategy param from `$OTCMM_STRATEGY__PARAMS__*` (was blamed on the
config file), a directory in the secrets directory where a value's file belongs (pydantic-settings
printed a two-line `UserWarning` and ignored it), a strategy size no offer could carry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from bots.errors import ConfigError
from bots.service.config import load_config
from strategies.bands import Band
from strategies.money import MAX_UNITS
from strategies.registry import BUILTINS
from tests.test_bot_config import GOOD, clean_env, write

__all__ = ["clean_env"]  # the autouse fixture: no OTCMM_* from outside
REPO = Path(__file__).resolve().parents[1]


def test_a_strategy_param_from_the_environment_is_blamed_on_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTCMM_STRATEGY__PARAMS__SPREAD_BPS", "nan")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD))
    assert str(info.value).startswith(
        "$OTCMM_STRATEGY__PARAMS__SPREAD_BPS: strategy fixed_spread: spread_bps: "
    )


def test_a_strategy_param_from_the_file_is_still_blamed_on_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("spread_bps = 40", "spread_bps = -4"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: strategy fixed_spread: spread_bps: ")


def test_a_size_above_what_an_offer_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTCMM_STRATEGY__PARAMS__SIZE", str(10**35))
    with pytest.raises(ConfigError, match=r"^\$OTCMM_STRATEGY__PARAMS__SIZE: .*size: .*less than"):
        load_config(write(tmp_path, GOOD))
    monkeypatch.setenv("OTCMM_STRATEGY__PARAMS__SIZE", str(MAX_UNITS - 1))
    config = load_config(write(tmp_path, GOOD))  # the largest an offer holds is taken
    assert config.build_strategy().params.size == MAX_UNITS - 1


def _amount_fields() -> list[tuple[str, str, type[BaseModel]]]:
    models: list[type[BaseModel]] = [cls.Params for cls in BUILTINS.values()] + [Band]
    return [
        (model.__name__, name, model)
        for model in models
        for name in model.model_fields
        if re.search(r"size|amount|cutoff", name)
    ]


def test_every_size_and_amount_of_every_strategy_is_below_2_to_the_96() -> None:
    fields = _amount_fields()
    assert len(fields) >= 10  # sizes, min sizes, band amounts (a budget may exceed any offer)
    for model_name, name, model in fields:
        metadata = model.model_fields[name].metadata
        bounds = [getattr(m, "lt", None) for m in metadata] + [
            getattr(m, "le", None) for m in metadata
        ]
        assert any(b is not None and b <= MAX_UNITS for b in bounds), (model_name, name)


def test_a_directory_where_a_secret_file_belongs_is_refused_in_one_line(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.d"
    (secrets / "otcmm_rpc_url").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
    env |= {"OTCMM_SECRETS_DIR": str(secrets), "PYTHONPATH": str(REPO)}
    path = write(tmp_path, GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "run", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        f"otcmm: error: {secrets / 'otcmm_rpc_url'}: is a directory; the secret of rpc_url must "
        "be a file"
    )
