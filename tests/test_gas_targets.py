"""Gas is deterministic for a given compiler and EVM, so the issue's targets are asserted here."""

import pytest

from bench.gas import REQUOTE_SIZES, TARGETS, measure


@pytest.fixture(scope="module")
def gas() -> dict[str, int]:
    return measure()


@pytest.mark.parametrize("operation", sorted(TARGETS))
def test_operation_gas_is_within_target(gas: dict[str, int], operation: str) -> None:
    assert gas[operation] <= TARGETS[operation], f"{operation}: {gas[operation]:,} gas"


@pytest.mark.parametrize("n", REQUOTE_SIZES)
def test_requote_costs_clearly_less_than_separate_cancels_and_makes(
    gas: dict[str, int], n: int
) -> None:
    together = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
    apart = gas[f"separately: {n} cancels + {n} makes"]
    assert together < 0.75 * apart
