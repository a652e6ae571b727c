"""The seed job's decisions: what is still to do, as a list of actions.

Planning is pure: the plan, the deployment record and a snapshot of balances go in, an ordered
list of actions comes out, so idempotence is a property of one function that tests can check
without a chain. Top-ups are differences to targets (never negative: tokens are never taken
back), issuance tops the total supply up to the plan's, and offerings and donations are due only
while their id is not recorded. An existing token is never deployed or issued: it is recorded
in the deployment file once (`UseAsset`, no transaction) and handed out from the initializer's
balance. Whether the initializer can pay for the actions is `bots.seed.preflight`'s
question; carrying them out is `bots.seed.run`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from web3 import Web3

from bots.errors import ConfigError
from bots.market.deployment import AssetRecord, Deployment
from bots.numbers import count
from bots.seed.amounts import format_units
from bots.seed.assets import Asset, ExistingAsset
from bots.seed.plan import NATIVE, NATIVE_DECIMALS, Donation, SeedPlan, offer_amounts

Progress = Callable[[int, int, str], None]
"""Called after each action with (actions done, actions in total, the action's label)."""
IDLE_TIMEOUT_S = 120.0


def describe_amount(units: int, symbol: str, decimals: int) -> str:
    """`1500.00 EURT`, or `0.25 ether` for the native coin: exact, for messages."""
    if symbol == NATIVE:
        return f"{format_units(units, decimals, trim=True)} ether"
    return f"{format_units(units, decimals)} {symbol}"


@dataclass(frozen=True)
class DeployMarket:
    @property
    def label(self) -> str:
        return "deploy OtcMarket"


@dataclass(frozen=True)
class DeployAsset:
    symbol: str
    name: str
    decimals: int
    cap: int  # base units; 0 = uncapped

    @property
    def label(self) -> str:
        return f"deploy asset {self.symbol} ({self.name}, {self.decimals} decimals)"


@dataclass(frozen=True)
class UseAsset:
    """Record an existing token in the deployment file; no transaction."""

    symbol: str
    address: str
    name: str
    decimals: int

    @property
    def label(self) -> str:
        return f"use existing asset {self.symbol} at {self.address} ({self.decimals} decimals)"

    @property
    def record(self) -> AssetRecord:
        return AssetRecord(
            address=self.address, name=self.name, decimals=self.decimals, existing=True
        )


@dataclass(frozen=True)
class Issue:
    symbol: str
    amount: int
    decimals: int

    @property
    def label(self) -> str:
        return (
            f"issue {describe_amount(self.amount, self.symbol, self.decimals)} to the initializer"
        )


@dataclass(frozen=True)
class TopUpGas:
    name: str
    address: str
    amount: int  # wei
    symbol: str = NATIVE
    decimals: int = NATIVE_DECIMALS

    @property
    def label(self) -> str:
        return f"top up {self.name} by {describe_amount(self.amount, NATIVE, NATIVE_DECIMALS)}"


@dataclass(frozen=True)
class TopUpToken:
    name: str
    address: str
    symbol: str
    amount: int
    decimals: int

    @property
    def label(self) -> str:
        return f"top up {self.name} by {describe_amount(self.amount, self.symbol, self.decimals)}"


@dataclass(frozen=True)
class Offer:
    id: str
    symbol: str
    amount: int
    decimals: int
    quote: str
    buy_amount: int
    quote_decimals: int

    @property
    def label(self) -> str:
        pay = describe_amount(self.amount, self.symbol, self.decimals)
        buy = describe_amount(self.buy_amount, self.quote, self.quote_decimals)
        return f"offer {self.id}: {pay} for {buy}"


@dataclass(frozen=True)
class Donate:
    id: str
    to: str  # participant name or address, as the plan says
    address: str
    symbol: str  # NATIVE for ether
    amount: int
    decimals: int

    @property
    def label(self) -> str:
        amount = describe_amount(self.amount, self.symbol, self.decimals)
        return f"donate {self.id}: {amount} to {self.to}"


Action = DeployMarket | DeployAsset | UseAsset | Issue | TopUpGas | TopUpToken | Offer | Donate


@dataclass(frozen=True)
class Holdings:
    """One account's balances: wei, and base units per asset symbol (absent means 0)."""

    native: int
    tokens: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainState:
    """What the chain says now, for the initializer and every participant (by name)."""

    initializer: Holdings
    participants: Mapping[str, Holdings]
    addresses: Mapping[str, str]
    supplies: Mapping[str, int]  # totalSupply of each asset the seed job deployed


def plan_actions(plan: SeedPlan, deployment: Deployment | None, state: ChainState) -> list[Action]:
    """Everything still to do, in execution order; empty when the chain matches the plan.

    `deployment` None (or without a market) means the market is not deployed yet. Contracts
    come first (the rest needs their addresses; existing tokens are recorded in their place),
    then issuance (it funds the transfers), then top-ups, offerings and donations in plan
    order. Transactions the deployment records as in flight must be settled before
    (`bots.seed.settle`): planning reads only the chain. `plan` must have every decimals known
    (`bots.seed.existing.resolve_existing`). Raises `ConfigError` when the deployment file
    records an asset otherwise than the plan describes it.
    """
    no_market = deployment is None or deployment.market is None
    actions: list[Action] = [DeployMarket()] if no_market else []
    recorded = _check_compatible(plan, deployment)
    for asset in plan.assets:
        if asset.symbol in recorded:
            continue
        if isinstance(asset, ExistingAsset):
            decimals = plan.decimals(asset.symbol)
            actions.append(UseAsset(asset.symbol, asset.address, asset.label, decimals))
        else:
            actions.append(DeployAsset(asset.symbol, asset.name, asset.decimals, asset.cap_units))
    for asset in plan.assets:  # an existing token is never issued
        missing = 0 if isinstance(asset, ExistingAsset) else _to_issue(asset, state)
        if missing > 0:
            actions.append(Issue(asset.symbol, missing, plan.decimals(asset.symbol)))
    actions += _top_ups(plan, state)
    offered = set() if deployment is None else set(deployment.offerings)
    actions += [
        _offer(plan, o.id, o.asset, o.quote, offer_amounts(plan, o))
        for o in plan.offerings
        if o.id not in offered
    ]
    donated = set() if deployment is None else set(deployment.donations)
    actions += [_donation(plan, d, state) for d in plan.donations if d.id not in donated]
    return actions


def _donation(plan: SeedPlan, donation: Donation, state: ChainState) -> Donate:
    address = state.addresses.get(donation.to) or Web3.to_checksum_address(donation.to)
    units = plan.units(donation.asset, donation.amount)
    decimals = plan.decimals(donation.asset)
    return Donate(donation.id, donation.to, address, donation.asset, units, decimals)


def _to_issue(asset: Asset, state: ChainState) -> int:
    """Base units to issue to reach the plan's supply (negative when above it)."""
    return asset.supply_units - state.supplies.get(asset.symbol, 0)


def _check_compatible(plan: SeedPlan, deployment: Deployment | None) -> set[str]:
    """The recorded symbols; `ConfigError` when a recorded asset differs from the plan's.

    A deployed asset's name and decimals cannot change with the plan; an existing token's
    address, name and decimals neither; and an asset cannot turn from one kind into the other.
    """
    if deployment is None:
        return set()
    problems = []
    for asset in plan.assets:
        record = deployment.assets.get(asset.symbol)
        if record is not None:
            problems += _difference(plan, asset, record)
    if problems:
        raise ConfigError("\n".join(problems))
    return set(deployment.assets)


def _difference(plan: SeedPlan, asset: Asset | ExistingAsset, record: AssetRecord) -> list[str]:
    """What makes `record` another asset than the plan's (one line), or nothing."""
    symbol, decimals = asset.symbol, plan.decimals(asset.symbol)
    if isinstance(asset, Asset) and record.existing:
        return [
            f"asset {symbol} is recorded as the existing token at {record.address}, the plan "
            "deploys it: give its address in the plan, or use another symbol"
        ]
    if isinstance(asset, ExistingAsset) and not record.existing:
        return [
            f"asset {symbol} was deployed by the seed job at {record.address}, the plan names "
            f"the existing token at {asset.address}: use another symbol"
        ]
    if isinstance(asset, Asset):
        if (record.name, record.decimals) == (asset.name, decimals):
            return []
        return [
            f"asset {symbol} is deployed as {record.name!r} with {record.decimals} decimals, "
            f"the plan says {asset.name!r} with {decimals}"
        ]
    if (record.address, record.name, record.decimals) == (asset.address, asset.label, decimals):
        return []
    return [
        f"asset {symbol} is recorded as {record.name!r} at {record.address} with "
        f"{record.decimals} decimals, the plan says {asset.label!r} at {asset.address} with "
        f"{decimals}: use another symbol, or another deployment file"
    ]


def _top_ups(plan: SeedPlan, state: ChainState) -> list[Action]:
    gas: list[Action] = []
    tokens: list[Action] = []
    for p in plan.participants:
        held, address = state.participants[p.name], state.addresses[p.name]
        wei = plan.units(NATIVE, p.gas) - held.native
        if wei > 0:
            gas.append(TopUpGas(p.name, address, wei))
        for symbol, target in p.tokens.items():
            amount = plan.units(symbol, target) - held.tokens.get(symbol, 0)
            if amount > 0:
                tokens.append(TopUpToken(p.name, address, symbol, amount, plan.decimals(symbol)))
    return gas + tokens


def _offer(plan: SeedPlan, key: str, asset: str, quote: str, amounts: tuple[int, int]) -> Offer:
    pay, buy = amounts
    return Offer(key, asset, pay, plan.decimals(asset), quote, buy, plan.decimals(quote))


def format_actions(actions: Sequence[Action]) -> str:
    if not actions:
        return "nothing to do: the chain already matches the plan"
    lines = [f"{count(len(actions), 'action')}:"]
    lines += [f"{i:>4}. {action.label}" for i, action in enumerate(actions, 1)]
    return "\n".join(lines)
