"""The seed job's decisions: what is still to do, and whether the initializer can pay for it.

Planning is pure: the plan, the deployment record and a snapshot of balances go in, an ordered
list of actions comes out, so idempotence is a property of one function that tests can check
without a chain. Top-ups are differences to targets (never negative: tokens are never taken
back), issuance tops the total supply up to the plan's, and offerings and donations are due only
while their id is not recorded. `preflight` adds up what the actions spend and refuses the lot
before anything is sent when the initializer could not finish: half a seed is worse than none.

Execution (`run_seed`) sends the actions in order from the initializer's key and records each
step in the deployment file at once, so a second run sends nothing and an interrupted one
resumes. It first waits until the initializer has nothing pending, so balances it reads include
every transfer a previous run got into the pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.chain import Transactor, TxEvent
from bots.deployment import (
    AssetRecord,
    Deployment,
    DonationRecord,
    OfferingRecord,
    load_deployment,
    save_deployment,
    settle_in_flight,
    verify_on_chain,
)
from bots.errors import ChainError, ConfigError, OtcmmError
from bots.fees import current_fees
from bots.market import made_offer_ids
from bots.seedplan import (
    NATIVE,
    NATIVE_DECIMALS,
    Donation,
    SeedPlan,
    format_units,
    offer_amounts,
    participant_addresses,
)
from bots.seedplan import fleet_keystores as fleet_keystores  # the demo's entry point
from bots.txpool import pending_count

Progress = Callable[[int, int, str], None]
"""Called after each action with (actions done, actions in total, the action's label)."""
IDLE_TIMEOUT_S = 120.0


class SeedError(OtcmmError):
    """The plan cannot be carried out with what the initializer holds; nothing was sent.

    Its own exit code: a Job that stops here needs funds or a smaller plan, not a retry.
    """

    exit_code = 5


def _amount(units: int, symbol: str, decimals: int) -> str:
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
class Issue:
    symbol: str
    amount: int
    decimals: int

    @property
    def label(self) -> str:
        return f"issue {_amount(self.amount, self.symbol, self.decimals)} to the initializer"


@dataclass(frozen=True)
class TopUpGas:
    name: str
    address: str
    amount: int  # wei
    symbol: str = NATIVE
    decimals: int = NATIVE_DECIMALS

    @property
    def label(self) -> str:
        return f"top up {self.name} by {_amount(self.amount, NATIVE, NATIVE_DECIMALS)}"


@dataclass(frozen=True)
class TopUpToken:
    name: str
    address: str
    symbol: str
    amount: int
    decimals: int

    @property
    def label(self) -> str:
        return f"top up {self.name} by {_amount(self.amount, self.symbol, self.decimals)}"


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
        pay = _amount(self.amount, self.symbol, self.decimals)
        buy = _amount(self.buy_amount, self.quote, self.quote_decimals)
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
        return f"donate {self.id}: {_amount(self.amount, self.symbol, self.decimals)} to {self.to}"


Action = DeployMarket | DeployAsset | Issue | TopUpGas | TopUpToken | Offer | Donate

GAS_PER_ACTION: Mapping[type, int] = {
    DeployMarket: 3_000_000,  # measured ~2.06M
    DeployAsset: 1_600_000,  # ~1.09M
    Issue: 110_000,  # ~72k
    TopUpGas: 21_000,
    TopUpToken: 80_000,  # ~51k
    Offer: 370_000,  # approve ~46k + a pair's first offer ~199k
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
    supplies: Mapping[str, int]  # totalSupply of each deployed asset


def plan_actions(plan: SeedPlan, deployment: Deployment | None, state: ChainState) -> list[Action]:
    """Everything still to do, in execution order; empty when the chain matches the plan.

    `deployment` None means nothing is deployed yet. Contracts come first (the rest needs their
    addresses), then issuance (it funds the transfers), then top-ups, offerings and donations
    in plan order.
    """
    actions: list[Action] = [DeployMarket()] if deployment is None else []
    deployed = _check_compatible(plan, deployment)
    actions += [
        DeployAsset(a.symbol, a.name, a.decimals, a.cap_units)
        for a in plan.assets
        if a.symbol not in deployed
    ]
    for asset in plan.assets:
        missing = asset.supply_units - state.supplies.get(asset.symbol, 0)
        if missing > 0:
            actions.append(Issue(asset.symbol, missing, asset.decimals))
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


def _check_compatible(plan: SeedPlan, deployment: Deployment | None) -> set[str]:
    """The deployed symbols; a deployed asset's name and decimals cannot change with the plan."""
    if deployment is None:
        return set()
    problems = []
    for asset in plan.assets:
        record = deployment.assets.get(asset.symbol)
        if record is not None and (record.name, record.decimals) != (asset.name, asset.decimals):
            problems.append(
                f"asset {asset.symbol} is deployed as {record.name!r} with {record.decimals} "
                f"decimals, the plan says {asset.name!r} with {asset.decimals}"
            )
    if problems:
        raise ConfigError("\n".join(problems))
    return set(deployment.assets)


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
            lacks = _amount(need - held, symbol, d)
            problems.append(f"initializer lacks {lacks} (needs {needs_}, has {has_})")
    return problems


def require_affordable(actions: Sequence[Action], initializer: Holdings, gas: GasEstimate) -> None:
    """`SeedError` listing every shortfall, so the operator fixes them all in one go."""
    problems = preflight(actions, initializer, gas)
    if problems:
        header = f"seed plan refused, nothing sent: {len(problems)} shortfall(s)"
        raise SeedError("\n".join([header, *problems]))


def format_actions(actions: Sequence[Action]) -> str:
    if not actions:
        return "nothing to do: the chain already matches the plan"
    lines = [f"{len(actions)} action(s):"]
    lines += [f"{i:>4}. {action.label}" for i, action in enumerate(actions, 1)]
    return "\n".join(lines)


@dataclass(frozen=True)
class SeedReport:
    """What a run did (or, dry, would do) and where every participant stands afterwards."""

    actions: tuple[Action, ...]
    dry_run: bool
    transactions: int
    gas_used: int
    addresses: Mapping[str, str]
    balances: Mapping[str, Holdings]
    columns: tuple[tuple[str, int], ...]  # (asset symbol, decimals) in plan order


def read_state(
    w3: Web3,
    plan: SeedPlan,
    deployment: Deployment | None,
    initializer: str,
    addresses: Mapping[str, str],
) -> ChainState:
    """Balances of the initializer and participants in the plan's deployed assets."""
    deployed = {} if deployment is None else deployment.assets
    tokens = {
        a.symbol: _erc20(w3, deployed[a.symbol].address)
        for a in plan.assets
        if a.symbol in deployed
    }

    def holdings(owner: str) -> Holdings:
        balances = {s: int(t.functions.balanceOf(owner).call()) for s, t in tokens.items()}
        return Holdings(int(w3.eth.get_balance(Web3.to_checksum_address(owner))), balances)

    supplies = {s: int(t.functions.totalSupply().call()) for s, t in tokens.items()}
    participants = {name: holdings(address) for name, address in addresses.items()}
    return ChainState(holdings(initializer), participants, dict(addresses), supplies)


@dataclass(frozen=True)
class Prepared:
    """A read-only look before a run: the deployment as recorded (in-flight gifts settled),
    the chain's state and the actions still due."""

    deployment: Deployment | None  # None: nothing deployed yet
    settled: bool  # in-flight records were completed or dropped: save before going on
    state: ChainState
    actions: list[Action]


def plan_seed(w3: Web3, initializer: str, plan: SeedPlan, deployment_path: Path) -> Prepared:
    """What a run would do, sending nothing.

    Raises `SeedError` when the initializer cannot afford the actions, `ChainError` when the
    deployment file belongs to another chain or its contracts are gone.
    """
    addresses = participant_addresses(plan)
    _await_idle(w3, initializer)
    deployment = loaded = load_deployment(deployment_path)
    if loaded is not None:
        verify_on_chain(w3, loaded, deployment_path)
        deployment = settle_in_flight(w3, loaded)
    state = read_state(w3, plan, deployment, initializer, addresses)
    actions = plan_actions(plan, deployment, state)
    require_affordable(actions, state.initializer, GasEstimate(current_fees(w3).max_price))
    return Prepared(deployment, deployment != loaded, state, actions)


def run_seed(
    w3: Web3,
    initializer: LocalAccount,
    plan: SeedPlan,
    deployment_path: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SeedReport:
    """Bring the chain to the plan, sending only what is missing; dry: only say what that is."""
    ready = plan_seed(w3, initializer.address, plan, deployment_path)
    actions, addresses = tuple(ready.actions), ready.state.addresses
    columns = tuple((a.symbol, a.decimals) for a in plan.assets)
    if dry_run:
        return SeedReport(actions, True, 0, 0, addresses, ready.state.participants, columns)
    run = _Execution(w3, initializer, ready.deployment, deployment_path)
    if ready.settled and ready.deployment is not None:
        run.record(ready.deployment)
    for done, action in enumerate(actions, 1):
        run.apply(action)
        if progress is not None:
            progress(done, len(actions), action.label)
    final = read_state(w3, plan, run.current, initializer.address, addresses)
    return SeedReport(
        actions, False, run.transactions, run.gas_used, addresses, final.participants, columns
    )


def _await_idle(w3: Web3, address: str, timeout_s: float = IDLE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while pending_count(w3, address) > 0:
        if time.monotonic() >= deadline:
            raise ChainError(
                f"initializer {address} still has transactions pending after {timeout_s:g}s: "
                "run the seed again once they are mined or dropped"
            )
        time.sleep(0.2)


def _erc20(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("AssetToken").abi
    )


class _Execution:
    """Sends actions and records each one in the deployment file as soon as it is done."""

    def __init__(
        self, w3: Web3, account: LocalAccount, deployment: Deployment | None, path: Path
    ) -> None:
        self.w3, self.current, self.path = w3, deployment, path
        self.transactions = self.gas_used = 0
        self._intent: Callable[[str], None] | None = None
        self.tx = Transactor(w3, account, on_event=self._on_event)

    @property
    def deployment(self) -> Deployment:
        if self.current is None:
            raise AssertionError("planned: the market is deployed before anything else")
        return self.current

    def _on_event(self, event: TxEvent) -> None:
        if event.kind == "signed" and self._intent is not None:
            self._intent(event.tx_hash)  # recorded before the transaction leaves the process
        elif event.gas_used is not None:  # mined, or reverted on chain: a nonce spent
            self.transactions += 1
            self.gas_used += event.gas_used

    def record(self, deployment: Deployment) -> None:
        self.current = deployment
        save_deployment(self.path, deployment)

    def apply(self, action: Action) -> None:
        me = self.tx.address
        match action:
            case DeployMarket():
                market, _ = self.tx.deploy(load_artifact("OtcMarket"))
                self.record(Deployment(chain_id=self.w3.eth.chain_id, market=market.address))
            case DeployAsset(symbol, name, decimals, cap):
                artifact = load_artifact("AssetToken")
                token, _ = self.tx.deploy(artifact, name, symbol, decimals, cap, me)
                asset = AssetRecord(address=token.address, name=name, decimals=decimals)
                self.record(self.deployment.with_asset(symbol, asset))
            case Issue(symbol, amount):
                self.tx.transact(self._token(symbol).functions.issue(me, amount))
            case TopUpGas(_, address, amount):
                self.tx.send_value(address, amount)
            case TopUpToken(_, address, symbol, amount):
                self.tx.transact(self._token(symbol).functions.transfer(address, amount))
            case Offer():
                self._offer(action)
            case Donate():
                self._donate(action)

    def _token(self, symbol: str) -> Contract:
        return _erc20(self.w3, self.deployment.address_of(symbol))

    def _once(self, intent: Callable[[str], None], send: Callable[[], TxReceipt]) -> TxReceipt:
        """Send a one-off transaction whose hash `intent` records the moment it is signed."""
        self._intent = intent
        try:
            return send()
        finally:
            self._intent = None

    def _offer(self, action: Offer) -> None:
        market = self.w3.eth.contract(
            address=Web3.to_checksum_address(self.deployment.market),
            abi=load_artifact("OtcMarket").abi,
        )
        token, quote = self._token(action.symbol), self._token(action.quote)
        if int(token.functions.allowance(self.tx.address, market.address).call()) < action.amount:
            self.tx.transact(token.functions.approve(market.address, action.amount))
        call = market.functions.offer(
            action.amount, token.address, action.buy_amount, quote.address
        )
        receipt = self._once(
            lambda tx: self.record(self.deployment.with_offering(action.id, OfferingRecord(tx=tx))),
            lambda: self.tx.transact(call),
        )
        record = OfferingRecord(
            tx=receipt["transactionHash"].to_0x_hex(),
            offer_id=hex(made_offer_ids(market, receipt)[0]),
            block=int(receipt["blockNumber"]),
        )
        self.record(self.deployment.with_offering(action.id, record))

    def _donate(self, action: Donate) -> None:
        def send() -> TxReceipt:
            if action.symbol == NATIVE:
                return self.tx.send_value(action.address, action.amount)
            transfer = self._token(action.symbol).functions.transfer(action.address, action.amount)
            return self.tx.transact(transfer)

        receipt = self._once(
            lambda tx: self.record(self.deployment.with_donation(action.id, DonationRecord(tx=tx))),
            send,
        )
        tx_hash, block = receipt["transactionHash"].to_0x_hex(), int(receipt["blockNumber"])
        record = DonationRecord(tx=tx_hash, block=block)
        self.record(self.deployment.with_donation(action.id, record))


def format_report(report: SeedReport) -> str:
    """The actions, then a table of every participant's balances (after the run)."""
    if report.dry_run:
        return format_actions(report.actions) + "\ndry run: nothing sent"
    lines = [
        f"{len(report.actions)} action(s), {report.transactions} transactions, "
        f"{report.gas_used:,} gas used"
    ]
    lines += [f"  {action.label}" for action in report.actions] or [
        "  nothing to do: the chain already matches the plan"
    ]
    header = f"{'participant':<20} {'address':<42} {'ether':>14}"
    header += "".join(f" {symbol:>18}" for symbol, _ in report.columns)
    lines += ["", header, "-" * len(header)]
    for name, held in report.balances.items():
        row = f"{name:<20} {report.addresses[name]:<42} "
        row += f"{format_units(held.native, NATIVE_DECIMALS, trim=True):>14}"
        row += "".join(f" {format_units(held.tokens.get(s, 0), d):>18}" for s, d in report.columns)
        lines.append(row)
    return "\n".join(lines)
