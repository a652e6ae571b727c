"""What counts as a well-formed JSON-RPC answer (`bots.chain.rpcanswer`), without a node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.chain.rpcanswer import BadAnswer, parse_batch, parse_single, request_ids

GOOD = {"jsonrpc": "2.0", "id": 7, "result": "0x2323"}
ERROR = {"jsonrpc": "2.0", "id": 7, "error": {"code": 3, "message": "execution reverted"}}


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_a_result_and_an_error_reply_are_both_answers() -> None:
    assert parse_single(raw(GOOD), 7) == GOOD
    assert parse_single(raw(ERROR), 7) == ERROR  # web3 raises it; it is not retried


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"<html>502 Bad Gateway</html>", "body of 28 bytes is not JSON"),
        (bytes([0xFF, 0xFE, 0x00]), "body of 3 bytes is not UTF-8 text"),
        (raw([GOOD]), "a list of 1 answer(s) to a single request"),
        (raw("0x2323"), "answer is a JSON str, not an object"),
        (raw({"id": 7, "result": "0x1"}), 'answer without "jsonrpc": "2.0"'),
        (raw({"jsonrpc": "1.0", "id": 7, "result": "0x1"}), 'answer without "jsonrpc": "2.0"'),
        (raw({"jsonrpc": "2.0", "id": 7}), "empty answer"),
        ({**GOOD, "error": ERROR["error"]}, "answer with both result and error"),
        (raw({"jsonrpc": "2.0", "id": 7, "error": "boom"}), "answer whose error is not an object"),
        (raw({"jsonrpc": "2.0", "result": "0x1"}), "answer without an id"),
        (raw({**GOOD, "id": 8}), "answer id 8 for request id 7"),
        (raw({**GOOD, "id": "7"}), "answer id '7' for request id 7"),
        (raw({**GOOD, "id": True}), "answer id True is not an int or a string"),
        (raw({**GOOD, "id": None}), "answer id None is not an int or a string"),
        (
            raw(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
            ),
            "error without a request id: -32700 Parse error",
        ),
    ],
)
def test_malformed_single_answers_are_bad_with_a_one_line_reason(
    body: bytes | dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadAnswer) as raised:
        parse_single(body if isinstance(body, bytes) else raw(body), 7)
    assert str(raised.value) == reason


def test_every_truncation_of_an_answer_is_called_truncated() -> None:
    result = {"hash": "0xab", "ok": True, "no": False, "n": -12.5e3, "logs": [1, 2.5, None]}
    body = raw({"jsonrpc": "2.0", "id": 12, "result": result})
    for cut in range(1, len(body)):
        with pytest.raises(BadAnswer, match=rf"^body of {cut} bytes is truncated JSON$"):
            parse_single(body[:cut], 12)


def test_a_batch_answer_in_any_order_comes_back_in_request_order() -> None:
    answers = [{"jsonrpc": "2.0", "id": i, "result": hex(i)} for i in (3, 1, 2)]
    assert [a["id"] for a in parse_batch(raw(answers), [1, 2, 3])] == [1, 2, 3]


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        ([1, 2], "batch answer lacks 1 of 3 ids (3)"),
        ([1, 2, 3, 3], "batch answer with id 3 twice"),
        ([1, 2, 1003], "batch answer with id 1003, not one of the request ids"),
        ([1, 2, "3"], "batch answer with id '3', not one of the request ids"),
    ],
)
def test_a_batch_answer_needs_exactly_one_answer_per_request_id(
    ids: list[Any], reason: str
) -> None:
    answers = [{"jsonrpc": "2.0", "id": i, "result": "0x0"} for i in ids]
    with pytest.raises(BadAnswer) as raised:
        parse_batch(raw(answers), [1, 2, 3])
    assert str(raised.value) == reason


def test_a_batch_refused_as_a_whole_names_the_nodes_reason() -> None:
    refusal = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "too large"}}
    with pytest.raises(BadAnswer, match="^error without a request id: -32600 too large$"):
        parse_batch(raw(refusal), [1, 2])
    with pytest.raises(BadAnswer, match="^one answer to a batch of 2 requests$"):
        parse_batch(raw(GOOD), [7, 8])


def test_request_ids_reads_singles_and_batches_as_web3_encodes_them() -> None:
    assert request_ids(raw({"jsonrpc": "2.0", "id": 4, "method": "eth_chainId"})) == [4]
    batch = (
        b'[{"jsonrpc": "2.0", "id": 5, "method": "a"}, {"jsonrpc": "2.0", "id": 6, "method": "b"}]'
    )
    assert request_ids(batch) == [5, 6]
    with pytest.raises(ValueError, match="int or str id"):
        request_ids(raw({"jsonrpc": "2.0", "method": "eth_chainId"}))
