"""The seed job stopped at every transaction boundary, then run again, on the dev chain.

The property: a run stopped anywhere (a transaction recorded but not sent, sent but not seen
mined, recorded as mined) and then run again ends exactly like one uninterrupted run on the same
chain state: the same deployment file, byte for byte, the same initializer nonce, code only at
the recorded contracts' addresses among every address the initializer's nonces could create,
the same balances and offers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from bots.market.client import MarketClient
from bots.market.deployment import TxRecord, load_deployment
from bots.seed.interrupt import Stage, Stop
from bots.seed.plan import SeedPlan
from bots.seed.run import run_seed
from bots.seed.sender import create_address
from tests.chainfixtures import World, rolled_back
from tests.test_seed import FAUCET, chain_plan

pytestmark = pytest.mark.chain

TRANSACTIONS = 14  # 13 actions; the offering also approves
STAGES: tuple[Stage, ...] = ("signed", "sent", "mined")


class Crash(Exception):
    """Stands for the process dying at that point: nothing after it runs."""


@dataclass(frozen=True)
class Outcome:
    """Everything an uninterrupted run leaves that a resumed one must match."""

    deployment_file: str
    nonce: int
    with_code: frozenset[str]  # of the addresses the initializer's nonces create
    balances: dict[str, tuple[int, ...]]  # wei, BND30, EURT by account
    offers: list[tuple[int, int]]


def outcome(world: World, path: Path, first_nonce: int, addresses: dict[str, str]) -> Outcome:
    deployer = world.addr("deployer")
    nonce = int(world.w3.eth.get_transaction_count(deployer))
    created = (create_address(deployer, n) for n in range(first_nonce, nonce))
    with_code = frozenset(a for a in created if world.w3.eth.get_code(a))
    deployment = load_deployment(path)
    assert deployment is not None
    market = MarketClient(world.w3, deployment.require_market())
    tokens = [deployment.address_of(s) for s in ("BND30", "EURT")]
    accounts = {**addresses, "initializer": deployer, "faucet": FAUCET}
    balances = {
        name: (
            int(world.w3.eth.get_balance(Web3.to_checksum_address(address))),
            *(market.balance_of(token, address) for token in tokens),
        )
        for name, address in accounts.items()
    }
    offers = [(o.pay_amt, o.buy_amt) for o in market.owner_offers(deployer)]
    return Outcome(path.read_text(), nonce, with_code, balances, offers)


@dataclass(frozen=True)
class Reference:
    plan: SeedPlan
    addresses: dict[str, str]
    first_nonce: int
    outcome: Outcome


@pytest.fixture(scope="module")
def reference(session_world: World, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """One plan, and what an uninterrupted run of it leaves (the chain is rolled back after)."""
    directory = tmp_path_factory.mktemp("seed-reference")
    plan, addresses = chain_plan(directory)
    with rolled_back(session_world):
        first = int(session_world.w3.eth.get_transaction_count(session_world.addr("deployer")))
        path = directory / "deployment.json"
        report = run_seed(session_world.w3, session_world.accounts["deployer"], plan, path)
        assert report.transactions == TRANSACTIONS
        result = outcome(session_world, path, first, addresses)
    contracts = set(load_deployment(path).contracts().values())  # type: ignore[union-attr]
    assert result.with_code == contracts and len(contracts) == 3
    return Reference(plan, addresses, first, result)


def stop_at(stage: Stage, index: int) -> Any:
    """A checkpoint hook that crashes the run at `stage` of its `index`-th transaction (0-based)."""
    seen: list[TxRecord] = []

    def hook(at: Stage, record: TxRecord) -> None:
        if at == stage:
            seen.append(record)
            if len(seen) == index + 1:
                raise Crash(f"{stage} {record.label}")

    return hook


@pytest.mark.parametrize("index", range(TRANSACTIONS))
@pytest.mark.parametrize("stage", STAGES)
def test_stopped_at_any_boundary_then_rerun_ends_like_an_uninterrupted_run(
    tmp_path: Path, world: World, reference: Reference, stage: Stage, index: int
) -> None:
    path = tmp_path / "deployment.json"
    deployer = world.accounts["deployer"]
    with pytest.raises(Crash):
        run_seed(world.w3, deployer, reference.plan, path, checkpoint=stop_at(stage, index))
    left = load_deployment(path)
    assert left is not None
    record = left.transactions[-1]
    assert record.nonce == reference.first_nonce + index
    known = world.w3.eth.get_transaction_count(deployer.address, "pending")  # pool or chain
    if stage == "signed":  # recorded with its signed bytes, never sent
        assert record.status is None and record.raw is not None
        assert known == record.nonce
    else:  # sent: the node has it (auto-mining may or may not have mined it yet)
        assert known == record.nonce + 1
        assert record.status == (1 if stage == "mined" else None)
    run_seed(world.w3, deployer, reference.plan, path)
    assert outcome(world, path, reference.first_nonce, reference.addresses) == reference.outcome


class CrashAfterSend(HTTPProvider):
    """A node connection through which the process dies right after its n-th raw transaction
    reached the node, before the answer is read: the crash the seed job must survive."""

    def __init__(self, url: str, nth: int) -> None:
        super().__init__(url, request_kwargs={"timeout": 30})
        self.sends, self.nth = 0, nth

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction":
            self.sends += 1
            if self.sends == self.nth:
                raise Crash(f"died after sending raw transaction {self.nth}")
        return response


@pytest.mark.parametrize("nth", [1, 2, 3, 4, 11, 12])  # the deploys, an issue, approve, offer
def test_process_dying_right_after_a_send_never_deploys_or_sends_twice(
    tmp_path: Path, world: World, reference: Reference, nth: int
) -> None:
    """Black-box: no hook, the transport dies. Old runs recorded a deploy only after its
    receipt, so a death here left an orphan contract and the rerun deployed again."""
    path = tmp_path / "deployment.json"
    crashing = Web3(CrashAfterSend(world.chain.url, nth))
    with pytest.raises(Crash):
        run_seed(crashing, world.accounts["deployer"], reference.plan, path)
    run_seed(world.w3, world.accounts["deployer"], reference.plan, path)
    assert outcome(world, path, reference.first_nonce, reference.addresses) == reference.outcome


@pytest.fixture
def no_automine(world: World) -> Iterator[None]:
    yield
    world.chain.rpc("evm_setAutomine", [True])


@pytest.mark.parametrize("index", [1, 3, 11])  # deploy asset BND30, issue BND30, the offer
def test_sent_then_dropped_by_the_node_is_sent_again_on_the_same_nonce(
    tmp_path: Path, world: World, reference: Reference, index: int, no_automine: None
) -> None:
    """The node forgot a sent transaction (a restart empties its pool): the rerun sends the
    recorded bytes again, so the nonce count and every hash stay as in one clean run."""
    path = tmp_path / "deployment.json"
    crash = stop_at("sent", index)

    def hook(at: Stage, record: TxRecord) -> None:
        if at == "signed" and record.nonce == reference.first_nonce + index:
            world.chain.rpc("evm_setAutomine", [False])  # it will wait in the pool
        crash(at, record)

    with pytest.raises(Crash):
        run_seed(world.w3, world.accounts["deployer"], reference.plan, path, checkpoint=hook)
    deployer = world.addr("deployer")
    assert world.w3.eth.get_transaction_count(deployer, "pending") == (
        reference.first_nonce + index + 1
    )
    world.chain.rpc("anvil_dropAllTransactions")
    world.chain.rpc("evm_setAutomine", [True])
    assert world.w3.eth.get_transaction_count(deployer, "pending") == reference.first_nonce + index
    report = run_seed(world.w3, world.accounts["deployer"], reference.plan, path)
    assert report.settled[0].startswith("resend ")
    assert outcome(world, path, reference.first_nonce, reference.addresses) == reference.outcome


def test_stop_request_ends_the_run_at_the_next_boundary_with_where(
    tmp_path: Path, world: World, reference: Reference
) -> None:
    """What SIGTERM does in-process: the flag is set mid-send, the run ends after the send."""
    from bots.seed.interrupt import SeedInterrupted

    path = tmp_path / "deployment.json"
    stop = Stop()

    def hook(at: Stage, record: TxRecord) -> None:
        if at == "signed" and record.kind == "issue":
            stop.request(15)

    with pytest.raises(SeedInterrupted) as info:
        run_seed(
            world.w3, world.accounts["deployer"], reference.plan, path, stop=stop, checkpoint=hook
        )
    assert info.value.exit_code == 143
    message = str(info.value)
    assert message.startswith(
        "stopped by SIGTERM during issue 1,000,000.00 BND30 to the initializer (action 4 of 13): "
    )
    assert "transaction issue BND30 (nonce" in message
    assert message.endswith("is recorded but was not sent: run the seed again to resume")
    run_seed(world.w3, world.accounts["deployer"], reference.plan, path)
    assert outcome(world, path, reference.first_nonce, reference.addresses) == reference.outcome


def test_recorded_tx_whose_nonce_another_tx_used_is_dropped_and_planned_again(
    tmp_path: Path, world: World, reference: Reference
) -> None:
    """Recorded, never sent, and meanwhile something else sent with the initializer's key: the
    record can never mine, so it is dropped and the deploy goes out on the next nonce."""
    path = tmp_path / "deployment.json"
    deployer = world.accounts["deployer"]
    with pytest.raises(Crash):
        run_seed(world.w3, deployer, reference.plan, path, checkpoint=stop_at("signed", 1))
    world.tx["deployer"].resync_nonce()
    rival = world.tx["deployer"].send_value(deployer.address, 0)  # takes the recorded nonce
    rival_fee = rival["gasUsed"] * rival["effectiveGasPrice"]  # gas is not free: it paid this
    report = run_seed(world.w3, deployer, reference.plan, path)
    assert report.settled[0].startswith("dropped deploy asset BND30 (nonce ")
    resumed = outcome(world, path, reference.first_nonce, reference.addresses)
    assert resumed.nonce == reference.outcome.nonce + 1
    recorded = load_deployment(path)
    assert recorded is not None
    assert resumed.with_code == set(recorded.contracts().values())
    assert [r.nonce for r in recorded.transactions] == [
        n for n in range(reference.first_nonce, resumed.nonce) if n != reference.first_nonce + 1
    ]
    initializer_wei, *tokens = reference.outcome.balances["initializer"]
    expected = {**reference.outcome.balances, "initializer": (initializer_wei - rival_fee, *tokens)}
    assert resumed.balances == expected
    assert resumed.offers == reference.outcome.offers
