"""The small shared pieces behind the CLI: number formats, output folders, argument ranges and
the redaction of secret commands' errors."""

from __future__ import annotations

import argparse
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.cli import argtypes
from bots.cli.parser import HIDDEN, hide
from bots.errors import ConfigError
from bots.numbers import count, decimal, whole
from bots.outputs import writable_dir

# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("units", "decimals", "places", "shown"),
    [
        (123456, 2, None, "1,234.56"),
        (-123456, 2, None, "-1,234.56"),
        (5, 18, None, "0.000000000000000005"),
        (2**96 - 1, 0, None, f"{2**96 - 1:,}"),
        (2**255, 18, 2, f"{2**255 // 10**18:,}.{round((2**255 % 10**18) / 10**16):02d}"),
        (-4, 2, 1, "0.0"),  # -0.04 shown with one place: no "-0.0"
        (150, 2, 0, "2"),  # 1.50 rounds half-even to 2
        (250, 2, 0, "2"),  # 2.50 rounds half-even to 2
    ],
)
def test_whole_tokens_are_exact_grouped_and_never_negative_zero(
    units: int, decimals: int, places: int | None, shown: str
) -> None:
    assert whole(units, decimals, places) == shown


@given(st.integers(min_value=-(2**256), max_value=2**256), st.integers(0, 30))
def test_whole_reads_back_as_the_units(units: int, decimals: int) -> None:
    text = whole(units, decimals)
    assert int(text.replace(",", "").replace(".", "")) == units  # exact: every digit is there
    assert len(text.partition(".")[2]) == decimals


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (Decimal("-0.001"), 2, "0.00"),
        (-0.004, 2, "0.00"),
        (Fraction(-1, 3), 3, "-0.333"),
        (1234567.891, 2, "1,234,567.89"),
        (math.nan, 2, "nan"),
        (-math.inf, 2, "-inf"),
    ],
)
def test_decimal_shows_no_negative_zero_and_survives_nan(
    value: Decimal | float | Fraction, places: int, shown: str
) -> None:
    assert decimal(value, places) == shown


def test_counts_say_1_bot_and_2_bots() -> None:
    assert [count(n, "bot") for n in (0, 1, 2, 1000)] == ["0 bots", "1 bot", "2 bots", "1,000 bots"]
    assert count(2, "grid point") == "2 grid points"


# ---------------------------------------------------------------- output folders


def test_an_output_folder_is_created_and_probed(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert writable_dir(target, "--out") == target and target.is_dir()
    assert list(target.iterdir()) == []  # the probe is gone


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("file", "is a file: give a directory"),
        ("under a file", "cannot create it: Not a directory"),
    ],
)
def test_an_output_that_cannot_be_a_folder_is_one_line(
    tmp_path: Path, layout: str, message: str
) -> None:
    (tmp_path / "f").write_text("x")
    target = tmp_path / "f" if layout == "file" else tmp_path / "f" / "sub"
    with pytest.raises(ConfigError, match=message) as info:
        writable_dir(target, "--out")
    assert str(info.value).startswith(f"--out {target}")


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (argtypes.PORT, "65536"),
        (argtypes.PORT, "-1"),
        (argtypes.PORT, "0x10"),
        (argtypes.finite(0, 10), "0"),
        (argtypes.finite(0, 10), "nan"),
        (argtypes.finite(0, 10), "inf"),
        (argtypes.finite(0, 10), "1e308"),
        (argtypes.positive_decimal(100), "0"),
        (argtypes.positive_decimal(100), "NaN"),
        (argtypes.positive_decimal(100), "Infinity"),
        (argtypes.positive_decimal(100), "abc"),
    ],
)
def test_out_of_range_arguments_are_refused(parse: object, text: str) -> None:
    assert callable(parse)
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_in_range_arguments_keep_their_exact_value() -> None:
    assert argtypes.PORT("0") == 0 and argtypes.PORT("65535") == 65535
    assert argtypes.finite(0, 10, low_open=False)("0") == 0.0
    assert argtypes.positive_decimal(1000)("101.50") == Decimal("101.50")


@pytest.mark.parametrize(
    "message",
    [
        "argument --index: not a whole number: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cb'",
        "unrecognized arguments: --key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cb",
        'argument --path: invalid choice: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cb\'s"',
    ],
)
def test_secret_commands_errors_lose_the_values(message: str) -> None:
    hidden = hide(message)
    assert "0xac09" not in hidden and HIDDEN in hidden


def test_hide_keeps_messages_that_quote_nothing() -> None:
    message = "the following arguments are required: keystore"
    assert hide(message) == message
