"""The seed job over existing tokens, stopped at its new kinds of step, then run again.

As in `tests/test_seed_crash.py`: a run stopped anywhere and run again ends exactly like one
uninterrupted run (same deployment file byte for byte, same initializer nonce, code only at the
recorded contracts among the addresses its nonces create, same balances, allowances and
offers). The steps stopped at are those existing tokens add: a top-up by `transfer` of a token
without return values, the approve-race token's allowance reset to 0, its approval and offer,
the 96-bit token's approval, and the recording of existing tokens, which sends nothing.
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

from bots.market.deployment import TxRecord, load_deployment
from bots.seed.interrupt import Stage
from bots.seed.plan import SeedPlan
from bots.seed.run import run_seed
from tests.chainfixtures import World, rolled_back
from tests.seedtokens import (
    TRANSACTIONS,
    Existing,
    Outcome,
    deploy_existing,
    outcome,
    participants,
    plan_text,
    write_plan,
)

pytestmark = pytest.mark.chain

STAGES: tuple[Stage, ...] = ("signed", "sent", "mined")
STEPS = [  # (kind, key) of the transactions stopped at
    ("top up", "maker USDR"),
    ("reset allowance", "usdr-sale"),
    ("approve", "usdr-sale"),
    ("offer", "usdr-sale"),
    ("approve", "cap-sale"),
]


class Crash(Exception):
    """Stands for the process dying at that point: nothing after it runs."""


@dataclass(frozen=True)
class Reference:
    existing: Existing
    plan: SeedPlan
    who: dict[str, str]
    steps: list[tuple[str, str | None]]  # (kind, key) of each transaction, in nonce order
    outcome: Outcome


@pytest.fixture(scope="module")
def reference(
    session_world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reference]:
    """The existing tokens (kept for the module) and what an uninterrupted run leaves."""
    world = session_world
    with rolled_back(world):
        existing = deploy_existing(world)
        directory = tmp_path_factory.mktemp("seed-tokens-reference")
        who = participants(world)
        plan = write_plan(directory, plan_text(existing, who))
        with rolled_back(world):
            path = directory / "deployment.json"
            report = run_seed(world.w3, world.accounts["deployer"], plan, path)
            assert report.transactions == TRANSACTIONS
            result = outcome(world, path, existing.first_nonce, who)
        recorded = load_deployment(path)
        assert recorded is not None
        contracts = {recorded.require_market(), recorded.address_of("BND30")}
        assert result.with_code == contracts  # existing tokens are not the seed job's
        steps: list[tuple[str, str | None]] = [(r.kind, r.key) for r in recorded.transactions]
        yield Reference(existing, plan, who, steps, result)


def resumed(world: World, reference: Reference, path: Path) -> Outcome:
    run_seed(world.w3, world.accounts["deployer"], reference.plan, path)
    return outcome(world, path, reference.existing.first_nonce, reference.who)


def stop_at(stage: Stage, kind: str, key: str) -> Any:
    """A checkpoint hook that crashes the run at `stage` of the transaction (kind, key)."""

    def hook(at: Stage, record: TxRecord) -> None:
        if at == stage and (record.kind, record.key) == (kind, key):
            raise Crash(f"{stage} {record.label}")

    return hook


@pytest.mark.parametrize(("kind", "key"), STEPS)
@pytest.mark.parametrize("stage", STAGES)
def test_stopped_at_a_boundary_then_rerun_ends_like_an_uninterrupted_run(
    tmp_path: Path, world: World, reference: Reference, stage: Stage, kind: str, key: str
) -> None:
    path = tmp_path / "deployment.json"
    deployer = world.accounts["deployer"]
    with pytest.raises(Crash):
        run_seed(world.w3, deployer, reference.plan, path, checkpoint=stop_at(stage, kind, key))
    left = load_deployment(path)
    assert left is not None
    record = left.transactions[-1]
    assert (record.kind, record.key) == (kind, key)
    assert record.nonce == reference.existing.first_nonce + reference.steps.index((kind, key))
    assert record.status == (1 if stage == "mined" else None)
    assert resumed(world, reference, path) == reference.outcome


@pytest.mark.parametrize("symbol", ["USDR", "WETH"])  # the first and the last existing token
def test_stopped_after_recording_an_existing_token_then_rerun_ends_the_same(
    tmp_path: Path, world: World, reference: Reference, symbol: str
) -> None:
    """Recording an existing token sends nothing: a stop right after it leaves the file with
    that token recorded and no transaction in flight."""
    path = tmp_path / "deployment.json"

    def progress(done: int, total: int, label: str) -> None:
        if label.startswith(f"use existing asset {symbol} "):
            raise Crash(label)

    with pytest.raises(Crash):
        run_seed(world.w3, world.accounts["deployer"], reference.plan, path, progress=progress)
    left = load_deployment(path)
    assert left is not None and left.assets[symbol].existing
    assert left.in_flight() == []
    assert resumed(world, reference, path) == reference.outcome


class CrashAfterSend(HTTPProvider):
    """A connection through which the process dies right after its n-th raw transaction reached
    the node, before the answer is read."""

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


@pytest.mark.parametrize("step", [("reset allowance", "usdr-sale"), ("approve", "usdr-sale")])
def test_process_dying_right_after_an_approval_is_sent_never_approves_twice(
    tmp_path: Path, world: World, reference: Reference, step: tuple[str, str]
) -> None:
    path = tmp_path / "deployment.json"
    nth = reference.steps.index(step) + 1
    crashing = Web3(CrashAfterSend(world.chain.url, nth))
    with pytest.raises(Crash):
        run_seed(crashing, world.accounts["deployer"], reference.plan, path)
    assert resumed(world, reference, path) == reference.outcome


@pytest.fixture
def no_automine(world: World) -> Iterator[None]:
    yield
    world.chain.rpc("evm_setAutomine", [True])


def test_an_allowance_reset_dropped_by_the_node_is_sent_again_on_its_nonce(
    tmp_path: Path, world: World, reference: Reference, no_automine: None
) -> None:
    """The node forgot the sent reset (a restarted node empties its pool): the rerun sends the
    recorded bytes again, then approves and offers as one clean run does."""
    path = tmp_path / "deployment.json"
    crash = stop_at("sent", "reset allowance", "usdr-sale")

    def hook(at: Stage, record: TxRecord) -> None:
        if at == "signed" and record.kind == "reset allowance":
            world.chain.rpc("evm_setAutomine", [False])  # it will wait in the pool
        crash(at, record)

    with pytest.raises(Crash):
        run_seed(world.w3, world.accounts["deployer"], reference.plan, path, checkpoint=hook)
    world.chain.rpc("anvil_dropAllTransactions")
    world.chain.rpc("evm_setAutomine", [True])
    report = run_seed(world.w3, world.accounts["deployer"], reference.plan, path)
    assert report.settled[0].startswith("resend reset allowance usdr-sale (nonce ")
    assert outcome(world, path, reference.existing.first_nonce, reference.who) == reference.outcome
