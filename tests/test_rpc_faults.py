"""The RPC client behind a proxy that damages answers: reads stay right, sends execute once.

Every test talks to the session's anvil through `tests.faultproxy.FaultProxy` with a
`RetryingHTTPProvider` (what bots use) and compares with what anvil says directly.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from bots.chain.rpc import RetryingHTTPProvider, RpcUnreachable, check_connection, connect
from bots.chain.transactor import Transactor
from bots.errors import ChainError, ConfigError
from tests.chainfixtures import World, rolled_back
from tests.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
FAULTS = 3  # faults in a row a call must survive (the default budget is 5 retries)
SLOW_S, TIMEOUT_S = 2.0, 1.0  # a `delay` fault outlasts the client's timeout
ANSWER_LOSING = ("drop", "delay", "truncate", "cut", "garbage", "http500", "wrong_id")
SEND = "eth_sendRawTransaction"
STEPS = 40  # of the mixed-faults run: 10 reads (5 single, 5 in a batch) and a transaction


@pytest.fixture(scope="module")
def module_token(session_world: World) -> Iterator[Contract]:
    """A token of which alice holds 1,000,000 and bob 2,000,000 units (different on purpose:
    a read answered with another read's result must show)."""
    with rolled_back(session_world):
        token = session_world.asset("FLT")
        session_world.fund(token, {"alice": 1_000_000, "bob": 2_000_000})
        yield token


@pytest.fixture
def token(module_token: Contract, world: World) -> Contract:
    return module_token


def through(proxy: FaultProxy, **settings: Any) -> tuple[Web3, list[str]]:
    """A bot's Web3 on the proxy, and the list of HTTP attempts it makes (by method)."""
    settings.setdefault("backoff_s", 0.001)
    w3 = connect(proxy.url, **settings)
    attempts: list[str] = []
    assert isinstance(w3.provider, RetryingHTTPProvider)
    w3.provider.on_request = attempts.append
    return w3, attempts


def reads(w3: Web3, world: World, token: Contract) -> list[Any]:
    """Single reads of five kinds, each a different type or value."""
    alice, bob = world.addr("alice"), world.addr("bob")
    bound = w3.eth.contract(address=token.address, abi=token.abi)
    return [
        int(w3.eth.block_number),
        int(w3.eth.get_balance(alice)),
        int(w3.eth.get_transaction_count(world.addr("deployer"))),
        int(bound.functions.balanceOf(alice).call()),
        int(bound.functions.balanceOf(bob).call()),
    ]


def batch_reads(w3: Web3, world: World, token: Contract) -> list[Any]:
    """The same five reads as one JSON-RPC batch (as a bot's snapshot sends them)."""
    alice, bob = world.addr("alice"), world.addr("bob")
    with w3.batch_requests() as batch:
        batch.add(w3.eth.block_number)  # type: ignore[arg-type]
        batch.add(w3.eth.get_balance(alice))
        batch.add(w3.eth.get_transaction_count(world.addr("deployer")))
        for owner in (alice, bob):
            data = token.encode_abi("balanceOf", [owner])
            batch.add(w3.eth.call({"to": token.address, "data": data}))  # type: ignore[arg-type]
        block, balance, nonce, *calls = batch.execute()
    return [int(block), int(balance), int(nonce), *(int.from_bytes(c, "big") for c in calls)]


def nonce(world: World, name: str) -> int:
    return int(world.w3.eth.get_transaction_count(world.addr(name)))


def wait_until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# ---------------------------------------------------------------- one fault kind at a time


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_at_full_rate_then_healthy_reads_and_sends_succeed(
    kind: str, world: World, token: Contract, fault_proxy: FaultProxy
) -> None:
    w3, attempts = through(fault_proxy, timeout_s=TIMEOUT_S if kind == "delay" else 10.0)
    direct = reads(world.w3, world, token)

    def session() -> int:
        """Five single reads and FAULTS batches; the HTTP attempts they took."""
        before = len(attempts)
        assert reads(w3, world, token) == direct
        for _ in range(FAULTS):
            assert batch_reads(w3, world, token) == direct
        return len(attempts) - before

    session()  # warms web3's chain id cache, and gives `wrong_id` earlier answers to replay
    healthy = session()
    fault_proxy.configure(FaultPlan.every(kind, FAULTS, delay_s=SLOW_S))
    faulty = session()  # the faults hit the first read's attempts (`shuffle`: the batches)
    alice_nonce, bob_balance = nonce(world, "alice"), world.w3.eth.get_balance(world.addr("bob"))
    receipt = Transactor(w3, world.accounts["alice"]).send_value(world.addr("bob"), 12_345)

    assert fault_proxy.injected == {kind: FAULTS}
    # Damaged answers cost one retry each; a reordered batch is legal and costs nothing.
    assert faulty == healthy + (0 if kind == "shuffle" else FAULTS)
    assert receipt["status"] == 1
    assert nonce(world, "alice") == alice_nonce + 1
    assert world.w3.eth.get_balance(world.addr("bob")) == bob_balance + 12_345


def test_wrong_ids_in_a_batch_answer_are_retried_not_matched_to_the_wrong_request(
    world: World, token: Contract, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan.every("wrong_id", 2))
    w3, attempts = through(fault_proxy)

    assert batch_reads(w3, world, token) == reads(world.w3, world, token)
    assert fault_proxy.injected == {"wrong_id": 2}
    assert len(attempts) == 3  # two damaged answers, then the right one


def test_a_shuffled_batch_answer_is_put_back_in_request_order_without_a_retry(
    world: World, token: Contract, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan.every("shuffle", 1))
    w3, attempts = through(fault_proxy)

    assert batch_reads(w3, world, token) == reads(world.w3, world, token)
    assert fault_proxy.injected == {"shuffle": 1}
    assert len(attempts) == 1


# ---------------------------------------------------------------- sends


@pytest.mark.parametrize("kind", ANSWER_LOSING)
def test_a_send_whose_answer_is_lost_is_resent_and_executes_once(
    kind: str, world: World, token: Contract, fault_proxy: FaultProxy
) -> None:
    """The node takes the transaction, the answer never arrives intact; the client resends the
    same signed bytes, the node says it knows them, and the transaction executes once."""
    fault_proxy.configure(FaultPlan.every(kind, 1, methods=frozenset({SEND}), delay_s=SLOW_S))
    w3, _ = through(fault_proxy, timeout_s=TIMEOUT_S if kind == "delay" else 10.0)
    alice_nonce = nonce(world, "alice")
    before = (token.functions.balanceOf(world.addr("bob")).call(), world.w3.eth.block_number)

    bound = w3.eth.contract(address=token.address, abi=token.abi)
    receipt = Transactor(w3, world.accounts["alice"]).transact(
        bound.functions.transfer(world.addr("bob"), 777)
    )
    # The late copy of a delayed send reaches the node after the retry: wait for it too.
    wait_until(lambda: fault_proxy.forwarded[SEND] == 2)

    assert receipt["status"] == 1
    assert fault_proxy.injected == {kind: 1}
    assert nonce(world, "alice") == alice_nonce + 1
    assert token.functions.balanceOf(world.addr("bob")).call() == before[0] + 777
    assert world.w3.eth.block_number == before[1] + 1  # one block: one transaction mined


# ---------------------------------------------------------------- mixed faults at 20%


def test_hundreds_of_reads_and_dozens_of_sends_through_20_percent_faults_are_exact(
    world: World, token: Contract, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan.mixed(0.2, seed=20250306))
    w3, _ = through(fault_proxy, retries=10, timeout_s=5.0)  # 0.2**11: no call runs out
    sender = Transactor(w3, world.accounts["alice"])
    bound = w3.eth.contract(address=token.address, abi=token.abi)
    alice, bob = world.addr("alice"), world.addr("bob")
    start_nonce = nonce(world, "alice")
    start = {
        who: (world.w3.eth.get_balance(who), token.functions.balanceOf(who).call())
        for who in (alice, bob)
    }
    sent_wei = sent_units = gas_paid = 0

    for step in range(STEPS):
        direct = reads(world.w3, world, token)
        assert reads(w3, world, token) == direct, step
        assert batch_reads(w3, world, token) == direct, step
        if step % 2 == 0:
            receipt = sender.send_value(bob, 1_000 + step)
            sent_wei += 1_000 + step
        else:
            receipt = sender.transact(bound.functions.transfer(bob, step))
            sent_units += step
        gas_paid += receipt["gasUsed"] * receipt["effectiveGasPrice"]

    counts = fault_proxy.counts()
    assert nonce(world, "alice") == start_nonce + STEPS  # one transaction per step, none twice
    assert gas_paid > 0  # the network's fee policy: no transaction is free
    assert world.w3.eth.get_balance(alice) == start[alice][0] - sent_wei - gas_paid
    assert world.w3.eth.get_balance(bob) == start[bob][0] + sent_wei
    assert token.functions.balanceOf(alice).call() == start[alice][1] - sent_units
    assert token.functions.balanceOf(bob).call() == start[bob][1] + sent_units
    injected = counts["injected"]
    assert set(injected) >= set(FAULT_KINDS) - {"shuffle"}, injected
    assert sum(injected.values()) >= 0.1 * counts["http_requests"], counts


# ---------------------------------------------------------------- giving up


def test_a_node_that_only_answers_garbage_is_one_chain_error_line_after_the_budget(
    world: World, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan(rates={"garbage": 1.0}))
    w3, attempts = through(fault_proxy, retries=2)

    with pytest.raises(ChainError) as raised:
        check_connection(w3, None)

    message = str(raised.value)
    assert isinstance(raised.value, RpcUnreachable)
    assert re.fullmatch(
        rf"bad answer from RPC at {fault_proxy.url} to eth_chainId: body of \d+ bytes is "
        r"(not JSON|not UTF-8 text)",
        message,
    ), message
    assert attempts == ["eth_chainId"] * 3 and fault_proxy.http_requests == 3


def test_a_truncating_node_makes_the_cli_print_one_line_and_exit_4(
    world: World, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan(rates={"truncate": 1.0}))
    address = world.addr("alice")
    flags = ["--market", address, "--base", address, "--quote", world.addr("bob")]
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "book", "--rpc-url", fault_proxy.url, *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert re.fullmatch(
        rf"otcmm: error: bad answer from RPC at {fault_proxy.url} to eth_chainId: "
        r"(empty body|body of \d+ bytes is truncated JSON)\n",
        done.stderr,
    ), done.stderr


def test_the_deadline_stops_retrying_when_the_next_attempt_could_not_finish_in_time(
    world: World, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan(rates={"http500": 1.0}))
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    provider = RetryingHTTPProvider(
        fault_proxy.url,
        timeout_s=1.0,
        retries=10,
        backoff_s=0.5,
        deadline_s=4.0,
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(RpcUnreachable) as raised:
        Web3(provider).eth.block_number  # noqa: B018 - the read is the point

    # t=0 fails; 0.5 + 1 fits; t=0.5 fails; 1 + 1 fits; t=1.5 fails; 2 + 1 would end at 4.5.
    assert sleeps == [0.5, 1.0]
    assert fault_proxy.http_requests == 3
    assert str(raised.value) == (
        f"cannot reach RPC at {fault_proxy.url}: HTTP 500 Internal Server Error "
        "(no retry fits in the 4s deadline)"
    )


def test_a_deadline_shorter_than_the_timeout_also_bounds_the_first_attempt(
    world: World, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan(rates={"delay": 1.0}, delay_s=30.0))
    w3, attempts = through(fault_proxy, timeout_s=30.0, deadline_s=0.3)

    with pytest.raises(RpcUnreachable) as raised:
        w3.eth.block_number  # noqa: B018 - the read is the point

    assert str(raised.value) == (
        f"cannot reach RPC at {fault_proxy.url}: no answer within 0.3s "
        "(no retry fits in the 0.3s deadline)"
    )
    assert attempts == ["eth_blockNumber"]


@pytest.mark.parametrize(
    "settings",
    [{"timeout_s": 0}, {"retries": -1}, {"backoff_s": -0.1}, {"deadline_s": 0}],
)
def test_settings_out_of_range_are_a_config_error(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="RPC timeout and deadline must be > 0"):
        connect("http://127.0.0.1:8545", **settings)  # type: ignore[arg-type]
