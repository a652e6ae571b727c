"""Gas is deterministic for a given compiler and EVM, so the issue's targets are asserted here."""

import pytest

from bench.gas import (
    BEFORE_SWITCH,
    BUDGETS,
    REFRESH,
    REQUOTE_SIZES,
    REQUOTE_UNTIL_BUDGET,
    TARGETS,
    measure,
)


@pytest.fixture(scope="module")
def gas() -> dict[str, int]:
    return measure()


@pytest.mark.parametrize("operation", sorted(TARGETS))
def test_operation_gas_is_within_target(gas: dict[str, int], operation: str) -> None:
    assert gas[operation] <= TARGETS[operation], f"{operation}: {gas[operation]:,} gas"


@pytest.mark.parametrize("operation", sorted(BUDGETS))
def test_the_deadman_switch_adds_at_most_its_budget(gas: dict[str, int], operation: str) -> None:
    before, extra = BUDGETS[operation]
    added = gas[operation] - BEFORE_SWITCH[before]
    assert added <= extra, f"{operation}: {added:+,} gas over {before} before the switch"


def test_a_refresh_is_a_small_transaction_and_turning_the_switch_on_costs_more(
    gas: dict[str, int],
) -> None:
    assert gas[REFRESH] <= 30_000
    assert gas["setDeadline 0 -> nonzero (switch on)"] > gas[REFRESH] + 15_000  # a fresh slot


@pytest.mark.parametrize("n", REQUOTE_SIZES)
def test_requote_costs_clearly_less_than_separate_cancels_and_makes(
    gas: dict[str, int], n: int
) -> None:
    together = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
    apart = gas[f"separately: {n} cancels + {n} makes"]
    assert together < 0.75 * apart


@pytest.mark.parametrize("case", sorted(REQUOTE_UNTIL_BUDGET))
@pytest.mark.parametrize("n", REQUOTE_SIZES)
def test_requote_until_costs_requote_plus_its_budget(
    gas: dict[str, int], n: int, case: str
) -> None:
    plain = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
    fixed, per_offer = REQUOTE_UNTIL_BUDGET[case]
    guarded = gas[f"requoteUntil {n}, {case}"]
    assert plain < guarded <= plain + fixed + per_offer * n, f"{guarded - plain:+,} gas"
