"""The seed job's preflight: can the initializer pay for every action before one is sent?

Half a seed is worse than none, so the actions still due are added up (tokens handed out,
ether topped up or donated, and gas money at the node's price times an allowance per kind of
action) against what the initializer holds plus what it will issue, and the lot is refused
with every shortfall listed when it could not finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bots.errors import OtcmmError
from bots.numbers import count
from bots.seed.actions import (
    Action,
    DeployAsset,
    DeployMarket,
    Donate,
    Holdings,
    Issue,
    Offer,
    TopUpGas,
    TopUpToken,
    UseAsset,
    describe_amount,
)
from bots.seed.amounts import format_units
from bots.seed.plan import NATIVE, NATIVE_DECIMALS


class SeedError(OtcmmError):
    """The plan cannot be carried out with what the initializer holds; nothing was sent.

    Its own exit code: a Job that stops here needs funds or a smaller plan, not a retry.
    """

    exit_code = 5


GAS_PER_ACTION: Mapping[type, int] = {
    DeployMarket: 3_000_000,  # measured ~2.06M
    DeployAsset: 1_600_000,  # ~1.09M
    UseAsset: 0,  # only written to the deployment file
    Issue: 110_000,  # ~72k
    TopUpGas: 21_000,
    TopUpToken: 80_000,  # ~51k
    Offer: 420_000,  # reset ~24k + approve ~46k + a pair's first offer ~199k
    Donate: 80_000,
}
"""Gas units allowed per action for the preflight (measured on anvil, plus ~50%)."""


@dataclass(frozen=True)
class GasEstimate:
    """What the actions may cost in gas money: the node's price times a per-kind allowance."""

    price_wei: int
    per_action: Mapping[type, int] = field(default_factory=lambda: dict(GAS_PER_ACTION))

    def cost_wei(self, actions: Iterable[Action]) -> int:
        return self.price_wei * sum(self.per_action[type(action)] for action in actions)


def preflight(actions: Sequence[Action], initializer: Holdings, gas: GasEstimate) -> list[str]:
    """One line per asset the initializer would run out of; empty when the plan is affordable.

    Planned issuance counts as held: before the first run no asset exists and everything the
    initializer gives away comes from what it issues.
    """
    has: dict[str, int] = {NATIVE: initializer.native, **initializer.tokens}
    needs: dict[str, int] = {NATIVE: gas.cost_wei(actions)}
    decimals: dict[str, int] = {NATIVE: NATIVE_DECIMALS}
    for action in actions:
        if isinstance(action, Issue):
            has[action.symbol] = has.get(action.symbol, 0) + action.amount
        elif isinstance(action, TopUpGas | TopUpToken | Offer | Donate):
            needs[action.symbol] = needs.get(action.symbol, 0) + action.amount
            decimals[action.symbol] = action.decimals
    problems = []
    for symbol, need in needs.items():
        held = has.get(symbol, 0)
        if need > held:
            d, trim = decimals[symbol], symbol == NATIVE
            needs_, has_ = format_units(need, d, trim=trim), format_units(held, d, trim=trim)
            lacks = describe_amount(need - held, symbol, d)
            problems.append(f"initializer lacks {lacks} (needs {needs_}, has {has_})")
    return problems


def require_affordable(actions: Sequence[Action], initializer: Holdings, gas: GasEstimate) -> None:
    """`SeedError` listing every shortfall, so the operator fixes them all in one go."""
    problems = preflight(actions, initializer, gas)
    if problems:
        header = f"seed plan refused, nothing sent: {count(len(problems), 'shortfall')}"
        raise SeedError("\n".join([header, *problems]))
