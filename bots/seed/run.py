"""Carrying out a seed plan: settle what an earlier run left, plan, send, record each step.

A run first waits until the initializer has nothing pending, then settles the transactions the
deployment file records without a receipt (`bots.seed.settle`: adopt the mined, drop those
whose nonce another transaction used, send the never-mined ones again byte for byte), and only
then reads balances and plans: so nothing is planned twice while a recorded transaction could
still mine. Every transaction is recorded before it is sent (`bots.seed.execute`), which makes
an interrupted run, at any point, end like an uninterrupted one once it is run again.
The decisions themselves live in `bots.seed.actions`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from bots.artifacts import load_artifact
from bots.chain.fees import current_fees
from bots.chain.rpc import RpcUnreachable
from bots.chain.txpool import pending_count
from bots.errors import ChainError
from bots.market.deployment import (
    Deployment,
    TxRecord,
    check_writable,
    load_deployment,
    settle_in_flight,
    verify_on_chain,
)
from bots.market.probe import require_erc20, require_market
from bots.market.reader import MarketReader
from bots.numbers import count
from bots.seed.actions import (
    IDLE_TIMEOUT_S,
    Action,
    ChainState,
    Holdings,
    Progress,
    format_actions,
    plan_actions,
)
from bots.seed.amounts import format_units
from bots.seed.assets import Asset, ExistingAsset
from bots.seed.execute import Execution
from bots.seed.existing import resolve_existing
from bots.seed.interrupt import Checkpoint, Stop
from bots.seed.plan import NATIVE_DECIMALS, SeedPlan, participant_addresses
from bots.seed.preflight import GasEstimate, require_affordable
from bots.seed.settle import settle_recorded


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
    settled: tuple[str, ...] = ()  # one line per transaction of an earlier run settled first


def read_state(
    w3: Web3,
    plan: SeedPlan,
    deployment: Deployment | None,
    initializer: str,
    addresses: Mapping[str, str],
) -> ChainState:
    """Balances of the initializer and participants in the plan's deployed and existing assets,
    and the total supply of each deployed one."""
    where = {a.symbol: _asset_address(a, deployment) for a in plan.assets}
    tokens = {s: _erc20(w3, address) for s, address in where.items() if address is not None}

    def holdings(owner: str) -> Holdings:
        balances = {s: int(t.functions.balanceOf(owner).call()) for s, t in tokens.items()}
        return Holdings(int(w3.eth.get_balance(Web3.to_checksum_address(owner))), balances)

    issued = tokens.keys() - {a.symbol for a in plan.assets if isinstance(a, ExistingAsset)}
    supplies = {s: int(tokens[s].functions.totalSupply().call()) for s in issued}
    participants = {name: holdings(address) for name, address in addresses.items()}
    return ChainState(holdings(initializer), participants, dict(addresses), supplies)


@dataclass(frozen=True)
class Prepared:
    """A read-only look before a run: the deployment with the earlier run's records settled as
    far as reading can, the chain's state and the actions still due.

    While `resend` is not empty the actions are provisional: those transactions may still change
    balances, so a run sends them first and plans again.
    """

    plan: SeedPlan  # with every existing token's decimals read from the chain
    deployment: Deployment | None  # None: nothing recorded yet
    changed: bool  # settling changed the records: save before going on
    state: ChainState
    actions: list[Action]
    notes: tuple[str, ...] = ()  # what settling found, one line per record
    resend: tuple[TxRecord, ...] = ()  # recorded, never mined, nonce free


def plan_seed(
    w3: Web3, initializer: str, plan: SeedPlan, deployment_path: Path, stop: Stop | None = None
) -> Prepared:
    """What a run would do, sending nothing.

    Raises `SeedError` when the initializer cannot afford the actions, `ChainError` when the
    deployment file belongs to another chain, its contracts are gone or a transaction of the
    initializer stays pending, `ConfigError` when an existing token is not what the plan says
    (`bots.seed.existing`) or the deployment file records an asset otherwise, `ChainError`
    when an existing token or a recorded contract is the wrong kind of contract (before
    anything is read or planned), and `SeedInterrupted` when `stop` is requested while waiting.
    """
    addresses = participant_addresses(plan)
    plan = resolve_existing(w3, plan)
    for asset in plan.assets:
        if isinstance(asset, ExistingAsset):
            require_erc20(w3, asset.address, f"{plan.source}: asset {asset.symbol}")
    _await_idle(w3, initializer, stop=stop)
    deployment = loaded = load_deployment(deployment_path)
    notes: tuple[str, ...] = ()
    resend: tuple[TxRecord, ...] = ()
    if loaded is not None:
        verify_on_chain(w3, loaded, deployment_path)
        require_kinds(w3, loaded, deployment_path)
        settled = settle_recorded(w3, initializer, settle_in_flight(w3, loaded))
        deployment, notes, resend = settled.deployment, settled.notes, settled.resend
    state = read_state(w3, plan, deployment, initializer, addresses)
    actions = plan_actions(plan, deployment, state)
    if not resend:
        require_affordable(actions, state.initializer, GasEstimate(current_fees(w3).max_price))
    return Prepared(plan, deployment, deployment != loaded, state, actions, notes, resend)


def run_seed(
    w3: Web3,
    initializer: LocalAccount,
    plan: SeedPlan,
    deployment_path: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    stop: Stop | None = None,
    checkpoint: Checkpoint | None = None,
) -> SeedReport:
    """Bring the chain to the plan, sending only what is missing; dry: only say what that is.

    Before anything is sent the deployment file must be writable (`ConfigError`, exit 2).
    `stop` ends the run at the next transaction boundary with `SeedInterrupted`; `checkpoint`
    is called at every boundary (tests raise from it to stop a run there).
    """
    if not dry_run:
        check_writable(deployment_path)
    ready = plan_seed(w3, initializer.address, plan, deployment_path, stop)
    columns = tuple((a.symbol, ready.plan.decimals(a.symbol)) for a in ready.plan.assets)
    if dry_run:
        actions, participants = tuple(ready.actions), ready.state.participants
        return SeedReport(
            actions, True, 0, 0, ready.state.addresses, participants, columns, ready.notes
        )
    run = Execution(
        w3, initializer, ready.deployment, deployment_path, stop=stop, checkpoint=checkpoint
    )
    if ready.changed and ready.deployment is not None:
        run.record(ready.deployment)
    notes = ready.notes
    if ready.resend:
        run.resend(ready.resend)
        ready = plan_seed(w3, initializer.address, plan, deployment_path, stop)
    actions, addresses = tuple(ready.actions), ready.state.addresses
    for done, action in enumerate(actions, 1):
        run.apply(action, f"{done} of {len(actions)}")
        if progress is not None:
            progress(done, len(actions), action.label)
    final = read_state(w3, ready.plan, run.current, initializer.address, addresses)
    return SeedReport(
        actions,
        False,
        run.transactions,
        run.gas_used,
        addresses,
        final.participants,
        columns,
        notes,
    )


def require_kinds(w3: Web3, deployment: Deployment, path: Path) -> None:
    """`ChainError` (exit 4) unless the recorded market answers like an `OtcMarket` and every
    recorded asset like an ERC20: a deployment file pointing "market" at a token must not get
    an approve sent to the token."""
    for symbol, record in deployment.assets.items():
        require_erc20(w3, record.address, f"{path}: asset {symbol}")
    if deployment.market is None:
        return
    try:
        require_market(MarketReader(w3, deployment.market))
    except RpcUnreachable:
        raise
    except ChainError as exc:
        raise ChainError(f"{path}: {exc}") from None


def _asset_address(asset: Asset | ExistingAsset, deployment: Deployment | None) -> str | None:
    """Where the asset is: an existing token's address, a deployed one's record; None before
    its deploy."""
    if isinstance(asset, ExistingAsset):
        return asset.address
    record = None if deployment is None else deployment.assets.get(asset.symbol)
    return None if record is None else record.address


def _await_idle(
    w3: Web3, address: str, timeout_s: float = IDLE_TIMEOUT_S, stop: Stop | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while pending_count(w3, address) > 0:
        if stop is not None:
            stop.check(lambda: "while waiting for the initializer's pending transactions")
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


def format_settled(notes: tuple[str, ...]) -> list[str]:
    """Lines saying what settling the last run's records found, or nothing."""
    if not notes:
        return []
    return [f"{count(len(notes), 'transaction')} left by an earlier run, settled first:"] + [
        f"  {note}" for note in notes
    ]


def format_report(report: SeedReport) -> str:
    """The actions, then a table of every participant's balances (after the run)."""
    if report.dry_run:
        lines = format_settled(report.settled) + [format_actions(report.actions)]
        return "\n".join(lines) + "\ndry run: nothing sent"
    lines = [
        f"{count(len(report.actions), 'action')}, {count(report.transactions, 'transaction')}, "
        f"{report.gas_used:,} gas used"
    ]
    lines += format_settled(report.settled)
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
