"""Carrying out a seed plan: send the actions from the initializer's key, record each step.

Every step is written to the deployment file as soon as it is done (offerings and donations
already when signed), so a second run sends nothing and an interrupted one resumes. A run first
waits until the initializer has nothing pending, so the balances it reads include every
transfer a previous run got into the pool. The decisions themselves live in `bots.seed.actions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.chain.fees import current_fees
from bots.chain.transactor import Transactor, TxEvent
from bots.chain.txpool import pending_count
from bots.errors import ChainError
from bots.market.client import made_offer_ids
from bots.market.deployment import (
    AssetRecord,
    Deployment,
    DonationRecord,
    OfferingRecord,
    load_deployment,
    save_deployment,
    settle_in_flight,
    verify_on_chain,
)
from bots.seed.actions import (
    IDLE_TIMEOUT_S,
    Action,
    ChainState,
    DeployAsset,
    DeployMarket,
    Donate,
    GasEstimate,
    Holdings,
    Issue,
    Offer,
    Progress,
    TopUpGas,
    TopUpToken,
    format_actions,
    plan_actions,
    require_affordable,
)
from bots.seed.plan import (
    NATIVE,
    NATIVE_DECIMALS,
    SeedPlan,
    format_units,
    participant_addresses,
)


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
