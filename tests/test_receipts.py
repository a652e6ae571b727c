"""Receipts and logs read raw (issue 14's hot path) mean exactly what web3's formatted ones do.

`bots.chain.receipts` formats a raw `eth_getTransactionReceipt` answer itself, `made_offer_ids`
reads offer ids from `LogMake` topics and `MarketReader.events` decodes raw `eth_getLogs` with
eth_abi: each is compared with web3's own machinery on real transactions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from web3 import Web3
from web3.datastructures import AttributeDict
from web3.logs import DISCARD
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from bots.chain.rawrpc import raw_request
from bots.chain.receipts import fetch_receipts, format_receipt, receipt_from_answer
from bots.chain.rpc import connect
from bots.chain.transactor import Transactor
from bots.errors import ChainError
from bots.market.approvals import Approvals
from bots.market.client import MarketClient, made_offer_ids
from bots.market.events import RawLogDecoder, trade_event
from tests.chainfixtures import World, rolled_back

pytestmark = pytest.mark.chain

FUNDS = 10**24


def plain(value: Any) -> Any:
    """web3's AttributeDicts as plain dicts, recursively."""
    if isinstance(value, AttributeDict | Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def traded(session_world: World) -> Iterator[dict[str, Any]]:
    """A market where alice made two offers in one requote, bob took one and alice cancelled."""
    world = session_world
    with rolled_back(world):
        market = world.deploy("OtcMarket")
        bnd, usd = world.asset("BND", decimals=6), world.asset("USD", decimals=2)
        for token in (bnd, usd):
            world.fund(token, {"alice": FUNDS, "bob": FUNDS}, market)
        w3 = connect(world.chain.url)
        alice = MarketClient(w3, market.address, Transactor(w3, world.accounts["alice"]))
        bob = MarketClient(w3, market.address, Transactor(w3, world.accounts["bob"]))
        for trader in (alice, bob):
            for token in (bnd, usd):
                Approvals(trader).ensure(token.address, FUNDS)
        start = int(w3.eth.block_number) + 1
        ids = alice.requote([], [(10**6, bnd.address, 100, usd.address)] * 2)
        bob.take(ids[0], 10**5, bnd.address, usd.address, 10)  # 10**5 of 10**6 for 100
        alice.cancel(ids[1])
        yield {"w3": w3, "market": market, "alice": alice, "ids": ids, "start": start}


def test_a_raw_receipt_formats_as_web3_formats_it(traded: dict[str, Any]) -> None:
    w3 = traded["w3"]
    block = w3.eth.get_block("latest")
    for number in range(traded["start"], int(block["number"]) + 1):
        for tx_hash in w3.eth.get_block(number)["transactions"]:
            ours = fetch_receipts(w3, [tx_hash.to_0x_hex()])[0]
            assert ours is not None
            assert plain(ours) == plain(w3.eth.get_transaction_receipt(tx_hash))


def test_receipts_of_several_hashes_come_in_the_order_asked_none_for_unknown(
    traded: dict[str, Any],
) -> None:
    w3 = traded["w3"]
    mined = w3.eth.get_block(traded["start"])["transactions"][0].to_0x_hex()
    unknown = "0x" + "ab" * 32
    first, second, third = fetch_receipts(w3, [unknown, mined, unknown])
    assert first is None and third is None
    assert second is not None and second["transactionHash"].to_0x_hex() == mined


def test_a_receipt_field_that_is_not_a_quantity_is_refused_in_one_line() -> None:
    raw = {"status": "1", "gasUsed": "0x5208", "logs": []}
    with pytest.raises(ChainError, match="receipt that does not parse"):
        format_receipt(raw)
    with pytest.raises(ChainError, match="receipt that does not parse"):
        format_receipt({"status": "0x1", "logs": ["not a log"]})


def test_offer_ids_from_topics_match_web3s_event_decoding(traded: dict[str, Any]) -> None:
    w3, market = traded["w3"], traded["market"]
    receipt = w3.eth.get_transaction_receipt(w3.eth.get_block(traded["start"])["transactions"][0])
    events = market.events.LogMake().process_receipt(receipt, errors=DISCARD)
    expected = [int.from_bytes(e["args"]["id"], "big") for e in events]
    assert made_offer_ids(market, receipt) == expected == traded["ids"]
    raw = fetch_receipts(w3, [receipt["transactionHash"].to_0x_hex()])[0]
    assert raw is not None and made_offer_ids(market, raw) == expected


def test_events_from_raw_logs_match_web3s_event_filters(traded: dict[str, Any]) -> None:
    market, alice = traded["market"], traded["alice"]
    expected = sorted(
        (
            trade_event(kind, log)
            for kind, name in (("make", "LogMake"), ("take", "LogTake"), ("kill", "LogKill"))
            for log in market.events[name]().get_logs(from_block=traded["start"])
        ),
        key=lambda e: (e.block_number, e.log_index),
    )
    assert [e.kind for e in expected] == ["make", "make", "take", "kill"]
    assert alice.events(traded["start"]) == expected


def test_the_decoder_decodes_a_log_once_and_the_same_from_hex_or_bytes(
    traded: dict[str, Any],
) -> None:
    w3, market = traded["w3"], traded["market"]
    query = {"address": market.address, "fromBlock": hex(traded["start"]), "toBlock": "latest"}
    logs = raw_request(w3, "eth_getLogs", [query])
    decoder = RawLogDecoder([dict(item) for item in market.abi])
    first = decoder.decode(logs)
    calls = 0
    original = decoder._decode_one

    def counted(log: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        return original(log)

    decoder._decode_one = counted  # type: ignore[method-assign]
    assert decoder.decode(logs) == first  # remembered: nothing decoded again
    assert calls == 0
    hashes = {log["transactionHash"] for log in logs}
    formatted = [
        log
        for receipt in fetch_receipts(w3, sorted(hashes))
        if receipt is not None
        for log in receipt["logs"]
    ]
    assert RawLogDecoder([dict(item) for item in market.abi]).decode(formatted) == first


class AnsweringProvider(BaseProvider):
    """Answers every request with one fixed JSON-RPC error."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": self.message}}


def test_a_receipt_not_indexed_yet_is_not_mined_yet_any_other_error_is_an_error() -> None:
    indexing = Web3(AnsweringProvider("transaction indexing is in progress"))
    assert fetch_receipts(indexing, ["0x" + "ab" * 32]) == [None]
    refused = Web3(AnsweringProvider("method not allowed"))
    with pytest.raises(ChainError, match="eth_getTransactionReceipt: method not allowed"):
        fetch_receipts(refused, ["0x" + "ab" * 32])


TX = "0x" + "11" * 32
GOOD = {
    "transactionHash": TX,
    "blockHash": "0x" + "22" * 32,
    "blockNumber": "0x5",
    "status": "0x1",
    "gasUsed": "0x5208",
    "logs": [],
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "0x2"}, "status 2"),
        ({"status": None}, "without status"),
        ({"blockNumber": None}, "without blockNumber"),
        ({"transactionHash": "0x" + "33" * 32}, "the receipt of 0x3333"),
    ],
    ids=["status-2", "no-status", "no-block", "another-transaction"],
)
def test_a_receipt_a_bot_cannot_trust_is_refused_not_believed(
    change: dict[str, Any], why: str
) -> None:
    """The red team's lying node: a receipt of another transaction made a bot believe its
    requote mined (and requote again: double the offers); no status or status 2 was read as a
    revert or a KeyError. Each is now a `ChainError`: the transaction stays held and chased."""
    assert format_receipt(GOOD, TX)["status"] == 1
    raw = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ChainError, match=re.escape(why)):
        receipt_from_answer({"jsonrpc": "2.0", "id": 1, "result": raw}, TX)
