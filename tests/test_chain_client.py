"""The chain client: nonce manager, fees and cap, stuck-tx replacement, events, RPC transport."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from bots.chain.fees import Fees, bump_within_cap, eip1559_fees, legacy_fees
from bots.chain.restart import rebroadcast, wait_until_idle
from bots.chain.rpc import (
    RetryingHTTPProvider,
    RpcUnreachable,
    check_connection,
    connect,
    redact_url,
)
from bots.chain.transactor import GasPriceCapExceeded, Transactor, TxEvent, current_fees
from bots.chain.txpool import classify_send_error
from bots.chain.waits import wait_left, waits_until
from bots.devtools.devchain import DevChain, DevChainParams, dev_accounts
from bots.errors import ChainError, ConfigError, TxError, TxPending
from tests.chainfixtures import World

# ---------------------------------------------------------------- refusals, per client wording


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # anvil
        ("nonce too low", "nonce_too_low"),
        ("transaction already imported", "already_known"),
        ("replacement transaction underpriced", "underpriced_replacement"),
        # geth (and erigon, reth, Nethermind >= 1.20)
        ("nonce too low: address 0xAb5801a7, tx: 3 state: 5", "nonce_too_low"),
        ("already known", "already_known"),
        ("known transaction: 6f0a1c", "already_known"),
        ("INTERNAL_ERROR: existing tx with same hash", "already_known"),
        # OpenEthereum / Parity
        ("Transaction nonce is too low. Try incrementing the nonce.", "nonce_too_low"),
        ("Transaction with the same hash was already imported.", "already_known"),
        (
            "Transaction gas price is too low. There is another transaction with same nonce in "
            "the queue. Try increasing the gas price or incrementing the nonce.",
            "underpriced_replacement",
        ),
        # Nethermind before geth's wording
        ("OldNonce", "nonce_too_low"),
        ("OldNonce, Current nonce: 5, nonce of rejected tx: 3", "nonce_too_low"),
        ("AlreadyKnown", "already_known"),
        ("ReplacementNotAllowed", "underpriced_replacement"),
        # Besu
        ("NONCE_TOO_LOW", "nonce_too_low"),
        ("TRANSACTION_ALREADY_KNOWN", "already_known"),
        ("REPLACEMENT_UNDERPRICED", "underpriced_replacement"),
        # refusals a fresh nonce would not fix
        ("FeeTooLowToCompete", "other"),
        ("transaction underpriced", "other"),
        (
            "Transaction gas price is too low. It does not satisfy your node's minimal gas "
            "price (minimal: 1 got: 0). Try increasing the gas price.",
            "other",
        ),
        ("insufficient funds for gas * price + value", "other"),
        ("exceeds block gas limit", "other"),
        ("", "other"),
    ],
)
def test_send_refusals_are_classified_for_every_client(message: str, kind: str) -> None:
    assert classify_send_error(message) == kind


def test_classification_ignores_case() -> None:
    assert classify_send_error("NONCE TOO LOW") == "nonce_too_low"
    assert classify_send_error("Already Known") == "already_known"


# ---------------------------------------------------------------- fees, bumps and the cap


@pytest.mark.parametrize(
    ("before", "after"), [(0, 1), (1, 2), (8, 10), (100, 113), (10**9, 1_125_000_001)]
)
def test_a_bump_raises_each_fee_by_more_than_an_eighth(before: int, after: int) -> None:
    fees = Fees({"maxFeePerGas": before, "maxPriorityFeePerGas": before})
    assert fees.bumped().fields == {"maxFeePerGas": after, "maxPriorityFeePerGas": after}


@given(st.integers(0, 10**30), st.integers(0, 10**30))
def test_bumped_fees_beat_the_replacement_rule_and_keep_the_tip_below_the_max(
    a: int, b: int
) -> None:
    tip, max_fee = sorted((a, b))
    bumped = Fees({"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}).bumped().fields
    assert bumped["maxFeePerGas"] * 8 > max_fee * 9
    assert bumped["maxPriorityFeePerGas"] * 8 > tip * 9
    assert bumped["maxPriorityFeePerGas"] <= bumped["maxFeePerGas"]


def test_a_bump_past_the_cap_is_refused_and_one_up_to_it_allowed() -> None:
    fees = Fees({"gasPrice": 8})
    assert bump_within_cap(fees, 9) is None
    assert bump_within_cap(fees, 10) == Fees({"gasPrice": 10})
    assert bump_within_cap(fees, None) == Fees({"gasPrice": 10})


def test_the_dev_chain_fees_are_twice_its_base_fee_plus_the_nodes_tip(world: World) -> None:
    base_fee = int(world.w3.eth.get_block("latest")["baseFeePerGas"])
    assert base_fee == world.chain.params.base_fee
    tip = int(world.w3.eth.max_priority_fee)
    assert tip > 0  # anvil suggests 1 gwei, like geth
    fields = {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}
    assert current_fees(world.w3).fields == fields


@pytest.mark.parametrize(
    ("base_fee", "tip", "fields"),
    [
        (0, 0, {"maxFeePerGas": 1, "maxPriorityFeePerGas": 1}),  # never 0: Nethermind drops it
        (1, 0, {"maxFeePerGas": 2, "maxPriorityFeePerGas": 0}),  # the base fee pays the 1 wei
        (7, 3, {"maxFeePerGas": 17, "maxPriorityFeePerGas": 3}),
    ],
)
def test_eip1559_fees_never_give_an_effective_price_of_zero(
    base_fee: int, tip: int, fields: dict[str, int]
) -> None:
    assert eip1559_fees(base_fee, tip).fields == fields


def test_a_legacy_price_is_at_least_1_wei() -> None:
    assert legacy_fees(0).fields == {"gasPrice": 1}
    assert legacy_fees(5).fields == {"gasPrice": 5}


@given(st.integers(0, 10**30), st.integers(0, 10**30))
def test_a_bump_lifts_the_tip_by_an_eighth_of_the_max_fee(a: int, b: int) -> None:
    """So the effective price rises by more than an eighth at any base fee (OpenEthereum)."""
    tip, max_fee = sorted((a, b))
    bumped = Fees({"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}).bumped().fields
    step = max_fee // 8 + 1
    assert bumped == {"maxFeePerGas": max_fee + step, "maxPriorityFeePerGas": tip + step}


@pytest.fixture
def priced(world: World) -> Iterator[World]:
    """The world with a 1 gwei base fee; anvil keeps its fee state across evm_revert, so the
    network's base fee is restored by hand."""
    world.chain.rpc("anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
    world.chain.rpc("evm_mine")
    try:
        yield world
    finally:
        world.chain.rpc("anvil_setNextBlockBaseFeePerGas", [hex(world.chain.params.base_fee)])


def test_fees_above_the_cap_raise_a_distinct_error_with_both_numbers(priced: World) -> None:
    world = priced
    with pytest.raises(GasPriceCapExceeded) as raised:
        current_fees(world.w3, cap_wei=10**9)
    assert raised.value.cap_wei == 10**9
    assert raised.value.price_wei >= 2 * 10**9
    assert isinstance(raised.value, TxError)
    capped = Transactor(world.w3, world.accounts["alice"], gas_price_cap_wei=10**9)
    with pytest.raises(GasPriceCapExceeded, match="above the cap of 1000000000 wei"):
        capped.send_value(world.addr("bob"), 1)


def test_caller_fees_above_the_cap_are_refused_before_signing(world: World) -> None:
    sender = Transactor(world.w3, world.accounts["alice"], gas_price_cap_wei=4)
    nonce = mined_nonce(world, "alice")
    with pytest.raises(GasPriceCapExceeded):
        sender.send(transfer(world, "bob", fee=5), label="pricey")
    assert mined_nonce(world, "alice") == nonce


# ---------------------------------------------------------------- helpers for chain tests


def transfer(world: World, to: str, *, fee: int = 2, value: int = 1) -> dict[str, Any]:
    """A plain EIP-1559 transfer with every field fixed, so two signatures give the same bytes.

    `fee` is both the max fee and the tip (wei per gas); the default 2 covers the dev chain's
    base fee of 1 wei."""
    return {
        "to": Web3.to_checksum_address(world.addr(to)),
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": fee,
        "maxPriorityFeePerGas": fee,
    }


def sign(world: World, who: str, tx: dict[str, Any], nonce: int) -> SignedTransaction:
    account: LocalAccount = world.accounts[who]
    return account.sign_transaction({**tx, "nonce": nonce, "chainId": world.w3.eth.chain_id})


def mined_nonce(world: World, who: str) -> int:
    return int(world.w3.eth.get_transaction_count(world.accounts[who].address, "latest"))


def balance(world: World, who: str) -> int:
    return int(world.w3.eth.get_balance(world.accounts[who].address))


@dataclass
class Recorder:
    """Collects `TxEvent`s and signals once `count` events of `kind` arrived."""

    kind: str = "sent"
    count: int = 1
    events: list[TxEvent] = field(default_factory=list)
    reached: threading.Event = field(default_factory=threading.Event)

    def __call__(self, event: TxEvent) -> None:
        self.events.append(event)
        if sum(e.kind == self.kind for e in self.events) >= self.count:
            self.reached.set()

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
def manual(world: World) -> Iterator[World]:
    """The world with automine off; whatever a test leaves in the pool is mined at the end."""
    world.chain.rpc("evm_setAutomine", [False])
    try:
        yield world
    finally:
        world.chain.rpc("evm_mine")
        world.chain.rpc("evm_setAutomine", [True])


@contextmanager
def mine_when(chain: World | DevChain, signal: threading.Event) -> Iterator[None]:
    """Mine one block as soon as `signal` is set (the sender under test blocks meanwhile)."""
    node = chain.chain if isinstance(chain, World) else chain

    def mine() -> None:
        if signal.wait(10):
            node.rpc("evm_mine")

    miner = threading.Thread(target=mine, daemon=True)
    miner.start()
    try:
        yield
    finally:
        signal.set()
        miner.join(10)


# ---------------------------------------------------------------- nonce manager on anvil


def test_stale_local_nonce_is_resynced_and_the_send_succeeds(world: World) -> None:
    recorder = Recorder()
    first = Transactor(world.w3, world.accounts["alice"], on_event=recorder)
    first.send_value(world.addr("bob"), 1)
    Transactor(world.w3, world.accounts["alice"]).send_value(world.addr("bob"), 2)
    start = mined_nonce(world, "alice")

    receipt = first.send_value(world.addr("bob"), 1)

    assert receipt["status"] == 1
    assert recorder.events[-2].kind == "sent" and recorder.events[-2].nonce == start
    assert mined_nonce(world, "alice") == start + 1


def test_resending_a_mined_transaction_is_recognised_as_ours(world: World) -> None:
    tx = transfer(world, "bob")
    sender = Transactor(world.w3, world.accounts["alice"])
    nonce = sender.resync_nonce()
    signed = sign(world, "alice", tx, nonce)
    world.w3.eth.send_raw_transaction(signed.raw_transaction)  # its reply lost, as far as we know
    world.w3.eth.wait_for_transaction_receipt(signed.hash, timeout=10)  # automine can lag a bit
    bob_before = balance(world, "bob")

    receipt = sender.send(tx, label="twice")

    assert receipt["transactionHash"] == signed.hash
    assert mined_nonce(world, "alice") == nonce + 1
    assert balance(world, "bob") == bob_before


def test_a_transaction_already_in_the_pool_is_waited_for_not_resent(manual: World) -> None:
    world = manual
    tx = transfer(world, "bob")
    nonce = mined_nonce(world, "alice")
    sender = Transactor(world.w3, world.accounts["alice"])
    sender.resync_nonce()
    signed = sign(world, "alice", tx, nonce)
    world.w3.eth.send_raw_transaction(signed.raw_transaction)
    recorder = Recorder("sent")
    sender.on_event = recorder

    with mine_when(world, recorder.reached):
        receipt = sender.send(tx, label="known")

    assert receipt["transactionHash"] == signed.hash
    assert recorder.kinds == ["signed", "sent", "mined"]
    assert mined_nonce(world, "alice") == nonce + 1


def test_underpriced_replacement_moves_on_to_the_next_nonce(manual: World) -> None:
    world = manual
    recorder = Recorder("sent", count=2)
    first = Transactor(world.w3, world.accounts["alice"], on_event=recorder)
    world.chain.rpc("evm_setAutomine", [True])
    first.send_value(world.addr("bob"), 1)  # caches the next nonce
    world.chain.rpc("evm_setAutomine", [False])
    nonce = mined_nonce(world, "alice")
    # another process, paying more than a bump of the transactor's fees: its replacement fails
    rival_fee = 2 * current_fees(world.w3).max_price
    rival = sign(world, "alice", transfer(world, "carol", fee=rival_fee), nonce)
    world.w3.eth.send_raw_transaction(rival.raw_transaction)

    with mine_when(world, recorder.reached):
        receipt = first.send_value(world.addr("bob"), 1)

    assert world.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce + 1
    assert world.w3.eth.get_transaction_receipt(rival.hash)["status"] == 1
    assert mined_nonce(world, "alice") == nonce + 2


def test_a_refused_transaction_raises_one_line_and_keeps_the_nonce(world: World) -> None:
    recorder = Recorder()
    poor = Transactor(world.w3, world.accounts["alice"], on_event=recorder)
    funds = balance(world, "alice")
    nonce = mined_nonce(world, "alice")

    with pytest.raises(TxError, match="send value: node refused the transaction: .*funds") as err:
        poor.send_value(world.addr("bob"), funds + 1)

    assert "\n" not in str(err.value)
    assert recorder.kinds == ["signed", "failed"]
    poor.send_value(world.addr("bob"), 1)
    assert mined_nonce(world, "alice") == nonce + 1


def test_a_revert_emits_failed_with_gas_and_a_decoded_reason(world: World) -> None:
    token = world.asset("BND")
    recorder = Recorder()
    issuer = Transactor(world.w3, world.accounts["deployer"], on_event=recorder)

    with pytest.raises(TxError, match=r"issue: ZeroIssue\(\)"):
        issuer.transact(token.functions.issue(world.addr("alice"), 0), gas=200_000)

    assert recorder.kinds == ["signed", "sent", "failed"]
    assert recorder.events[1].raw_tx is not None
    assert (recorder.events[2].gas_used or 0) > 0


def test_a_mined_send_emits_sent_then_mined_with_the_raw_transaction(world: World) -> None:
    recorder = Recorder()
    sender = Transactor(world.w3, world.accounts["alice"], on_event=recorder)
    receipt = sender.send_value(world.addr("bob"), 1)
    signed, sent, mined = recorder.events
    assert (signed.kind, sent.kind, mined.kind) == ("signed", "sent", "mined")
    assert signed.raw_tx == sent.raw_tx  # journaled before it leaves the process
    assert sent.tx_hash == mined.tx_hash == receipt["transactionHash"].to_0x_hex()
    assert sent.raw_tx is not None and Web3.keccak(sent.raw_tx).to_0x_hex() == sent.tx_hash
    assert mined.gas_used == 21_000 and mined.raw_tx is None


# ---------------------------------------------------------------- stuck transactions


def test_a_stuck_transaction_is_replaced_with_bumped_fees(manual: World) -> None:
    world = manual
    recorder = Recorder("replaced", count=3)
    sender = Transactor(
        world.w3,
        world.accounts["alice"],
        stuck_after_s=0.2,
        max_fee_bumps=3,
        receipt_timeout_s=10,
        on_event=recorder,
    )
    nonce = mined_nonce(world, "alice")
    fees = current_fees(world.w3)

    with mine_when(world, recorder.reached):
        receipt = sender.send_value(world.addr("bob"), 1)

    assert recorder.kinds == ["signed", "sent", *["signed", "replaced"] * 3, "mined"]
    assert receipt["transactionHash"].to_0x_hex() == recorder.events[7].tx_hash
    assert receipt["transactionHash"].to_0x_hex() != recorder.events[1].tx_hash
    third = fees.bumped().bumped().bumped().fields
    base_fee = world.chain.params.base_fee
    paid = min(third["maxFeePerGas"], base_fee + third["maxPriorityFeePerGas"])
    assert receipt["effectiveGasPrice"] == paid
    assert {e.nonce for e in recorder.events} == {nonce}
    assert mined_nonce(world, "alice") == nonce + 1


def test_bumping_stops_at_the_cap_and_the_wait_times_out(manual: World) -> None:
    world = manual
    recorder = Recorder()
    sender = Transactor(
        world.w3,
        world.accounts["alice"],
        stuck_after_s=0.05,
        receipt_timeout_s=0.6,
        gas_price_cap_wei=current_fees(world.w3).bumped().max_price,
        on_event=recorder,
    )

    with pytest.raises(TxError, match="send value: not mined within 0.6s") as raised:
        sender.send_value(world.addr("bob"), 1)

    # the first bump reaches the cap exactly, the second would pass it
    assert recorder.kinds == ["signed", "sent", "signed", "replaced"]
    assert raised.value.tx_hash == recorder.events[3].tx_hash
    assert sender.pending_count() == 1


def test_a_send_holds_its_transaction_at_once_when_the_callers_wait_is_over(
    manual: World,
) -> None:
    """A bot's tick may wait for receipts only until its next tick is due (`waits_until`)."""
    world = manual
    w3 = connect(world.chain.url)
    calls: list[str] = []
    w3.provider.on_request = calls.append  # type: ignore[attr-defined]
    sender = Transactor(w3, world.accounts["alice"], receipt_timeout_s=2.0)

    with waits_until(time.monotonic()), pytest.raises(TxPending, match="not mined within 0s"):
        sender.send_value(world.addr("bob"), 1)

    assert "eth_getTransactionReceipt" not in calls  # held without waiting for a block
    assert sender.held == "send value"
    world.chain.rpc("evm_mine")
    receipt = sender.settle_held()
    assert receipt is not None and receipt["status"] == 1 and sender.held is None


def test_a_held_transaction_is_still_replaced_by_ticks_that_do_not_wait(manual: World) -> None:
    """Ticks settle a held transaction with no wait at all: each settle still replaces it
    once it is stuck (and would rebroadcast it), or it would stay stuck for good."""
    world = manual
    recorder = Recorder("replaced")
    sender = Transactor(world.w3, world.accounts["alice"], stuck_after_s=0.05, on_event=recorder)
    with waits_until(time.monotonic()), pytest.raises(TxPending):
        sender.send_value(world.addr("bob"), 1)

    deadline = time.monotonic() + 10
    while not recorder.reached.is_set() and time.monotonic() < deadline:
        with pytest.raises(TxPending, match="still pending"):
            sender.settle_held(0.0)
        time.sleep(0.02)

    assert recorder.kinds == ["signed", "sent", "signed", "replaced"]
    world.chain.rpc("evm_mine")
    receipt = sender.settle_held(0.0)
    assert receipt is not None
    assert receipt["transactionHash"].to_0x_hex() == recorder.events[3].tx_hash


def test_wait_until_idle_reports_pending_transactions_until_they_mine(manual: World) -> None:
    world = manual
    nonce = mined_nonce(world, "alice")
    world.w3.eth.send_raw_transaction(
        sign(world, "alice", transfer(world, "bob"), nonce).raw_transaction
    )
    sender = Transactor(world.w3, world.accounts["alice"])

    assert sender.pending_count() == 1
    assert wait_until_idle(sender, 0.3) is False
    world.chain.rpc("evm_mine")
    assert wait_until_idle(sender, 5) is True
    assert sender.pending_count() == 0


@pytest.fixture(scope="module")
def legacy_chain(chain_params: DevChainParams) -> Iterator[DevChain]:
    """A pre-London chain (no base fee) whose node suggests gas price 0, mining only on
    request: an old PoA network."""
    params = dataclasses.replace(chain_params, hardfork="berlin")
    with DevChain(params, mode="manual") as chain:
        yield chain


def test_a_zero_price_legacy_chain_gets_gas_price_1_and_bumps_it(legacy_chain: DevChain) -> None:
    w3 = Web3(Web3.HTTPProvider(legacy_chain.url))
    account = dev_accounts(legacy_chain.params, 2)[1]
    assert int(w3.eth.gas_price) == 0
    assert current_fees(w3).fields == {"gasPrice": 1}  # 0 would be dropped by Nethermind
    recorder = Recorder("replaced", count=2)
    sender = Transactor(w3, account, stuck_after_s=0.1, max_fee_bumps=2, on_event=recorder)

    with mine_when(legacy_chain, recorder.reached):
        receipt = sender.send_value(account.address, 1)

    assert recorder.kinds == ["signed", "sent", *["signed", "replaced"] * 2, "mined"]
    assert receipt["effectiveGasPrice"] == 3  # 1 -> 2 -> 3 wei
    assert w3.eth.get_transaction(receipt["transactionHash"])["type"] == 0


# ---------------------------------------------------------------- rebroadcast from a journal


def test_rebroadcast_returns_the_hash_of_a_pending_or_mined_transaction(manual: World) -> None:
    world = manual
    nonce = mined_nonce(world, "alice")
    signed = sign(world, "alice", transfer(world, "bob"), nonce)
    sender = Transactor(world.w3, world.accounts["alice"])

    assert rebroadcast(sender, signed.raw_transaction) == signed.hash.to_0x_hex()  # pool forgot it
    assert rebroadcast(sender, signed.raw_transaction) == signed.hash.to_0x_hex()  # in the pool
    world.chain.rpc("evm_mine")
    assert rebroadcast(sender, signed.raw_transaction) == signed.hash.to_0x_hex()  # mined
    assert mined_nonce(world, "alice") == nonce + 1


def test_rebroadcast_of_a_transaction_whose_nonce_went_elsewhere_returns_none(
    world: World,
) -> None:
    nonce = mined_nonce(world, "alice")
    journaled = sign(world, "alice", transfer(world, "bob"), nonce)
    sender = Transactor(world.w3, world.accounts["alice"])
    sender.send_value(world.addr("carol"), 1)  # takes the nonce first

    assert rebroadcast(sender, journaled.raw_transaction) is None
    sender.send_value(world.addr("carol"), 1)
    assert mined_nonce(world, "alice") == nonce + 2


def test_rebroadcast_refuses_another_accounts_transaction(world: World) -> None:
    foreign = sign(world, "bob", transfer(world, "carol"), mined_nonce(world, "bob"))
    sender = Transactor(world.w3, world.accounts["alice"])
    with pytest.raises(TxError, match="not " + world.addr("alice")):
        rebroadcast(sender, foreign.raw_transaction)


def test_after_rebroadcast_the_next_send_takes_the_following_nonce(manual: World) -> None:
    world = manual
    nonce = mined_nonce(world, "alice")
    sender = Transactor(world.w3, world.accounts["alice"])
    sender.resync_nonce()
    rebroadcast(sender, sign(world, "alice", transfer(world, "bob"), nonce).raw_transaction)
    recorder = Recorder()
    sender.on_event = recorder

    with mine_when(world, recorder.reached):
        sender.send_value(world.addr("bob"), 1)

    assert recorder.events[0].nonce == nonce + 1


# ---------------------------------------------------------------- RPC transport


def test_redact_url_masks_userinfo_and_query_but_keeps_host_port_and_path() -> None:
    url = "https://user:s3cret@node.example.com:8545/rpc?apikey=abc#frag"
    assert redact_url(url) == "https://***@node.example.com:8545/rpc?***#***"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("http://[::1]:8545/") == "http://[::1]:8545/"
    assert redact_url("not a url") == "***"
    assert redact_url("http://host:99999999") == "***"


@dataclass
class FlakyNode:
    """A local JSON-RPC endpoint that fails on purpose, then forwards to anvil (or answers
    eth_chainId itself when there is no upstream)."""

    failures: list[int] = field(default_factory=list)  # HTTP statuses for the next requests
    delays: list[float] = field(default_factory=list)  # seconds to stall the next requests
    lose_reply_of: str | None = None  # forward this method once, then answer 502
    upstream: str | None = None
    chain_id: int = 8995
    methods: list[str] = field(default_factory=list)

    def answer(self, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        self.methods.append(request["method"])
        if self.delays:
            time.sleep(self.delays.pop(0))
        if self.failures:
            return self.failures.pop(0), b"busy"
        reply = self._forward(body, request)
        if request["method"] == self.lose_reply_of:
            self.lose_reply_of = None
            return 502, b"bad gateway"
        return 200, reply

    def _forward(self, body: bytes, request: dict[str, Any]) -> bytes:
        if self.upstream is None:
            result = {"jsonrpc": "2.0", "id": request["id"], "result": hex(self.chain_id)}
            return json.dumps(result).encode()
        headers = {"Content-Type": "application/json"}
        upstream = urllib.request.Request(self.upstream, data=body, headers=headers)  # noqa: S310
        with urllib.request.urlopen(upstream, timeout=10) as response:  # noqa: S310
            return bytes(response.read())


@contextmanager
def serve(node: FlakyNode) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, reply = node.answer(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_5xx_and_429_are_retried_with_exponential_backoff() -> None:
    node = FlakyNode(failures=[503, 429, 502])
    sleeps: list[float] = []
    with serve(node) as url:
        provider = RetryingHTTPProvider(url, retries=3, backoff_s=0.1, sleep=sleeps.append)
        assert check_connection(Web3(provider), 8995) == 8995
    assert node.methods == ["eth_chainId"] * 4
    assert sleeps == [0.1, 0.2, 0.4]


def test_a_timeout_is_retried() -> None:
    node = FlakyNode(delays=[1.0])
    with serve(node) as url:
        assert check_connection(connect(url, timeout_s=0.2, backoff_s=0.01), None) == 8995
    assert len(node.methods) == 2


def test_a_client_error_is_not_retried() -> None:
    node = FlakyNode(failures=[401])
    with (
        serve(node) as url,
        pytest.raises(ChainError, match=f"^cannot reach RPC at {url}: HTTP 401"),
    ):
        check_connection(connect(url, backoff_s=0.01), None)
    assert len(node.methods) == 1


def test_retries_give_up_with_one_line_naming_the_last_failure() -> None:
    node = FlakyNode(failures=[503] * 3)
    with serve(node) as url, pytest.raises(ChainError, match="HTTP 503 Service Unavailable$"):
        check_connection(connect(url, retries=2, backoff_s=0.01), None)
    assert len(node.methods) == 3


def test_an_unreachable_node_is_one_line_without_credentials() -> None:
    port = free_port()
    url = f"http://operator:hunter2@127.0.0.1:{port}/rpc?key=topsecret"
    with pytest.raises(ChainError) as raised:
        check_connection(connect(url, retries=1, backoff_s=0.01), None)
    message = str(raised.value)
    assert isinstance(raised.value, RpcUnreachable)
    assert message == f"cannot reach RPC at http://***@127.0.0.1:{port}/rpc?***: connection refused"
    assert "hunter2" not in message and "topsecret" not in message


def test_is_connected_is_false_for_an_unreachable_node() -> None:
    assert connect(f"http://127.0.0.1:{free_port()}", retries=0).is_connected() is False


def test_check_connection_refuses_another_chain() -> None:
    with (
        serve(FlakyNode(chain_id=1)) as url,
        pytest.raises(ChainError, match="chain id 1, expected 8995"),
    ):
        check_connection(connect(url), 8995)


def test_check_connection_reports_a_plain_provider_that_cannot_connect() -> None:
    w3 = Web3(
        Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", exception_retry_configuration=None)
    )
    with pytest.raises(ChainError, match="connection refused$"):
        check_connection(w3, None)


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        connect("ws://127.0.0.1:8546")


def test_a_raw_send_whose_reply_was_lost_is_retried_and_mined_once(world: World) -> None:
    node = FlakyNode(upstream=world.chain.url, lose_reply_of="eth_sendRawTransaction")
    nonce = mined_nonce(world, "alice")
    bob_before = balance(world, "bob")
    with serve(node) as url:
        sender = Transactor(connect(url, backoff_s=0.01), world.accounts["alice"])
        receipt = sender.send_value(world.addr("bob"), 7)
    assert receipt["status"] == 1
    assert node.methods.count("eth_sendRawTransaction") == 2
    assert mined_nonce(world, "alice") == nonce + 1
    assert balance(world, "bob") == bob_before + 7


def test_connect_checks_the_dev_chain(world: World) -> None:
    assert (
        check_connection(connect(world.chain.url), world.w3.eth.chain_id) == world.w3.eth.chain_id
    )


def test_fees_are_looked_up_once_per_ttl_and_still_checked_against_the_cap(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bots.chain.transactor

    lookups: list[int] = []
    real = bots.chain.transactor.current_fees

    def counting(w3: Web3, cap_wei: int | None = None) -> Fees:
        lookups.append(1)
        return real(w3, cap_wei)

    monkeypatch.setattr(bots.chain.transactor, "current_fees", counting)
    sender = Transactor(world.w3, world.accounts["alice"], fee_ttl_s=60.0)
    sender.send_value(world.addr("bob"), 1)
    sender.send_value(world.addr("bob"), 2)
    assert len(lookups) == 1
    every_time = Transactor(world.w3, world.accounts["alice"])
    every_time.send_value(world.addr("bob"), 3)
    every_time.send_value(world.addr("bob"), 4)
    assert len(lookups) == 3
    sender.gas_price_cap_wei = -1  # a cached fee must not slip past a lowered cap
    with pytest.raises(GasPriceCapExceeded):
        sender.send_value(world.addr("bob"), 5)


def test_nonce_too_low_waits_for_a_transaction_between_pool_and_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node can refuse a resend as "nonce too low" while, for a moment, reporting the same
    transaction neither pending nor mined; it must still count as ours, not a rival's."""
    from types import SimpleNamespace

    from web3.exceptions import TransactionNotFound

    from bots.chain import txpool

    answers = [TransactionNotFound("moving"), TransactionNotFound("moving"), {"hash": "0x1"}]

    def get_transaction(_hash: str) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def make_request(_method: str, _params: object) -> dict[str, object]:
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "nonce too low"}}

    monkeypatch.setattr(txpool, "KNOWN_CHECK_PAUSE_S", 0.0)
    fake = SimpleNamespace(
        eth=SimpleNamespace(get_transaction=get_transaction),
        provider=SimpleNamespace(make_request=make_request),
    )
    assert txpool.send_raw(fake, b"\x01", "0x1") == ("already_known", "nonce too low")  # type: ignore[arg-type]
    assert answers == []

    answers.extend([TransactionNotFound("gone")] * txpool.KNOWN_CHECKS)
    assert txpool.send_raw(fake, b"\x01", "0x1")[0] == "nonce_too_low"  # type: ignore[arg-type]


def test_a_transaction_not_mined_within_the_tick_budget_is_held(manual: World) -> None:
    w3 = connect(manual.chain.url)
    sender = Transactor(w3, manual.accounts["alice"])
    provider = w3.provider
    assert isinstance(provider, RetryingHTTPProvider)
    before = manual.w3.eth.get_transaction_count(manual.addr("alice"))

    with provider.budget(1.0), pytest.raises(TxPending, match="not mined within"):
        sender.send_value(manual.addr("bob"), 1)
    with pytest.raises(TxPending, match="still pending"):
        sender.send_value(manual.addr("bob"), 2)  # nothing new while one is held

    manual.chain.rpc("evm_mine")
    receipt = sender.settle_held(wait_s=5)
    assert receipt is not None and receipt["status"] == 1
    assert manual.w3.eth.get_transaction_count(manual.addr("alice")) == before + 1
    assert sender.held is None


def test_wait_bounds_nest_to_the_earlier_one_and_end_with_their_block() -> None:
    assert wait_left() is None
    now = time.monotonic()
    with waits_until(now + 100):
        with waits_until(now + 1000):
            inner = wait_left()
            assert inner is not None and inner <= 100
        with waits_until(now - 5):
            assert wait_left() == 0.0
        outer = wait_left()
        assert outer is not None and 50 < outer <= 100
    assert wait_left() is None
